// Command-line parsing (RFC 1939 section 3, RFC 2449 CAPA). Strict: a keyword,
// then arguments separated by exactly one space; numbers are plain decimals.
#include <algorithm>
#include <sstream>
#include <array>
#include <charconv>
#include <string>
#include <utility>
#include <vector>

#include "pop3/core/ascii.hpp"
#include "pop3/core/command.hpp"
#include "pop3/core/limits.hpp"

namespace pop3::core {
namespace {

using Result = tl::expected<Command, ParseError>;

tl::unexpected<ParseError> fail(ParseError::Kind kind, std::string message) {
    return tl::unexpected(ParseError{kind, std::move(message)});
}

// Printable for echoing back in -ERR texts: bounded and without controls.
std::string quoted(std::string_view text) {
    std::string out;
    for (char c : text.substr(0, 40)) {
        auto u = static_cast<unsigned char>(c);
        out += (u >= 0x20 && u < 0x7F) ? c : '?';
    }
    if (text.size() > 40) out += "...";
    return out;
}

std::vector<std::string_view> split_arguments(std::string_view rest) {
    std::vector<std::string_view> args;
    while (!rest.empty()) {
        auto space = rest.find(' ');
        args.push_back(rest.substr(0, space));
        if (space == std::string_view::npos) break;
        rest.remove_prefix(space + 1);
        if (rest.empty()) args.emplace_back(); // trailing space: empty arg
    }
    return args;
}

bool all_digits(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return c >= '0' && c <= '9';
    });
}

tl::expected<MessageNumber, ParseError> message_number(std::string_view text) {
    if (text.empty())
        return fail(ParseError::Kind::bad_arguments,
                    "message number missing");
    if (!all_digits(text))
        return fail(ParseError::Kind::bad_arguments,
                    "invalid message number \"" + quoted(text) +
                        "\"; expected a decimal number from 1");
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(),
                                     value);
    if (ec != std::errc{} || value > k_max_message_number)
        return fail(ParseError::Kind::bad_arguments,
                    "no message " + quoted(text) + "; number too large");
    if (value == 0)
        return fail(ParseError::Kind::bad_arguments,
                    "no message 0; messages are numbered from 1");
    return static_cast<MessageNumber>(value);
}

tl::expected<std::uint64_t, ParseError> line_count(std::string_view text) {
    if (!all_digits(text))
        return fail(ParseError::Kind::bad_arguments,
                    "invalid line count \"" + quoted(text) +
                        "\"; expected a decimal number from 0");
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(),
                                     value);
    if (ec == std::errc::result_out_of_range) return UINT64_MAX; // all lines
    return value;
}

bool is_hex_digest(std::string_view text) {
    return text.size() == 32 &&
           std::all_of(text.begin(), text.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                      (c >= 'A' && c <= 'F');
           });
}

Result arity_error(std::string_view verb, std::string_view usage) {
    return fail(ParseError::Kind::bad_arguments,
                std::string("wrong arguments; usage: ") + std::string(verb) +
                    (usage.empty() ? "" : " ") + std::string(usage));
}

template <class T>
Result optional_number(std::string_view verb,
                       const std::vector<std::string_view>& args) {
    if (args.empty()) return T{std::nullopt};
    if (args.size() > 1) return arity_error(verb, "[msg]");
    return message_number(args[0]).map([](MessageNumber n) -> Command {
        return T{n};
    });
}

template <class T>
Result one_number(std::string_view verb,
                  const std::vector<std::string_view>& args) {
    if (args.size() != 1) return arity_error(verb, "msg");
    return message_number(args[0]).map([](MessageNumber n) -> Command {
        return T{n};
    });
}

Result no_arguments(std::string_view verb,
                    const std::vector<std::string_view>& args, Command c) {
    if (!args.empty())
        return fail(ParseError::Kind::bad_arguments,
                    std::string(verb) + " takes no arguments");
    return c;
}

// A name argument must be bounded (RFC 1939 says 40; logins can be longer).
std::optional<ParseError> check_name(std::string_view arg) {
    if (arg.size() > k_max_argument)
        return ParseError{ParseError::Kind::bad_arguments,
                          "name too long; at most " +
                              std::to_string(k_max_argument) + " octets"};
    return std::nullopt;
}

} // namespace

tl::expected<Command, ParseError> parse_command(std::string_view line) {
    if (line.size() + 2 > k_max_command_line)
        return fail(ParseError::Kind::too_long,
                    "command line too long; at most 255 octets including CRLF");
    for (char c : line) {
        auto u = static_cast<unsigned char>(c);
        if (u == 0)
            return fail(ParseError::Kind::bad_bytes,
                        "NUL byte in command line");
        if (u < 0x20 || u == 0x7F)
            return fail(ParseError::Kind::bad_bytes,
                        "control character in command line");
    }
    if (line.empty())
        return fail(ParseError::Kind::empty, "empty command line");

    auto space = line.find(' ');
    auto verb = line.substr(0, space);
    auto rest = space == std::string_view::npos ? std::string_view{}
                                                : line.substr(space + 1);
    if (verb.empty())
        return fail(ParseError::Kind::unknown,
                    "command line starts with a space");

    // PASS takes the rest of the line verbatim: passwords may hold spaces
    // (RFC 1939 section 7 allows servers to accept them).
    if (ascii_iequals(verb, "PASS")) {
        if (space == std::string_view::npos || rest.empty())
            return fail(ParseError::Kind::bad_arguments,
                        "password missing; usage: PASS password");
        return Pass{std::string(rest)};
    }

    auto args = split_arguments(rest);
    if (space != std::string_view::npos && args.empty()) args.emplace_back();
    if (std::any_of(args.begin(), args.end(),
                    [](std::string_view a) { return a.empty(); }))
        return fail(ParseError::Kind::bad_arguments,
                    "empty argument; separate arguments by one space");

    if (ascii_iequals(verb, "USER")) {
        if (args.size() != 1) return arity_error("USER", "name");
        if (auto bad = check_name(args[0])) return tl::unexpected(*bad);
        return User{std::string(args[0])};
    }
    if (ascii_iequals(verb, "APOP")) {
        if (args.size() != 2) return arity_error("APOP", "name digest");
        if (auto bad = check_name(args[0])) return tl::unexpected(*bad);
        if (!is_hex_digest(args[1]))
            return fail(ParseError::Kind::bad_arguments,
                        "APOP digest must be 32 hexadecimal digits");
        return Apop{std::string(args[0]), ascii_lower(args[1])};
    }
    if (ascii_iequals(verb, "QUIT")) return no_arguments("QUIT", args, Quit{});
    if (ascii_iequals(verb, "STAT")) return no_arguments("STAT", args, Stat{});
    if (ascii_iequals(verb, "NOOP")) return no_arguments("NOOP", args, Noop{});
    if (ascii_iequals(verb, "RSET")) return no_arguments("RSET", args, Rset{});
    if (ascii_iequals(verb, "CAPA")) return no_arguments("CAPA", args, Capa{});
    if (ascii_iequals(verb, "STLS")) return no_arguments("STLS", args, Stls{});
    if (ascii_iequals(verb, "AUTH")) {
        if (args.size() > 2)
            return arity_error("AUTH", "[mechanism [initial-response]]");
        Auth auth;
        if (!args.empty()) auth.mechanism = std::string(args[0]);
        if (args.size() == 2) auth.initial = std::string(args[1]);
        return auth;
    }
    if (ascii_iequals(verb, "LIST")) return optional_number<List>("LIST", args);
    if (ascii_iequals(verb, "UIDL")) return optional_number<Uidl>("UIDL", args);
    if (ascii_iequals(verb, "RETR")) return one_number<Retr>("RETR", args);
    if (ascii_iequals(verb, "DELE")) return one_number<Dele>("DELE", args);
    if (ascii_iequals(verb, "TOP")) {
        if (args.size() != 2) return arity_error("TOP", "msg lines");
        auto msg = message_number(args[0]);
        if (!msg) return tl::unexpected(msg.error());
        auto lines = line_count(args[1]);
        if (!lines) return tl::unexpected(lines.error());
        return Top{*msg, *lines};
    }
    return fail(ParseError::Kind::unknown,
                "unknown command \"" + quoted(verb) + "\"");
}

std::string redacted_line(std::string_view line) {
    // A command that parses prints itself with its secrets hidden.
    if (auto command = parse_command(line)) {
        std::ostringstream out;
        out << *command;
        return out.str().substr(0, 120); // a long AUTH mechanism (fuzz_parse)
    }
    // Anything else: if its first word (after any leading blanks or control
    // bytes) begins with a verb that carries a secret, hide all after it.
    std::size_t start = 0;
    while (start < line.size() &&
           (static_cast<unsigned char>(line[start]) <= 0x20 || line[start] == 0x7F))
        ++start;
    auto word = line.substr(start, 4);
    std::string out;
    // A line of base64 alone is most likely SASL credentials sent early
    // (pipelined after an AUTH that was refused): never log it.
    bool base64_only = line.size() >= 4 &&
        std::all_of(line.begin(), line.end(), [](char c) {
            return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                   (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
        });
    if (ascii_iequals(word, "PASS") || ascii_iequals(word, "APOP") || ascii_iequals(word, "AUTH"))
        out = std::string(word) + " ********";
    else if (base64_only)
        out = "(base64 line, redacted)";
    else
        out = std::string(line.substr(0, 120));
    for (auto& c : out) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7F) c = '?';
    }
    return out;
}

std::string_view keyword(const Command& command) {
    static constexpr std::array<std::string_view, 15> names = {
        "USER", "PASS", "APOP", "QUIT", "STAT", "LIST", "RETR", "DELE",
        "NOOP", "RSET", "TOP",  "UIDL", "CAPA", "STLS", "AUTH"};
    static_assert(names.size() == std::variant_size_v<Command>);
    return names[command.index()];
}

std::ostream& operator<<(std::ostream& out, const Command& command) {
    out << keyword(command);
    std::visit(
        [&out](const auto& c) {
            using T = std::decay_t<decltype(c)>;
            if constexpr (std::is_same_v<T, User>) out << ' ' << c.name;
            else if constexpr (std::is_same_v<T, Pass>) out << " ********";
            else if constexpr (std::is_same_v<T, Apop>)
                out << ' ' << c.name << " ********";
            else if constexpr (std::is_same_v<T, List> ||
                               std::is_same_v<T, Uidl>) {
                if (c.msg) out << ' ' << *c.msg;
            } else if constexpr (std::is_same_v<T, Retr> ||
                                 std::is_same_v<T, Dele>)
                out << ' ' << c.msg;
            else if constexpr (std::is_same_v<T, Top>)
                out << ' ' << c.msg << ' ' << c.lines;
            else if constexpr (std::is_same_v<T, Auth>) {
                if (c.mechanism) out << ' ' << *c.mechanism;
                if (c.initial) out << " ********";
            }
        },
        command);
    return out;
}

} // namespace pop3::core
