// Checks USER/PASS and APOP credentials against the shared passwd-file and
// turns the verdict into the core's AuthResult; failures take the same time
// whether or not the user exists, whatever the scheme.
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "hash_slots.hpp"
#include "log.hpp"
#include "options.hpp"
#include "passwd_file.hpp"
#include "pop3/core/effect.hpp"
#include "pop3/core/passwd_line.hpp"

namespace pop3::shell {

// Everything the Authenticator needs from the file system, read or opened
// before it is built: afterwards it opens nothing, so that it can answer
// from an unprivileged process chrooted into an empty directory.
struct AuthResources {
    AuthResources() = default;
    AuthResources(AuthResources&&) noexcept = default;
    AuthResources& operator=(AuthResources&&) noexcept = default;
    ~AuthResources();

    std::optional<PasswdFile> passwd; // nullopt: unreadable at start-up
    std::error_code passwd_error;     // why, when passwd is nullopt
    // --server-secret's octets; nullopt when it could not be read (why in
    // server_secret_problem): SCRAM salts then fall back to the
    // passwd-file's digest, with a warning at the first SCRAM login.
    std::optional<std::string> server_secret;
    std::string server_secret_problem;
    // --hash-slots lock files in --hash-slot-dir; none when they could not
    // be opened (why in slots_problem): hashing is then not capped, with a
    // warning at the first password verification.
    HashSlots slots;
    std::string slots_problem;
};

// Reads or opens what `options` names (the passwd-file, the server secret,
// the hash slots); logs a passwd-file that cannot be read.
// Call it while still privileged, before any chroot.
[[nodiscard]] AuthResources open_auth_resources(const Options& options,
                                                const Log& log);

class Authenticator {
public:
    // A passwd-file that could not be read at start-up stays unread: every
    // login then answers `unavailable` ([SYS/TEMP]).
    Authenticator(const Options& options, const Log& log, std::string apop_banner,
                  AuthResources resources)
        : options_(options), log_(log), banner_(std::move(apop_banner)),
          resources_(std::move(resources)) {}

    // RFC 1939 section 7 USER/PASS. Failures (unknown user, wrong password,
    // invalid name) all answer `rejected` after the same total delay. Every
    // verification holds a hash slot; an unknown user (or a scheme that
    // cannot verify) gets a dummy verification against the passwd-file's
    // costliest secret, so that it costs what a real one does.
    [[nodiscard]] pop3::core::AuthResult
    check_password(std::string_view user, std::string_view secret,
                   std::string_view method = "USER/PASS");
    // RFC 1939 section 7 APOP, for users with a PLAIN/CLEAR secret.
    [[nodiscard]] pop3::core::AuthResult check_apop(std::string_view user,
                                                    std::string_view digest);

    // SASL CRAM-MD5 (RFC 2195), for users with a PLAIN/CLEAR secret.
    [[nodiscard]] pop3::core::AuthResult check_cram(std::string_view user,
                                                    std::string_view challenge,
                                                    std::string_view digest);
    // SASL SCRAM (RFC 5802): the user's keys, or decoys that fail later.
    [[nodiscard]] pop3::core::ScramCredentials
    scram_lookup(pop3::core::Mechanism mechanism, std::string_view user);
    // SCRAM proof check; logs the outcome and delays failures.
    [[nodiscard]] pop3::core::ScramVerdict
    scram_verify(pop3::core::Mechanism mechanism,
                 const pop3::core::ScramCredentials& keys,
                 std::string_view auth_message, std::string_view proof);

    // The client's address for the failed-login log line (fail2ban bans by
    // it). Characters outside [0-9A-Za-z.:%_-] become '?', so the address
    // is one word a filter can rely on.
    void set_client(std::string address);

    // `"NAME"` for a log line: cut at 100 octets, '\' and '"' escaped with
    // '\', so a name can never close the quotes (a filter's <HOST> after
    // them cannot match text the client chose).
    [[nodiscard]] static std::string quoted_user(std::string_view user);

    // The passwd-file entry of the last accepted login, secret cleared: its
    // uid/gid fields say whom to serve the mailbox as (hardening, issue 7).
    [[nodiscard]] const std::optional<pop3::core::PasswdEntry>&
    verified_entry() const { return verified_; }

    // What happened so far, for tests and the log.
    struct Stats {
        unsigned dummy_verifications = 0;
        unsigned slot_waits = 0;
        std::string dummy_scheme; // of the dummy's secret, once chosen
    };
    [[nodiscard]] const Stats& stats() const { return stats_; }

private:
    // Holds the answer to a failure back to the next multiple of
    // --auth-failure-delay after `started` (one multiple unless the work
    // took longer, which is logged once: the delay should cover it).
    void pad_failure(std::chrono::steady_clock::time_point started);
    [[nodiscard]] HashSlots::Guard hash_slot();
    void dummy_verification(std::string_view password);
    template <class Verify>
    pop3::core::AuthResult check(std::string_view user, std::string_view method,
                                 Verify verify, bool hashing);

    const Options& options_;
    const Log& log_;
    std::string banner_;
    std::optional<pop3::core::PasswdEntry> verified_;
    std::optional<pop3::core::PasswdEntry> scram_entry_; // between the steps
    std::string scram_user_;                             // as given, for logs
    std::string salt_key_; // SCRAM salt key: the server secret, else the passwd-file digest
    [[nodiscard]] const std::string& salt_key();
    AuthResources resources_;
    Stats stats_;
    std::string client_ = "unknown";
    [[nodiscard]] std::string failed_line(std::string_view user, std::string_view method,
                                          std::string_view reason) const;
    std::optional<pop3::core::PasswdEntry> dummy_; // chosen at the first need
    // Whether the passwd-file holds any hashed secret (decides the hash
    // slot and the crypto module for password checks); found at the first.
    [[nodiscard]] bool has_hashed_secrets(const PasswdFile& file);
    std::optional<bool> hashed_secrets_;
    bool slots_warned_ = false, delay_warned_ = false;
    // The passwd-file as read at start-up, or why it could not be.
    [[nodiscard]] tl::expected<const PasswdFile*, std::error_code> passwd() const;
};

} // namespace pop3::shell
