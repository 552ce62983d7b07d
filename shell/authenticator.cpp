// Authentication: name validation, passwd-file lookup, verification, and a
// failure delay padded to the same total so that timing does not tell an
// unknown user from a wrong password.
//
// Why the time does not depend on the user or the scheme: every failure is
// answered at a multiple of --auth-failure-delay after the request arrived
// (one multiple whenever the work fits in it, which the delay is chosen
// for); an unknown user gets a dummy verification against the passwd-file's
// costliest secret, so CPU, memory and hash-slot waits look like a real
// user's; and every password verification holds one of the machine-wide
// hash slots when the file holds any hashed secret. (When it holds none,
// every verification, a known user's or the dummy, is a comparison of
// microseconds, as CRAM-MD5's is: no slot, so 32 logins at once do not
// queue on two flock(2)s behind holders the scheduler preempted; that
// queue was the p99 of bench/run_bench.py's concurrent scenario, issue 16.)
#include <chrono>
#include <cstring>
#include <thread>

#include <unistd.h>

#include "authenticator.hpp"
#include "crypto_primitives.hpp"
#include "passwd_file.hpp"
#include "password_check.hpp"
#include "password_scheme.hpp"
#include "sasl_crypto.hpp"
#include "server_secret.hpp"
#include "pop3/core/ascii.hpp"
#include "pop3/core/login_name.hpp"

namespace pop3::shell {

namespace {
// Longer than a lookup plus two PBKDF2 derivations (~4 ms here), so the
// floor, not the work, sets the time.
constexpr auto k_scram_lookup_floor = std::chrono::milliseconds(25);
} // namespace

using pop3::core::AuthResult;

void Authenticator::set_client(std::string address) {
    for (char& c : address) {
        const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                        (c >= 'A' && c <= 'Z') || c == '.' || c == ':' || c == '%' ||
                        c == '_' || c == '-';
        if (!ok) c = '?';
    }
    client_ = address.empty() ? std::string("unknown") : std::move(address);
}

std::string Authenticator::quoted_user(std::string_view user) {
    std::string out = "\"";
    for (char c : user.substr(0, 100)) {
        if (c == '\\' || c == '"') out += '\\';
        out += c;
    }
    return out + '"';
}

// The line fail2ban's filter (deploy/fail2ban) matches; keep them in step.
std::string Authenticator::failed_line(std::string_view user, std::string_view method,
                                       std::string_view reason) const {
    return "login failed for " + quoted_user(user) + " from " + client_ + " (" +
           std::string(method) + "): " + std::string(reason);
}

void Authenticator::pad_failure(std::chrono::steady_clock::time_point started) {
    using std::chrono::milliseconds;
    if (options_.auth_failure_delay_ms == 0) return;
    const auto delay = milliseconds(options_.auth_failure_delay_ms);
    const auto took = std::chrono::steady_clock::now() - started;
    const auto multiples = took <= delay ? 1 : took / delay + 1;
    if (multiples > 1 && !delay_warned_) {
        delay_warned_ = true;
        log_.warning("warning: a failed login took " +
                  std::to_string(std::chrono::duration_cast<milliseconds>(took).count()) +
                  " ms, more than --auth-failure-delay " +
                  std::to_string(options_.auth_failure_delay_ms) +
                  " ms; answered at " + std::to_string(multiples) +
                  " times the delay, which other failures can be told apart from: "
                  "raise --auth-failure-delay");
    }
    std::this_thread::sleep_until(started + multiples * delay);
}

HashSlots::Guard Authenticator::hash_slot() {
    const auto& slots = resources_.slots;
    if (slots.size() == 0 && !resources_.slots_problem.empty() && !slots_warned_) {
        slots_warned_ = true;
        log_.warning("warning: no hash slots (" + resources_.slots_problem +
                  "); password hashing is not capped");
    }
    return slots.acquire([&] {
        ++stats_.slot_waits;
        log_.line("waiting for a hash slot: all " + std::to_string(slots.size()) +
                  " in " + slots.dir() + " are busy");
    });
}

void Authenticator::dummy_verification(std::string_view password) {
    if (!dummy_) {
        // The costliest secret in the file, as it is: the same scheme and
        // parameters cost the same time and memory as verifying it.
        pop3::core::PasswdEntry dummy;
        dummy.scheme = "PLAIN";
        dummy.secret = "pop3d dummy secret";
        std::uint64_t highest = 0;
        if (auto file = passwd()) {
            (*file)->for_each_secret([&](std::string_view scheme, std::string_view secret) {
                auto cost = estimated_cost(scheme, secret);
                if (cost > highest && !secret.empty()) {
                    highest = cost;
                    dummy.scheme = std::string(scheme);
                    dummy.secret = std::string(secret);
                }
            });
        }
        stats_.dummy_scheme = dummy.scheme;
        dummy_ = std::move(dummy);
    }
    ++stats_.dummy_verifications;
    (void)verify_password(*dummy_, password.empty() ? "x" : password);
}

namespace {

// Whether this check needs pop3d-crypto.so: APOP and CRAM-MD5 always (an
// MD5 digest), a password when its secret is hashed, or for an unknown user
// when the file holds any hashed secret (its dummy verification uses one).
bool needs_crypto_module(bool password, const pop3::core::PasswdEntry* entry,
                         bool file_has_hashed_secrets) {
    if (!password) return true;
    if (entry) return !verifiable_without_crypto(entry->scheme);
    return file_has_hashed_secrets;
}

} // namespace

bool Authenticator::has_hashed_secrets(const PasswdFile& file) {
    if (!hashed_secrets_) {
        bool hashed = false;
        file.for_each_secret([&](std::string_view scheme, std::string_view) {
            hashed = hashed || !verifiable_without_crypto(scheme);
        });
        hashed_secrets_ = hashed;
    }
    return *hashed_secrets_;
}

template <class Verify>
AuthResult Authenticator::check(std::string_view user, std::string_view method,
                                Verify verify, bool hashing) {
    auto started = std::chrono::steady_clock::now();
    auto fail = [&](const std::string& reason) {
        log_.line(failed_line(user, method, reason));
        pad_failure(started);
        return AuthResult{AuthResult::Outcome::rejected, ""};
    };
    auto login = pop3::core::parse_login(user, options_.default_domain);
    if (!login) return fail("invalid user name: " + login.error());
    auto name = login->full();
    auto file = passwd();
    if (!file) {
        log_.error("cannot read passwd-file " + options_.passwd_file + ": " +
                  file.error().message());
        return AuthResult{AuthResult::Outcome::unavailable, ""};
    }
    // Known and unknown users alike take a slot, and the padding counts from
    // when they got it: the wait depends on the load, not on the user.
    HashSlots::Guard slot;
    const bool hashed_secrets = hashing && has_hashed_secrets(**file);
    if (hashed_secrets) {
        slot = hash_slot();
        started = std::chrono::steady_clock::now();
    }
    auto entry = (*file)->find(name, [this](std::string_view w) { log_.warning(w); });
    // pop3d-crypto.so missing (an installation error): the client hears
    // [SYS/TEMP], the log names the file, and no verdict is made up.
    if (needs_crypto_module(hashing, entry ? &*entry : nullptr, hashed_secrets)) {
        if (auto ready = load_crypto_module(); !ready) {
            log_.error("cannot check the login of " + quoted_user(user) + ": " + ready.error());
            return AuthResult{AuthResult::Outcome::unavailable, ""};
        }
    }
    if (!entry) {
        (void)verify(nullptr); // the same work as for a real user
        return fail("unknown user");
    }
    switch (verify(&*entry)) {
    case Verdict::match:
        log_.line("login " + name + " (" + std::string(method) + ")");
        verified_ = *entry; // kept for the privilege drop (issue 7)
        verified_->secret.clear();
        return AuthResult{AuthResult::Outcome::accepted, name};
    case Verdict::mismatch: return fail("wrong password");
    case Verdict::unsupported:
        return fail("password scheme {" + entry->scheme +
                    "} cannot be used with " + std::string(method));
    }
    return fail("internal error");
}

AuthResult Authenticator::check_password(std::string_view user,
                                         std::string_view secret,
                                         std::string_view method) {
    return check(
        user, method,
        [&](const pop3::core::PasswdEntry* e) {
            auto verdict = e ? verify_password(*e, secret) : Verdict::unsupported;
            if (verdict == Verdict::unsupported) dummy_verification(secret);
            return verdict;
        },
        true);
}

AuthResult Authenticator::check_cram(std::string_view user,
                                     std::string_view challenge,
                                     std::string_view digest) {
    // An HMAC: microseconds whatever the user, so no slot and no dummy.
    return check(user, "AUTH CRAM-MD5", [&](const pop3::core::PasswdEntry* e) {
        if (!e || !cram_md5_usable(*e)) return Verdict::unsupported;
        return verify_cram_md5(*e, challenge, digest) ? Verdict::match
                                                      : Verdict::mismatch;
    }, false);
}

AuthResources::~AuthResources() {
    if (server_secret) ::explicit_bzero(server_secret->data(), server_secret->size());
}

AuthResources open_auth_resources(const Options& options, const Log& log) {
    AuthResources r;
    if (auto secret = read_server_secret(options.server_secret))
        r.server_secret = std::move(*secret);
    else
        r.server_secret_problem = secret.error();
    const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    const unsigned count =
        options.hash_slots.value_or(cpus > 0 ? static_cast<unsigned>(cpus) : 1);
    if (auto slots = HashSlots::open(options.hash_slot_dir, count))
        r.slots = std::move(*slots);
    else
        r.slots_problem = slots.error();
    if (auto file = PasswdFile::read(options.passwd_file)) {
        r.passwd = std::move(*file);
    } else {
        r.passwd_error = file.error();
        log.error("cannot read passwd-file " + options.passwd_file + ": " +
                 file.error().message());
    }
    return r;
}

tl::expected<const PasswdFile*, std::error_code> Authenticator::passwd() const {
    if (!resources_.passwd) return tl::unexpected(resources_.passwd_error);
    return &*resources_.passwd;
}

const std::string& Authenticator::salt_key() {
    if (salt_key_.empty() && resources_.server_secret) {
        salt_key_ = *resources_.server_secret;
    } else if (salt_key_.empty()) {
        // Still secret (the file holds every password), but it changes with
        // every edit, and with it every salt not stored in the file.
        log_.warning("warning: no server secret (" + options_.server_secret + ": " +
                  resources_.server_secret_problem +
                  "); SCRAM salts are keyed by the passwd-file digest and change "
                  "when the file changes; create it with pop3d --make-server-secret");
        auto file = passwd();
        // Unreadable file: logins fail anyway; any fixed key keeps going.
        salt_key_ = file ? (*file)->digest() : std::string("pop3d: passwd-file unreadable");
    }
    return salt_key_;
}

pop3::core::ScramCredentials
Authenticator::scram_lookup(pop3::core::Mechanism mechanism, std::string_view user) {
    // Every path costs the same: one decoy derivation always runs (a stored
    // SCRAM secret needs none, a plaintext one needs one more), and the
    // answer is held back to a fixed floor, so the time to server-first
    // does not tell unknown users, stored-SCRAM and plaintext users apart.
    auto started = std::chrono::steady_clock::now();
    scram_entry_.reset();
    scram_user_ = std::string(user.substr(0, 100)); // quoted when logged
    if (auto ready = load_crypto_module(); !ready) { // fails at the proof
        log_.error("cannot check the login of " + quoted_user(user) + ": " + ready.error());
        return pop3::core::ScramCredentials{scram_user_, "decoy", 4096, {}, {}, false};
    }
    auto login = pop3::core::parse_login(user, options_.default_domain);
    // Salts are keyed by the canonical login, so spellings of one name get
    // one salt, known or not (no account enumeration through the salt).
    auto canonical = login ? login->full() : pop3::core::ascii_lower(user);
    auto keys = scram_decoy(mechanism, canonical, salt_key()); // fails at the proof
    if (login) {
        auto file = passwd();
        auto entry = file ? (*file)->find(canonical,
                                          [this](std::string_view w) { log_.warning(w); })
                          : std::nullopt;
        if (entry) {
            entry->user = canonical;
            if (auto real = scram_credentials(mechanism, *entry, salt_key())) {
                real->user = canonical;
                scram_entry_ = std::move(*entry);
                scram_entry_->secret.clear();
                keys = std::move(*real);
            }
        }
    }
    std::this_thread::sleep_until(started + k_scram_lookup_floor);
    return keys;
}

pop3::core::ScramVerdict
Authenticator::scram_verify(pop3::core::Mechanism mechanism,
                            const pop3::core::ScramCredentials& keys,
                            std::string_view auth_message, std::string_view proof) {
    auto started = std::chrono::steady_clock::now();
    if (!load_crypto_module()) return {false, {}}; // logged at the lookup
    auto check = verify_scram(mechanism, keys, auth_message, proof);
    std::string method = "AUTH " + std::string(pop3::core::mechanism_name(mechanism));
    if (check.proof_ok && scram_entry_) {
        log_.line("login " + keys.user + " (" + method + ")");
        verified_ = std::move(scram_entry_);
        scram_entry_.reset();
        return {true, std::move(check.server_signature)};
    }
    log_.line(failed_line(scram_user_, method,
                          keys.known ? "wrong password" : "unknown user or no SCRAM secret"));
    pad_failure(started);
    return {false, {}};
}

AuthResult Authenticator::check_apop(std::string_view user,
                                     std::string_view digest) {
    return check(user, "APOP", [&](const pop3::core::PasswdEntry* e) {
        if (!e || !plaintext_secret(*e)) return Verdict::unsupported;
        return verify_apop(*e, banner_, digest) ? Verdict::match : Verdict::mismatch;
    }, false);
}

} // namespace pop3::shell
