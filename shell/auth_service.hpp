// The auth process (docs/design.md, "Processes"): the only one that reads
// the passwd-file. It answers credential requests, relayed by the monitor
// from the login process, and never sees the client's connection.
#pragma once
#include <optional>

#include "authenticator.hpp"
#include "credentials.hpp"
#include "dovecot_auth.hpp"
#include "log.hpp"
#include "options.hpp"
#include "privsep_channel.hpp"
#include "sandbox.hpp"

namespace pop3::shell {

// What the passwd-file's secrets can serve, read in one pass over its
// schemes (this runs before every greeting): APOP and CRAM-MD5 need a
// plaintext secret, SCRAM a plaintext or a stored SCRAM secret; `hashed`:
// some secret needs pop3d-crypto.so to be checked.
struct SecretKinds {
    bool plaintext = false;
    bool cram_md5 = false;
    bool scram_sha1 = false;
    bool scram_sha256 = false;
    bool hashed = false;
};
[[nodiscard]] SecretKinds secret_kinds(const PasswdFile* passwd); // null: unreadable

// What the greeting and CAPA may offer: the APOP timestamp (or none) and
// the SASL mechanisms, from the options and the passwd-file's schemes.
[[nodiscard]] pop3::core::privsep::Offer make_offer(const Options& options,
                                                    const SecretKinds& kinds);
[[nodiscard]] pop3::core::privsep::Offer make_offer(const Options& options,
                                                    const AuthResources& resources);

// Whether a session with this offer and these secrets can need
// pop3d-crypto.so: a hashed secret, APOP, CRAM-MD5 or SCRAM. The auth
// process loads it before its jail when so; --check tries to load it.
[[nodiscard]] bool needs_crypto(const pop3::core::privsep::Offer& offer,
                                const SecretKinds& kinds);

// Answers the privsep requests with an Authenticator. SCRAM's keys stay
// here: lookups answer the salt and iteration count only, and the proof is
// checked against the keys kept from the lookup.
class AuthService {
public:
    explicit AuthService(Authenticator& auth) : auth_(auth) {}
    [[nodiscard]] pop3::core::privsep::Answer answer(const pop3::core::privsep::Request& request);

private:
    pop3::core::privsep::Answer verdict(pop3::core::AuthResult result);
    pop3::core::privsep::Answer lookup(const pop3::core::FetchScramCredentials& r);
    pop3::core::privsep::Answer prove(const pop3::core::privsep::ScramProof& r);

    Authenticator& auth_;
    std::optional<pop3::core::ScramCredentials> scram_;
    pop3::core::Mechanism scram_mechanism_ = pop3::core::Mechanism::plain;
};

// The same checks in this process (an unprivileged start): the mailbox of
// a verified login is then served here too.
class InProcessCredentials final : public Credentials {
public:
    explicit InProcessCredentials(Authenticator& auth) : auth_(auth), service_(auth) {}
    [[nodiscard]] pop3::core::AuthResult
    verify(const pop3::core::privsep::Request& request) override;
    [[nodiscard]] pop3::core::ScramCredentials
    scram_lookup(const pop3::core::FetchScramCredentials& request) override;
    [[nodiscard]] pop3::core::ScramVerdict
    scram_verify(const pop3::core::VerifyScram& request) override;
    [[nodiscard]] std::optional<MailIds> serve_here() const override;
    bool hand_off(const pop3::core::privsep::Handoff&, std::initializer_list<int>) override {
        return false;
    }

private:
    Authenticator& auth_;
    AuthService service_;
};

// Runs in the forked auth process and never returns: reads the passwd-file
// as root, enters the sandbox as `account`, sends the Offer, then answers
// until the monitor closes the channel (or dies: then it is killed).
// `client` is the peer's address, for the failed-login lines; `endpoints`
// the connection's addresses and ports, for Dovecot's auth service. With
// --auth dovecot: it connects to the service instead of reading the
// passwd-file (before the jail: the socket's path is not in it).
[[noreturn]] void run_auth_process(const Options& options, const Log& log,
                                   PrivsepChannel channel,
                                   const LoginAccount& account,
                                   pid_t monitor, const std::string& client,
                                   const ClientEndpoints& endpoints);

} // namespace pop3::shell
