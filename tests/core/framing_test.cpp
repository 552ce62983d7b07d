// Line framing: CRLF and LF ends, split input, overlong lines never executed.
#include <catch2/catch.hpp>

#include "pop3/core/framing.hpp"

using namespace pop3::core;

TEST_CASE("CRLF and bare LF both end a line", "[framing]") {
    LineFramer f;
    f.feed("STAT\r\nNOOP\nQU");
    CHECK(f.next() == std::optional<Frame>(FramedLine{"STAT"}));
    CHECK(f.next() == std::optional<Frame>(FramedLine{"NOOP"}));
    CHECK_FALSE(f.next());
    f.feed("IT\r");
    CHECK_FALSE(f.next());
    f.feed("\n");
    CHECK(f.next() == std::optional<Frame>(FramedLine{"QUIT"}));
    CHECK(f.pending() == 0);
}

TEST_CASE("the framer tells which lines ended in a bare LF", "[framing]") {
    LineFramer f;
    f.feed("STAT\r\nNOOP\n\nQUIT\r\n");
    REQUIRE(f.next());
    CHECK_FALSE(f.last_bare_lf());
    REQUIRE(f.next());
    CHECK(f.last_bare_lf());
    REQUIRE(f.next()); // an empty line, LF alone
    CHECK(f.last_bare_lf());
    REQUIRE(f.next());
    CHECK_FALSE(f.last_bare_lf());
}

TEST_CASE("a line of exactly 255 octets with CRLF is accepted", "[framing]") {
    LineFramer f;
    f.feed(std::string(253, 'a') + "\r\n" + std::string(253, 'b') + "\n");
    CHECK(f.next() == std::optional<Frame>(FramedLine{std::string(253, 'a')}));
    CHECK(f.next() == std::optional<Frame>(FramedLine{std::string(253, 'b')}));
}

TEST_CASE("an overlong line is reported once and its tail is not executed",
          "[framing]") {
    LineFramer f;
    f.feed(std::string(254, 'a') + "\r\nNOOP\r\n");
    CHECK(f.next() == std::optional<Frame>(OverlongLine{256}));
    CHECK(f.next() == std::optional<Frame>(FramedLine{"NOOP"}));

    LineFramer g;
    for (int i = 0; i < 1000; ++i) g.feed(std::string(1000, 'x'));
    CHECK_FALSE(g.next());
    CHECK(g.pending() < k_max_command_line); // bounded buffering
    g.feed("RETR 1\r\nSTAT\r\n");
    auto first = g.next();
    REQUIRE(first);
    CHECK(std::holds_alternative<OverlongLine>(*first));
    CHECK(g.next() == std::optional<Frame>(FramedLine{"STAT"}));
}

TEST_CASE("clear drops pipelined bytes", "[framing]") {
    LineFramer f;
    f.feed("STLS\r\nUSER evil\r\n");
    CHECK(f.next() == std::optional<Frame>(FramedLine{"STLS"}));
    f.clear();
    CHECK_FALSE(f.next());
}
