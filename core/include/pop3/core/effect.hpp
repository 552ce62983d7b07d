// What the core asks the shell to do (effects) and what the shell reports back
// (events). Plain data: comparable and printable, so property tests see them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

#include "pop3/core/mailbox.hpp"
#include "pop3/core/response.hpp"
#include "pop3/core/sasl.hpp"

namespace pop3::core {

// --- effects -------------------------------------------------------------
struct VerifyPassword { // USER/PASS (RFC 1939 section 7), SASL PLAIN/LOGIN
    std::string user;
    std::string secret;
    std::string method = "USER/PASS"; // for logs
    bool tls = false; // sent over TLS (Dovecot's auth service is told so)
    bool operator==(const VerifyPassword&) const = default;
};
// SASL CRAM-MD5 (RFC 2195): HMAC-MD5(secret, challenge) == digest?
struct VerifyCram {
    std::string user;
    std::string challenge;
    std::string digest_hex;
    bool operator==(const VerifyCram&) const = default;
};
// SCRAM (RFC 5802): look up salt, iterations and keys; answer with
// ScramCredentialsFound (decoys for unknown users, so names do not leak).
struct FetchScramCredentials {
    Mechanism mechanism;
    std::string user;
    bool operator==(const FetchScramCredentials&) const = default;
};
// SCRAM: check the client proof against StoredKey, compute ServerSignature.
struct VerifyScram {
    Mechanism mechanism;
    ScramCredentials credentials;
    std::string auth_message;
    std::string proof;
    bool operator==(const VerifyScram&) const = default;
};
// STLS (RFC 2595 section 4): after "+OK", discard any pipelined input and
// run the TLS handshake; report TlsStarted or TlsFailed.
struct StartTls { bool operator==(const StartTls&) const = default; };
struct VerifyApop { // APOP, RFC 1939 section 7; the shell knows the greeting
    std::string user;
    std::string digest;
    bool tls = false; // sent over TLS (Dovecot's auth service is told so)
    bool operator==(const VerifyApop&) const = default;
};
struct OpenMailbox { // after successful authentication
    std::string user;
    bool operator==(const OpenMailbox&) const = default;
};
// RETR or TOP: open message `index`; if it can be read, write `status`, then
// the message through the dot-stuffer (only `top_lines` body lines for TOP),
// then mark it seen if asked. If it cannot be opened because it is gone,
// report MessageGone and write nothing.
struct SendMessage {
    std::size_t index;
    std::uint64_t size;
    std::optional<std::uint64_t> top_lines;
    bool mark_seen;
    Response status;
    bool operator==(const SendMessage&) const = default;
};
// UPDATE state, RFC 1939 section 6: remove exactly these snapshot messages
// (those still present in the store), then report Updated.
struct Update {
    std::vector<std::size_t> indices;
    bool operator==(const Update&) const = default;
};
// A SASL exchange the credential backend runs (Config::sasl_relay): pass
// the client's response on; answer SaslRelayChallenge (the backend's next
// challenge) or AuthResult (the exchange is over).
struct RelaySasl {
    Mechanism mechanism;
    std::optional<std::string> response; // raw; none: no initial response
    bool first = false;                  // AUTH: a new exchange
    bool tls = false;                    // the client is on TLS
    bool operator==(const RelaySasl&) const = default;
};
// End the session: flush and close the connection.
struct Close { bool operator==(const Close&) const = default; };

using Effect = std::variant<VerifyPassword, VerifyApop, OpenMailbox,
                            SendMessage, Update, Close, VerifyCram,
                            FetchScramCredentials, VerifyScram, StartTls, RelaySasl>;

// --- events --------------------------------------------------------------
struct Connected { // greeting; `apop_banner` like "<pid.clock@host>" or empty
    std::string apop_banner;
    bool tls = false;      // implicit TLS: the handshake is already done
    std::string seed = {}; // unpredictable, printable: SASL nonces derive from it
    bool operator==(const Connected&) const = default;
};
struct AuthResult {
    enum class Outcome { accepted, rejected, unavailable };
    Outcome outcome;
    std::string user; // canonical name when accepted
    bool operator==(const AuthResult&) const = default;
};
struct MailboxOpened {
    MailboxSnapshot snapshot;
    bool operator==(const MailboxOpened&) const = default;
};
struct MailboxFailed {
    RespCode code; // sys_temp, sys_perm or in_use
    std::string reason;
    bool operator==(const MailboxFailed&) const = default;
};
// The shell found that snapshot messages are gone from the store.
struct MessagesVanished {
    std::vector<std::size_t> indices;
    bool operator==(const MessagesVanished&) const = default;
};
// A SendMessage could not be served: the message is gone (vanished = true)
// or unreadable for another reason (vanished = false).
struct MessageGone {
    std::size_t index;
    bool vanished;
    bool operator==(const MessageGone&) const = default;
};
struct Updated {
    std::size_t removed;      // files unlinked by this session
    std::size_t already_gone; // marked, but removed by someone else first
    std::size_t failed;       // could not be removed
    bool operator==(const Updated&) const = default;
};
struct ScramCredentialsFound {
    ScramCredentials credentials;
    bool operator==(const ScramCredentialsFound&) const = default;
};
struct ScramVerdict {
    bool proof_ok;
    std::string server_signature; // raw bytes
    bool operator==(const ScramVerdict&) const = default;
};
// The backend's next challenge in a relayed exchange (raw octets).
struct SaslRelayChallenge {
    std::string raw;
    bool operator==(const SaslRelayChallenge&) const = default;
};
struct TlsStarted { bool operator==(const TlsStarted&) const = default; };
struct TlsFailed {
    std::string reason;
    bool operator==(const TlsFailed&) const = default;
};
struct Timeout { bool operator==(const Timeout&) const = default; };
struct Hangup { bool operator==(const Hangup&) const = default; };

using Event = std::variant<Connected, AuthResult, MailboxOpened, MailboxFailed,
                           MessagesVanished, MessageGone, Updated, Timeout,
                           Hangup, ScramCredentialsFound, ScramVerdict,
                           TlsStarted, TlsFailed, SaslRelayChallenge>;

std::ostream& operator<<(std::ostream& out, const Effect& effect);
std::ostream& operator<<(std::ostream& out, const Event& event);

} // namespace pop3::core
