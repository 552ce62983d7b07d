// Multi-line bodies: stuffing, CRLF normalisation, TOP, and exact sizes.
#include <catch2/catch.hpp>

#include "pop3/core/dotstuff.hpp"

using namespace pop3::core;

TEST_CASE("LF lines become CRLF and leading dots are doubled", "[dotstuff]") {
    CHECK(stuff("a\n.b\n..c\r\n.\n") == "a\r\n..b\r\n...c\r\n..\r\n.\r\n");
    CHECK(stuff("") == ".\r\n");
    CHECK(stuff("no newline") == "no newline\r\n.\r\n");
    CHECK(stuff("cr\ralone\n") == "cr\ralone\r\n.\r\n");
}

TEST_CASE("chunk boundaries do not change the output", "[dotstuff]") {
    std::string message = "From: a\r\n\r\n.x\n.\r\nend";
    for (std::size_t cut = 0; cut <= message.size(); ++cut) {
        DotStuffer s;
        std::string out;
        s.feed(std::string_view(message).substr(0, cut), out);
        s.feed(std::string_view(message).substr(cut), out);
        s.finish(out);
        INFO(cut);
        CHECK(out == stuff(message));
    }
}

TEST_CASE("size counts CRLF octets without stuffing", "[dotstuff]") {
    CHECK(wire_size("a\nb\n") == 6);
    CHECK(wire_size("a\r\nb\r\n") == 6);
    CHECK(wire_size("a") == 3);
    CHECK(wire_size("") == 0);
    CHECK(wire_size(".\n") == 3);
    CHECK(unstuff(stuff(".\n..x\nend")).size() == wire_size(".\n..x\nend"));
}

TEST_CASE("TOP sends headers, the blank line and n body lines", "[dotstuff]") {
    std::string message = "H: 1\nH: 2\n\nb1\nb2\nb3\n";
    auto top = [&](std::uint64_t n) {
        TopLimiter limiter(n);
        auto len = limiter.accept(message);
        return stuff(std::string_view(message).substr(0, len));
    };
    CHECK(top(0) == "H: 1\r\nH: 2\r\n\r\n.\r\n");
    CHECK(top(2) == "H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\n.\r\n");
    CHECK(top(99999999) == stuff(message));
    TopLimiter crlf(1);
    std::string m2 = "H: 1\r\n\r\nb1\r\nb2\r\n";
    CHECK(crlf.accept(m2) == std::string("H: 1\r\n\r\nb1\r\n").size());
    CHECK(crlf.done());
}
