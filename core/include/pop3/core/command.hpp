// POP3 commands (RFC 1939, RFC 2449 CAPA) as values, and the line parser.
#pragma once
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <variant>

#include <tl/expected.hpp>

namespace pop3::core {

using MessageNumber = std::uint32_t; // 1-based, as on the wire

struct User { std::string name; bool operator==(const User&) const = default; };
struct Pass { std::string secret; bool operator==(const Pass&) const = default; };
struct Apop {
    std::string name;
    std::string digest; // 32 lowercase hex digits
    bool operator==(const Apop&) const = default;
};
struct Quit { bool operator==(const Quit&) const = default; };
struct Stat { bool operator==(const Stat&) const = default; };
struct List {
    std::optional<MessageNumber> msg;
    bool operator==(const List&) const = default;
};
struct Retr { MessageNumber msg; bool operator==(const Retr&) const = default; };
struct Dele { MessageNumber msg; bool operator==(const Dele&) const = default; };
struct Noop { bool operator==(const Noop&) const = default; };
struct Rset { bool operator==(const Rset&) const = default; };
struct Top {
    MessageNumber msg;
    std::uint64_t lines; // saturates: any count past the end means all
    bool operator==(const Top&) const = default;
};
struct Uidl {
    std::optional<MessageNumber> msg;
    bool operator==(const Uidl&) const = default;
};
struct Capa { bool operator==(const Capa&) const = default; };
struct Stls { bool operator==(const Stls&) const = default; }; // RFC 2595
// RFC 5034 AUTH; a bare AUTH (RFC 1734 style) lists the mechanisms.
struct Auth {
    std::optional<std::string> mechanism;
    std::optional<std::string> initial; // still base64; "=" means empty
    bool operator==(const Auth&) const = default;
};

using Command = std::variant<User, Pass, Apop, Quit, Stat, List, Retr, Dele,
                             Noop, Rset, Top, Uidl, Capa, Stls, Auth>;

// Why a line is not a command; `message` is the text after "-ERR ".
struct ParseError {
    enum class Kind { empty, bad_bytes, unknown, bad_arguments, too_long };
    Kind kind;
    std::string message;
    bool operator==(const ParseError&) const = default;
};

// Parses one command line without its line terminator (RFC 1939 section 3:
// a case-insensitive keyword, then arguments separated by single spaces).
// Message numbers are decimal without sign, 1..k_max_message_number; TOP's
// line count is any non-negative decimal and saturates.
[[nodiscard]] tl::expected<Command, ParseError>
parse_command(std::string_view line);

// The command's keyword, for logs ("RETR").
[[nodiscard]] std::string_view keyword(const Command& command);

// A client line made safe for logs: PASS and APOP secrets replaced by
// "********", control bytes by '?', at most 120 octets.
[[nodiscard]] std::string redacted_line(std::string_view line);

// Prints a command as it would appear on the wire, with secrets redacted.
std::ostream& operator<<(std::ostream& out, const Command& command);

} // namespace pop3::core
