// Where the session runner sends the core's credential checks: to the auth
// process over the monitor (AuthClient, the separated processes of a root
// start) or to an Authenticator in the same process (InProcessCredentials,
// an unprivileged start: see docs/design.md for why that is no weaker).
#pragma once
#include <initializer_list>
#include <optional>

#include "pop3/core/effect.hpp"
#include "pop3/core/privsep_wire.hpp"

namespace pop3::shell {

// The ids the passwd-file gives the verified user (either may be absent).
struct MailIds {
    std::optional<std::uint32_t> uid;
    std::optional<std::uint32_t> gid;
};

class Credentials {
public:
    virtual ~Credentials() = default;
    // VerifyPassword, VerifyApop or VerifyCram: the verdict.
    [[nodiscard]] virtual pop3::core::AuthResult
    verify(const pop3::core::privsep::Request& request) = 0;
    [[nodiscard]] virtual pop3::core::ScramCredentials
    scram_lookup(const pop3::core::FetchScramCredentials& request) = 0;
    [[nodiscard]] virtual pop3::core::ScramVerdict
    scram_verify(const pop3::core::VerifyScram& request) = 0;
    // One step of a SASL exchange the backend runs itself (RelaySasl): its
    // next challenge, or the outcome. Backends that run none refuse.
    using RelayAnswer = std::variant<pop3::core::SaslRelayChallenge, pop3::core::AuthResult>;
    [[nodiscard]] virtual RelayAnswer relay(const pop3::core::RelaySasl&) {
        return pop3::core::AuthResult{pop3::core::AuthResult::Outcome::unavailable, ""};
    }
    // True once the checks cannot be trusted any more (a lost channel).
    [[nodiscard]] virtual bool broken() const { return false; }
    // After a verified login: the ids to serve the mailbox as in this
    // process, or nullopt when the session is handed over instead.
    [[nodiscard]] virtual std::optional<MailIds> serve_here() const = 0;
    // The hand-over (only when serve_here() is nullopt); true once taken.
    virtual bool hand_off(const pop3::core::privsep::Handoff& handoff,
                          std::initializer_list<int> fds) = 0;
};

} // namespace pop3::shell
