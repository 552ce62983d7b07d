// Parser and framing robustness: any bytes give a command or a clean error.
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include "pop3/core/command.hpp"
#include "pop3/core/session.hpp"

using namespace pop3::core;

namespace {
// Bytes that look like POP3 often enough to reach deep paths.
rc::Gen<std::string> pop3ish_line() {
    return rc::gen::oneOf(
        rc::gen::arbitrary<std::string>(),
        rc::gen::map(
            rc::gen::tuple(rc::gen::element<std::string>(
                               "USER", "PASS", "APOP", "QUIT", "STAT", "LIST",
                               "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL",
                               "CAPA", "list", "tOp", "XYZ"),
                           rc::gen::container<std::vector<std::string>>(
                               rc::gen::oneOf(
                                   rc::gen::arbitrary<std::string>(),
                                   rc::gen::map(rc::gen::arbitrary<std::uint64_t>(),
                                                [](std::uint64_t n) { return std::to_string(n); }),
                                   rc::gen::element<std::string>("0", "-1", "1x", "", "99999999999999999999")))),
            [](const std::tuple<std::string, std::vector<std::string>>& t) {
                std::string line = std::get<0>(t);
                for (const auto& a : std::get<1>(t)) line += " " + a;
                return line;
            }));
}
// Argument strings around the number rules: digits, signs, letters, blanks,
// leading zeros, and values around 2^32 and 2^64.
rc::Gen<std::string> number_argument() {
    return rc::gen::oneOf(
        rc::gen::container<std::string>(
            rc::gen::oneOf(rc::gen::inRange<char>('0', '9' + 1),
                           rc::gen::element('+', '-', 'x', ' ', '\t', '.', 'e',
                                            '\0', '\x7f', '\xb9'))),
        rc::gen::container<std::string>(rc::gen::inRange<char>('0', '9' + 1)),
        rc::gen::element<std::string>("", "0", "00", "1", "+5", "5x", "5 ", " 5",
                                      "-0", "0x10", "1e3", "4294967295",
                                      "4294967296", "04294967295",
                                      "18446744073709551615", "18446744073709551616",
                                      "99999999999999999999999"));
}

// The model's reading of a decimal: nullopt unless non-empty ASCII digits;
// values past `cap` become cap + 1 (for message numbers: too large) or cap
// (for line counts: saturated), whichever the caller asks.
std::optional<std::uint64_t> decimal(const std::string& text, std::uint64_t cap) {
    if (text.empty()) return std::nullopt;
    for (char c : text)
        if (c < '0' || c > '9') return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        auto digit = static_cast<std::uint64_t>(c - '0');
        if (value > (cap - digit) / 10) return cap; // past the cap
        value = value * 10 + digit;
    }
    return value;
}

std::optional<std::uint64_t> model_message_number(const std::string& text) {
    auto v = decimal(text, UINT64_MAX);
    if (!v || *v == 0 || *v > 0xFFFFFFFFu) return std::nullopt;
    return v;
}

} // namespace

TEST_CASE("number arguments are strict decimals", "[props]") {
    rc::prop("a message number is accepted exactly when it is decimal digits "
             "from 1 to 2^32-1, and then is its value",
             [] {
                 const auto arg = *number_argument();
                 const auto expected = model_message_number(arg);
                 const auto verb = *rc::gen::element<std::string>(
                     "RETR", "DELE", "LIST", "UIDL", "TOP");
                 const auto line =
                     verb + " " + arg + (verb == "TOP" ? " 3" : "");
                 const auto parsed = parse_command(line);
                 RC_ASSERT(parsed.has_value() == expected.has_value());
                 if (!parsed) {
                     RC_ASSERT(parsed.error().kind != ParseError::Kind::unknown);
                     return;
                 }
                 std::optional<std::uint64_t> got;
                 if (verb == "RETR") got = std::get<Retr>(*parsed).msg;
                 if (verb == "DELE") got = std::get<Dele>(*parsed).msg;
                 if (verb == "LIST") got = std::get<List>(*parsed).msg;
                 if (verb == "UIDL") got = std::get<Uidl>(*parsed).msg;
                 if (verb == "TOP") {
                     got = std::get<Top>(*parsed).msg;
                     RC_ASSERT(std::get<Top>(*parsed).lines == 3u);
                 }
                 RC_ASSERT(got == expected);
             });

    rc::prop("TOP's line count is accepted exactly when it is decimal digits, "
             "and then is its value, saturating at 2^64-1",
             [] {
                 const auto arg = *number_argument();
                 const auto expected = decimal(arg, UINT64_MAX);
                 const auto parsed = parse_command("TOP 1 " + arg);
                 RC_ASSERT(parsed.has_value() == expected.has_value());
                 if (parsed) RC_ASSERT((*parsed == Command{Top{1, *expected}}));
             });
}

TEST_CASE("number arguments: fixed cases", "[parse]") {
    CHECK_FALSE(parse_command("TOP 1 5x"));
    CHECK_FALSE(parse_command("TOP 1 +5"));
    CHECK_FALSE(parse_command("TOP 1 -0"));
    CHECK_FALSE(parse_command("TOP 1 "));
    CHECK_FALSE(parse_command("RETR +5"));
    CHECK_FALSE(parse_command("RETR 5x"));
    CHECK_FALSE(parse_command("DELE 4294967296"));
    CHECK(parse_command("TOP 1 007") == Command{Top{1, 7}});
    CHECK(parse_command("TOP 1 18446744073709551615") == Command{Top{1, UINT64_MAX}});
    CHECK(parse_command("TOP 1 18446744073709551616") == Command{Top{1, UINT64_MAX}});
    CHECK(parse_command("LIST 4294967295") == Command{List{4294967295u}});
    CHECK(parse_command("UIDL 01") == Command{Uidl{1}});
}

TEST_CASE("parsing is total", "[props]") {
    rc::prop("any line parses to a command or an error with a message", [] {
        auto line = *pop3ish_line();
        auto result = parse_command(line);
        if (!result) {
            RC_ASSERT(!result.error().message.empty());
            auto wire = render(err(result.error().message));
            RC_ASSERT(wire.size() <= k_max_response_line);
            RC_ASSERT(wire.find('\n') == wire.size() - 1);
        } else {
            RC_ASSERT(line.size() + 2 <= k_max_command_line);
        }
    });

    rc::prop("a parsed message number is always in 1..2^32-1", [] {
        auto n = *rc::gen::arbitrary<std::uint64_t>();
        auto result = parse_command("RETR " + std::to_string(n));
        RC_ASSERT(result.has_value() == (n >= 1 && n <= k_max_message_number));
        if (result) RC_ASSERT(std::get<Retr>(*result).msg == n);
    });
}

TEST_CASE("framing never executes part of an overlong line", "[props]") {
    rc::prop("lines come out whole or as overlong, whatever the chunking", [] {
        auto lines = *rc::gen::container<std::vector<std::string>>(
            rc::gen::oneOf(rc::gen::container<std::string>(rc::gen::inRange<char>(32, 127)),
                           rc::gen::map(rc::gen::inRange<std::size_t>(250, 600),
                                        [](std::size_t n) { return std::string(n, 'A'); })));
        std::string stream;
        for (const auto& l : lines) stream += l + (l.size() % 2 ? "\r\n" : "\n");
        auto cut = *rc::gen::inRange<std::size_t>(1, 64);
        LineFramer framer;
        std::vector<Frame> frames;
        for (std::size_t i = 0; i < stream.size(); i += cut) {
            framer.feed(std::string_view(stream).substr(i, cut));
            while (auto f = framer.next()) frames.push_back(*f);
            RC_ASSERT(framer.pending() < k_max_command_line);
        }
        RC_ASSERT(frames.size() == lines.size());
        for (std::size_t i = 0; i < lines.size(); ++i) {
            if (lines[i].size() + 2 <= k_max_command_line)
                RC_ASSERT(frames[i] == Frame{FramedLine{lines[i]}});
            else
                RC_ASSERT(std::holds_alternative<OverlongLine>(frames[i]));
        }
    });
}

TEST_CASE("the core is total over arbitrary input", "[props]") {
    rc::prop("any sequence of lines and events keeps responses within 512 "
             "octets and never crashes",
             [] {
                 Config config;
                 SessionState state = Idle{};
                 auto s0 = step(std::move(state), Event{Connected{"<1@h>"}}, config);
                 state = std::move(s0.state);
                 auto inputs = *rc::gen::container<std::vector<std::string>>(pop3ish_line());
                 for (const auto& line : inputs) {
                     auto s = step(std::move(state), FramedLine{line}, config);
                     state = std::move(s.state);
                     RC_ASSERT(s.responses.size() <= 1u);
                     for (const auto& r : s.responses) {
                         auto wire = render(r);
                         RC_ASSERT(wire.substr(0, wire.find("\r\n")).size() + 2 <= k_max_response_line);
                     }
                     // Answer effects as a shell would, accepting logins.
                     for (const auto& e : s.effects) {
                         if (std::holds_alternative<VerifyPassword>(e) ||
                             std::holds_alternative<VerifyApop>(e)) {
                             auto a = step(std::move(state),
                                           Event{AuthResult{AuthResult::Outcome::accepted, "u@d"}}, config);
                             state = std::move(a.state);
                             auto o = step(std::move(state),
                                           Event{MailboxOpened{make_snapshot({{5, "a"}, {7, "b"}})}}, config);
                             state = std::move(o.state);
                         }
                     }
                 }
             });
}
