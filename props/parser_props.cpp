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
} // namespace

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
