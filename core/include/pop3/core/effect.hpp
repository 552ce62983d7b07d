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

namespace pop3::core {

// --- effects -------------------------------------------------------------
struct VerifyPassword { // USER/PASS, RFC 1939 section 7
    std::string user;
    std::string secret;
    bool operator==(const VerifyPassword&) const = default;
};
struct VerifyApop { // APOP, RFC 1939 section 7; the shell knows the greeting
    std::string user;
    std::string digest;
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
// End the session: flush and close the connection.
struct Close { bool operator==(const Close&) const = default; };

using Effect = std::variant<VerifyPassword, VerifyApop, OpenMailbox,
                            SendMessage, Update, Close>;

// --- events --------------------------------------------------------------
struct Connected { // greeting; `apop_banner` like "<pid.clock@host>" or empty
    std::string apop_banner;
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
struct Timeout { bool operator==(const Timeout&) const = default; };
struct Hangup { bool operator==(const Hangup&) const = default; };

using Event = std::variant<Connected, AuthResult, MailboxOpened, MailboxFailed,
                           MessagesVanished, MessageGone, Updated, Timeout,
                           Hangup>;

std::ostream& operator<<(std::ostream& out, const Effect& effect);
std::ostream& operator<<(std::ostream& out, const Event& event);

} // namespace pop3::core
