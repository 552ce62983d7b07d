// The auth process's loop, and the same answers in-process. SCRAM's
// StoredKey and ServerKey stay here: the login process gets only the salt
// and iteration count, and sends the proof back to be checked, so no
// process that handles client bytes holds a key.
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#include "auth_service.hpp"
#include "authenticator.hpp"
#include "crypto_primitives.hpp"
#include "passwd_file.hpp"
#include "random_source.hpp"
#include "password_scheme.hpp"
#include "pop3/core/ascii.hpp"

namespace pop3::shell {
namespace {

namespace core = pop3::core;
namespace privsep = pop3::core::privsep;

// RFC 1939 section 7 APOP: "<process-ID.clock@hostname>", two parts as in
// the RFC's example (Perl's Mail::Box accepts no other shape). The clock
// (nanoseconds) can step back (NTP, a restored VM) and a pid is reused, so
// ten random digits follow it in the second part: a repeat needs the same
// pid, clock reading and 1-in-10^10 draw.
std::string apop_banner() {
    char host[256] = "localhost";
    ::gethostname(host, sizeof host - 1);
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    auto nanoseconds = static_cast<unsigned long long>(now.tv_sec) * 1000000000ULL +
                       static_cast<unsigned long long>(now.tv_nsec);
    unsigned char bytes[8] = {};
    fill_random(bytes, sizeof bytes);
    std::uint64_t draw = 0;
    for (auto b : bytes) draw = draw << 8 | b;
    std::string random = std::to_string(draw % 10000000000ULL);
    random.insert(0, 10 - random.size(), '0');
    return "<" + std::to_string(::getpid()) + "." + std::to_string(nanoseconds) + random +
           "@" + host + ">";
}

} // namespace

// Clients such as curl use the strongest method offered and never fall
// back, so offering one that no account can use would lock them out.
SecretKinds secret_kinds(const PasswdFile* passwd) {
    SecretKinds kinds;
    if (passwd == nullptr) return kinds; // unreadable: offer nothing extra
    passwd->for_each_scheme([&](std::string_view scheme) {
        auto name = core::ascii_lower(scheme.substr(0, scheme.find('.')));
        kinds.plaintext = kinds.plaintext || name == "plain" || name == "clear" ||
                          name == "cleartext";
        kinds.cram_md5 = kinds.cram_md5 || name == "cram-md5";
        kinds.scram_sha1 = kinds.scram_sha1 || name == "scram-sha-1";
        kinds.scram_sha256 = kinds.scram_sha256 || name == "scram-sha-256";
        kinds.hashed = kinds.hashed || !verifiable_without_crypto(scheme);
    });
    return kinds;
}

namespace {

bool offer_apop(const Options& options, const SecretKinds& kinds) {
    switch (options.apop) {
    case Options::Apop::on: return true;
    case Options::Apop::off: return false;
    case Options::Apop::automatic: break;
    }
    return kinds.plaintext;
}

std::vector<core::Mechanism> offered_sasl(const Options& options, const SecretKinds& kinds) {
    using core::Mechanism;
    std::vector<Mechanism> out;
    if (!options.sasl.empty()) {
        for (const auto& name : options.sasl)
            if (auto m = core::mechanism_from_name(name)) out.push_back(*m);
        return out;
    }
    out = {Mechanism::plain, Mechanism::login};
    if (kinds.plaintext || kinds.cram_md5) out.push_back(Mechanism::cram_md5);
    if (kinds.plaintext || kinds.scram_sha1) out.push_back(Mechanism::scram_sha1);
    if (kinds.plaintext || kinds.scram_sha256) out.push_back(Mechanism::scram_sha256);
    return out;
}

} // namespace

privsep::Offer make_offer(const Options& options, const SecretKinds& kinds) {
    return {offer_apop(options, kinds) ? apop_banner() : std::string(),
            offered_sasl(options, kinds)};
}

privsep::Offer make_offer(const Options& options, const AuthResources& resources) {
    return make_offer(options, secret_kinds(resources.passwd ? &*resources.passwd : nullptr));
}

privsep::Answer AuthService::answer(const privsep::Request& request) {
    return std::visit(
        [this](const auto& r) -> privsep::Answer {
            using T = std::decay_t<decltype(r)>;
            if constexpr (std::is_same_v<T, core::VerifyPassword>)
                return verdict(auth_.check_password(r.user, r.secret, r.method));
            else if constexpr (std::is_same_v<T, core::VerifyApop>)
                return verdict(auth_.check_apop(r.user, r.digest));
            else if constexpr (std::is_same_v<T, core::VerifyCram>)
                return verdict(auth_.check_cram(r.user, r.challenge, r.digest_hex));
            else if constexpr (std::is_same_v<T, core::FetchScramCredentials>)
                return lookup(r);
            else if constexpr (std::is_same_v<T, privsep::ScramProof>)
                return prove(r);
            else if constexpr (std::is_same_v<T, privsep::Origin>) {
                auth_.set_client(r.address); // the real client, for fail2ban
                return privsep::Access{1};
            } else // a Handoff is for the monitor: never answered here
                return privsep::Verdict{{core::AuthResult::Outcome::unavailable, ""}, {}, {}};
        },
        request);
}

privsep::Answer AuthService::verdict(core::AuthResult result) {
    privsep::Verdict v{std::move(result), {}, {}};
    if (v.result.outcome == core::AuthResult::Outcome::accepted) {
        if (const auto& entry = auth_.verified_entry()) {
            v.uid = entry->uid;
            v.gid = entry->gid;
        }
    }
    return v;
}

// The login process learns the salt and the iteration count, as any client
// does from server-first; known is always true there, so not even that
// process can tell an unknown user from a wrong password.
privsep::Answer AuthService::lookup(const core::FetchScramCredentials& r) {
    scram_ = auth_.scram_lookup(r.mechanism, r.user);
    scram_mechanism_ = r.mechanism;
    core::ScramCredentials shown = *scram_;
    shown.stored_key.clear();
    shown.server_key.clear();
    shown.known = true;
    return shown;
}

privsep::Answer AuthService::prove(const privsep::ScramProof& r) {
    privsep::ScramOutcome out{{false, {}}, {{core::AuthResult::Outcome::rejected, ""}, {}, {}}};
    if (!scram_ || scram_mechanism_ != r.mechanism) return out;
    out.verdict = auth_.scram_verify(r.mechanism, *scram_, r.auth_message, r.proof);
    if (out.verdict.proof_ok) {
        auto login = verdict({core::AuthResult::Outcome::accepted, scram_->user});
        out.login = std::get<privsep::Verdict>(login);
    }
    scram_.reset();
    return out;
}

core::AuthResult InProcessCredentials::verify(const privsep::Request& request) {
    return std::get<privsep::Verdict>(service_.answer(request)).result;
}

core::ScramCredentials InProcessCredentials::scram_lookup(const core::FetchScramCredentials& r) {
    return std::get<core::ScramCredentials>(service_.answer(r));
}

core::ScramVerdict InProcessCredentials::scram_verify(const core::VerifyScram& r) {
    auto answer = service_.answer(privsep::ScramProof{r.mechanism, r.auth_message, r.proof});
    return std::get<privsep::ScramOutcome>(answer).verdict;
}

std::optional<MailIds> InProcessCredentials::serve_here() const {
    const auto& entry = auth_.verified_entry();
    if (!entry) return MailIds{};
    return MailIds{entry->uid, entry->gid};
}

namespace {

// Answers until the monitor closes the channel (or dies).
template <class Service>
[[noreturn]] void answer_requests(const Log& log, PrivsepChannel& channel, Service& service) {
    for (;;) {
        std::string error;
        auto request = channel.receive_request(&error);
        if (!request) {
            if (!error.empty()) log.error("auth process: bad request: " + error);
            std::_Exit(error.empty() ? 0 : 1);
        }
        if (!channel.send(service.answer(*request))) std::_Exit(0);
    }
}

void jail_or_exit(const Log& log, const LoginAccount& account, pid_t monitor) {
    auto jailed = enter_sandbox(account);
    if (!jailed) {
        log.error("auth process: cannot drop privileges: " + jailed.error());
        std::_Exit(1);
    }
    die_with_parent(monitor);
}

} // namespace

bool needs_crypto(const privsep::Offer& offer, const SecretKinds& kinds) {
    if (!offer.apop_banner.empty()) return true;
    for (const auto mechanism : offer.sasl)
        if (!pop3::core::sends_password(mechanism)) return true;
    return kinds.hashed;
}

void run_auth_process(const Options& options, const Log& log, PrivsepChannel channel,
                      const LoginAccount& account, pid_t monitor,
                      const std::string& client, const ClientEndpoints& endpoints) {
    if (!options.dovecot_auth.empty()) {
        // Connected as root (the socket may be root's alone), then jailed:
        // the connection stays usable; a lost one cannot be remade in the
        // jail, so later logins of this session answer [SYS/TEMP].
        DovecotPassdb passdb(options, log, endpoints);
        auto offer = passdb.offer();
        jail_or_exit(log, account, monitor);
        passdb.jailed();
        if (!channel.send(offer)) std::_Exit(0);
        answer_requests(log, channel, passdb);
    }
    // The session's one read of the passwd-file (what the greeting offers,
    // the logins and the SCRAM salt key all come from it) and every other
    // file the Authenticator needs, opened before the jail.
    auto resources = open_auth_resources(options, log);
    const auto kinds = secret_kinds(resources.passwd ? &*resources.passwd : nullptr);
    auto offer = make_offer(options, kinds);
    const bool crypto = needs_crypto(offer, kinds);
    Authenticator auth(options, log, offer.apop_banner, std::move(resources));
    auth.set_client(client); // in the failed-login line, for fail2ban
    // The offer first: the login process greets while this process loads
    // pop3d-crypto.so (milliseconds) and jails itself; requests are read
    // only in the jail. A module that cannot be loaded is reported at each
    // login that needs it (Authenticator::check: one log line, [SYS/TEMP]).
    if (!channel.send(offer)) std::_Exit(0);
    if (crypto) (void)load_crypto_module();
    jail_or_exit(log, account, monitor);
    AuthService service(auth);
    answer_requests(log, channel, service);
}

} // namespace pop3::shell
