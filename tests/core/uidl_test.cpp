// UIDL strings and Maildir names.
#include <catch2/catch.hpp>

#include "pop3/core/maildir_name.hpp"
#include "pop3/core/uidl.hpp"

using namespace pop3::core;

TEST_CASE("a Maildir base name that fits is its own UIDL", "[uidl]") {
    CHECK(maildir_base_name("1700000000.M1P2.host,S=120,W=123:2,S") ==
          "1700000000.M1P2.host");
    CHECK(uidl_for("1700000000.M1P2.host") == "1700000000.M1P2.host");
}

TEST_CASE("names that do not fit get a stable, valid, distinct UIDL", "[uidl]") {
    std::string long_name(100, 'a');
    auto u1 = uidl_for(long_name);
    auto u2 = uidl_for(long_name + "b");
    CHECK(u1 == uidl_for(long_name));
    CHECK(u1 != u2);
    CHECK(u1.size() <= 70);
    auto spaced = uidl_for("has space");
    CHECK(spaced.find(' ') == std::string::npos);
    for (char c : spaced + u1) CHECK((c >= 0x21 && c <= 0x7e));
}

TEST_CASE("Delivery microseconds come from M<digits> after the first dot",
          "[maildir_name]") {
    CHECK(delivery_microseconds("1700000000.M9P1.host") == 9u);
    CHECK(delivery_microseconds("1700000000.M465763P19320.vm") == 465763u);
    CHECK(delivery_microseconds("1700000000.M999999P1.h") == 999999u);
    CHECK(delivery_microseconds("1700000000.M1000000P1.h") == 0u); // 7 digits
    CHECK(delivery_microseconds("1700000000.MP1.host") == 0u);
    CHECK(delivery_microseconds("1700000000.12345.host") == 0u);
    CHECK(delivery_microseconds("1700000000.P1M9.host") == 0u);
    CHECK(delivery_microseconds("1700000000") == 0u);
    CHECK(delivery_microseconds("1700000000.") == 0u);
    CHECK(delivery_microseconds("") == 0u);
    CHECK(delivery_microseconds("x.M42") == 42u);
}

TEST_CASE("encoded UIDLs are pinned: upgrades must not change them", "[uidl]") {
    CHECK(uidl_for("has space") == "has_space~87b63736d4450349");
    CHECK(uidl_for(std::string(100, 'a')) ==
          std::string(53, 'a') + "~2885d0ac2e5a9d79");
    CHECK(uidl_for("x\x7fy") == "x_y~bfdfa91980149663");
    CHECK(uidl_for("") == "~cbf29ce484222325");
    CHECK(uidl_for(std::string(70, 'b')) == std::string(70, 'b'));
    CHECK(uidl_for(std::string(71, 'b')).size() == 70);
    CHECK(uidl_for("!~") == "!~");
}

TEST_CASE("a name shaped like another's encoded UIDL is encoded too", "[uidl]") {
    const std::string long_name(100, 'a');
    const auto encoded = uidl_for(long_name);
    // A file literally named like that must not share its UIDL.
    CHECK(uidl_for(encoded) == std::string(53, 'a') + "~53cc340aa2cc435d");
    CHECK(uidl_for(encoded) != encoded);
    // Only the exact shape: '~' and 16 lowercase hex digits at the end.
    CHECK(uidl_for("x~0123456789abcdeF") == "x~0123456789abcdeF");
    CHECK(uidl_for("x~0123456789abcde") == "x~0123456789abcde");
    CHECK(uidl_for("x-0123456789abcdef") == "x-0123456789abcdef");
    CHECK(uidl_for("x~0123456789abcdef") != "x~0123456789abcdef");
    CHECK(uidl_for("~0123456789abcdef") != "~0123456789abcdef");
}

TEST_CASE("Maildir names parse sizes and flags", "[maildir_name]") {
    auto n = parse_maildir_name("123.M1P2.h,S=1000,W=1020:2,RS");
    REQUIRE(n);
    CHECK(n->base == "123.M1P2.h");
    CHECK(n->size == 1000u);
    CHECK(n->vsize == 1020u);
    CHECK(n->flags == std::optional<std::string_view>("RS"));
    CHECK_FALSE(parse_maildir_name(".hidden"));
    CHECK_FALSE(parse_maildir_name(""));
    CHECK_FALSE(parse_maildir_name(",S=12"));
    auto bad = parse_maildir_name("x,W=12a");
    REQUIRE(bad);
    CHECK_FALSE(bad->vsize);
}

TEST_CASE("flags are added once and kept sorted", "[maildir_name]") {
    CHECK(with_flag("x", 'S') == "x:2,S");
    CHECK(with_flag("x:2,", 'S') == "x:2,S");
    CHECK(with_flag("x:2,FT", 'S') == "x:2,FST");
    CHECK(with_flag("x:2,S", 'S') == "x:2,S");
}
