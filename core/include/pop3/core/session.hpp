// The POP3 session state machine (RFC 1939 sections 3-6): one pure step
// function folding client lines and shell events into responses and effects.
#pragma once
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

#include "pop3/core/effect.hpp"
#include "pop3/core/framing.hpp"
#include "pop3/core/limits.hpp"
#include "pop3/core/mailbox.hpp"
#include "pop3/core/response.hpp"
#include "pop3/core/sasl.hpp"

namespace pop3::core {

// Site policy, fixed for the session.
struct Config {
    unsigned max_auth_failures = k_default_max_auth_failures;
    unsigned max_bad_commands = k_default_max_bad_commands;
    bool apop = true;                  // advertise APOP in the greeting
    bool mark_seen = true;             // RETR marks messages Seen
    std::string expire = "NEVER";      // RFC 2449 EXPIRE policy
    unsigned login_delay = 0;          // RFC 2449 LOGIN-DELAY seconds
    std::string implementation = "pop3d";
    bool tls_available = false;        // a certificate is configured: STLS
    bool allow_plaintext = false;      // USER/PASS, PLAIN, LOGIN before TLS
    // Every login (APOP, CRAM-MD5 and SCRAM too) waits for TLS: an active
    // attacker who strips STLS gets no session (Dovecot's ssl = required).
    bool tls_required = false;
    // SASL mechanisms offered (RFC 5034); PLAIN and LOGIN also obey the
    // plaintext policy. The shell offers only those the passwd-file's
    // secrets can serve, since some clients never fall back.
    std::vector<Mechanism> sasl = {Mechanism::plain, Mechanism::login,
                                   Mechanism::cram_md5, Mechanism::scram_sha1,
                                   Mechanism::scram_sha256};
    // CRAM-MD5 and SCRAM run in the credential backend (Dovecot's auth
    // service), the core relaying each message (RelaySasl).
    bool sasl_relay = false;
    bool operator==(const Config&) const = default;
};

// --- states ----------------------------------------------------------------
// Before the greeting.
struct Idle { bool operator==(const Idle&) const = default; };
// AUTHORIZATION, RFC 1939 section 4. `user` is set after a USER command.
struct Authorization {
    std::optional<std::string> user;
    unsigned auth_failures = 0;
    unsigned bad_commands = 0;
    bool apop_banner = false; // greeting carried a timestamp
    bool tls = false;         // TLS is active on the connection
    std::string seed;         // from Connected; SASL nonces derive from it
    unsigned sasl_attempts = 0;
    bool operator==(const Authorization&) const = default;
};
// Between AUTH and the end of its SASL exchange (RFC 5034 section 4).
struct SaslAuthenticating {
    Authorization previous;
    SaslState sasl;
    bool operator==(const SaslAuthenticating&) const = default;
};
// After STLS's "+OK", while the shell runs the handshake (RFC 2595).
struct StartingTls {
    Authorization previous;
    bool operator==(const StartingTls&) const = default;
};
// Waiting for the shell to check credentials and open the mailbox.
struct Authenticating {
    Authorization previous; // restored (with one more failure) on rejection
    std::string user;
    bool verified = false;  // credentials accepted, mailbox being opened
    bool operator==(const Authenticating&) const = default;
};
// TRANSACTION, RFC 1939 section 5.
struct Transaction {
    std::string user;
    MailboxView mailbox;
    unsigned bad_commands = 0;
    bool tls = false;
};
// UPDATE, RFC 1939 section 6: waiting for the shell to remove messages.
struct Updating { bool operator==(const Updating&) const = default; };
struct Closed { bool operator==(const Closed&) const = default; };

using SessionState =
    std::variant<Idle, Authorization, Authenticating, Transaction, Updating,
                 Closed, SaslAuthenticating, StartingTls>;

// --- inputs ----------------------------------------------------------------
// A line from the client (FramedLine) or an overlong one, or a shell event.
using Input = std::variant<FramedLine, OverlongLine, Event>;

// The result of one step. The shell writes `responses` in order, then runs
// `effects` in order.
struct Step {
    SessionState state;
    std::vector<Response> responses;
    std::vector<Effect> effects;
};

// The one entry point: RFC 1939 semantics for one input.
[[nodiscard]] Step step(SessionState state, const Input& input,
                        const Config& config);

// Short name of the state for logs and -ERR texts ("AUTHORIZATION").
[[nodiscard]] std::string_view state_name(const SessionState& state);

// The longest line the shell may frame in this state, CRLF included: 255 for
// commands (RFC 2449), more for SASL responses.
[[nodiscard]] std::size_t line_limit(const SessionState& state);

// Whether USER/PASS and the PLAIN/LOGIN mechanisms may be used now
// (RFC 2595 section 6): over TLS, without a certificate, or when allowed.
[[nodiscard]] bool plaintext_allowed(bool tls, const Config& config);

// Whether any login may be tried now: always, unless tls_required and the
// connection is still in the clear.
[[nodiscard]] bool login_allowed(bool tls, const Config& config);

// The CAPA response (RFC 2449 section 5) for the given state.
[[nodiscard]] Response capabilities(const SessionState& state,
                                    const Config& config);

} // namespace pop3::core
