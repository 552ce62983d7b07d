// Authentication: name validation, passwd-file lookup, verification, and a
// failure delay padded to the same total so that timing does not tell an
// unknown user from a wrong password.
#include <chrono>

#include <openssl/crypto.h>
#include <thread>

#include "authenticator.hpp"
#include "passwd_file.hpp"
#include "password_check.hpp"
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

template <class Verify>
AuthResult Authenticator::check(std::string_view user, std::string_view method,
                                Verify verify) {
    auto started = std::chrono::steady_clock::now();
    auto fail = [&](const std::string& reason) {
        log_.line("login failed for \"" + std::string(user.substr(0, 100)) +
                  "\" (" + std::string(method) + "): " + reason);
        std::this_thread::sleep_until(
            started + std::chrono::milliseconds(options_.auth_failure_delay_ms));
        return AuthResult{AuthResult::Outcome::rejected, ""};
    };
    auto login = pop3::core::parse_login(user, options_.default_domain);
    if (!login) return fail("invalid user name: " + login.error());
    auto name = login->full();
    auto file = passwd();
    if (!file) {
        log_.line("cannot read passwd-file " + options_.passwd_file + ": " +
                  file.error().message());
        return AuthResult{AuthResult::Outcome::unavailable, ""};
    }
    auto entry = (*file)->find(name, [this](std::string_view w) { log_.line(w); });
    if (!entry) return fail("unknown user");
    switch (verify(*entry)) {
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
    return check(user, method, [&](const pop3::core::PasswdEntry& e) {
        return verify_password(e, secret);
    });
}

AuthResult Authenticator::check_cram(std::string_view user,
                                     std::string_view challenge,
                                     std::string_view digest) {
    return check(user, "AUTH CRAM-MD5", [&](const pop3::core::PasswdEntry& e) {
        if (!cram_md5_usable(e)) return Verdict::unsupported;
        return verify_cram_md5(e, challenge, digest) ? Verdict::match
                                                     : Verdict::mismatch;
    });
}

AuthResources::~AuthResources() {
    if (server_secret) OPENSSL_cleanse(server_secret->data(), server_secret->size());
}

AuthResources open_auth_resources(const Options& options, const Log& log) {
    AuthResources r;
    if (auto secret = read_server_secret(options.server_secret))
        r.server_secret = std::move(*secret);
    else
        r.server_secret_problem = secret.error();
    if (auto file = PasswdFile::read(options.passwd_file)) {
        r.passwd = std::move(*file);
    } else {
        r.passwd_error = file.error();
        log.line("cannot read passwd-file " + options.passwd_file + ": " +
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
        log_.line("warning: no server secret (" + options_.server_secret + ": " +
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
    scram_user_ = std::string(user.substr(0, 100));
    auto login = pop3::core::parse_login(user, options_.default_domain);
    // Salts are keyed by the canonical login, so spellings of one name get
    // one salt, known or not (no account enumeration through the salt).
    auto canonical = login ? login->full() : pop3::core::ascii_lower(user);
    auto keys = scram_decoy(mechanism, canonical, salt_key()); // fails at the proof
    if (login) {
        auto file = passwd();
        auto entry = file ? (*file)->find(canonical,
                                          [this](std::string_view w) { log_.line(w); })
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
    auto check = verify_scram(mechanism, keys, auth_message, proof);
    std::string method = "AUTH " + std::string(pop3::core::mechanism_name(mechanism));
    if (check.proof_ok && scram_entry_) {
        log_.line("login " + keys.user + " (" + method + ")");
        verified_ = std::move(scram_entry_);
        scram_entry_.reset();
        return {true, std::move(check.server_signature)};
    }
    log_.line("login failed for \"" + scram_user_ + "\" (" + method + "): " +
              (keys.known ? "wrong password" : "unknown user or no SCRAM secret"));
    std::this_thread::sleep_until(
        started + std::chrono::milliseconds(options_.auth_failure_delay_ms));
    return {false, {}};
}

AuthResult Authenticator::check_apop(std::string_view user,
                                     std::string_view digest) {
    return check(user, "APOP", [&](const pop3::core::PasswdEntry& e) {
        if (!plaintext_secret(e)) return Verdict::unsupported;
        return verify_apop(e, banner_, digest) ? Verdict::match : Verdict::mismatch;
    });
}

} // namespace pop3::shell
