// Unit tests for login name validation and the default-domain rule.
#include <catch2/catch.hpp>

#include <string>

#include "pop3/core/login_name.hpp"

using pop3::core::LoginName;
using pop3::core::parse_login;

namespace {

LoginName login_of(std::string_view login, std::string_view default_domain)
{
    const auto parsed = parse_login(login, default_domain);
    REQUIRE(parsed.has_value());
    return *parsed;
}

std::string error_of(std::string_view login, std::string_view default_domain)
{
    const auto parsed = parse_login(login, default_domain);
    REQUIRE_FALSE(parsed.has_value());
    return parsed.error();
}

} // namespace

TEST_CASE("A user@domain login splits into local part and domain",
          "[login_name]")
{
    const auto name = login_of("alice@example.com", "");
    CHECK(name.local == "alice");
    CHECK(name.domain == "example.com");
    CHECK(name.full() == "alice@example.com");
}

TEST_CASE("A login without '@' takes the default domain", "[login_name]")
{
    const auto name = login_of("alice", "example.com");
    CHECK(name.local == "alice");
    CHECK(name.domain == "example.com");
    CHECK(name.full() == "alice@example.com");
}

TEST_CASE("An explicit domain wins over the default domain", "[login_name]")
{
    CHECK(login_of("alice@other.org", "example.com").domain == "other.org");
}

TEST_CASE("A login without '@' and without a default domain is an error",
          "[login_name]")
{
    CHECK(error_of("alice", "") ==
          "no domain given and no default domain configured");
}

TEST_CASE("The login is split at the last '@'", "[login_name]")
{
    const auto name = login_of("a@b@example.com", "");
    CHECK(name.local == "a@b");
    CHECK(name.domain == "example.com");
}

TEST_CASE("Both parts are lower-cased, as Dovecot's %Lu default does",
          "[login_name]")
{
    const auto name = login_of("Alice.Smith@EXAMPLE.Com", "");
    CHECK(name.local == "alice.smith");
    CHECK(name.domain == "example.com");
    CHECK(login_of("Bob", "Example.ORG").domain == "example.org");
}

TEST_CASE("Ordinary mailbox characters are accepted", "[login_name]")
{
    CHECK(login_of("first.last+tag_1-x@mail-1.example.co.uk", "").local ==
          "first.last+tag_1-x");
    CHECK(login_of("a.@d", "").local == "a.");
    CHECK(login_of("a..b@d", "").local == "a..b");
    // UTF-8 (RFC 6856) passes through untouched.
    CHECK(login_of("j\xC3\xBCrgen@d", "").local == "j\xC3\xBCrgen");
}

TEST_CASE("The longest local part and domain are accepted", "[login_name]")
{
    const std::string local(64, 'a');
    const std::string domain(253, 'b');
    const auto name = login_of(local + "@" + domain, "");
    CHECK(name.local == local);
    CHECK(name.domain == domain);
}

TEST_CASE("Empty parts are rejected", "[login_name]")
{
    CHECK(error_of("", "example.com") == "user name is empty");
    CHECK(error_of("", "") ==
          "no domain given and no default domain configured");
    CHECK(error_of("@example.com", "") == "user name is empty");
    CHECK(error_of("alice@", "") == "domain is empty");
    CHECK(error_of("alice@", "example.com") == "domain is empty");
    CHECK(error_of("@", "") == "user name is empty");
}

TEST_CASE("Over-long parts are rejected", "[login_name]")
{
    CHECK(error_of(std::string(65, 'a') + "@d", "") ==
          "user name is longer than 64 octets");
    CHECK(error_of("a@" + std::string(254, 'd'), "") ==
          "domain is longer than 253 octets");
}

TEST_CASE("Dot and dot-dot are rejected in either part", "[login_name]")
{
    CHECK(error_of(".@d", "") == "user name is '.'");
    CHECK(error_of("..@d", "") == "user name is '..'");
    CHECK(error_of("a@.", "") == "domain is '.'");
    CHECK(error_of("a@..", "") == "domain is '..'");
    CHECK(error_of("..", "example.com") == "user name is '..'");
}

TEST_CASE("A leading dot is rejected in either part", "[login_name]")
{
    CHECK(error_of(".hidden@d", "") == "user name starts with '.'");
    CHECK(error_of("a@.example.com", "") == "domain starts with '.'");
    CHECK(error_of("...@d", "") == "user name starts with '.'");
}

TEST_CASE("Slashes are rejected in either part", "[login_name]")
{
    CHECK(error_of("a/b@d", "") == "user name contains '/'");
    CHECK(error_of("../../etc/passwd@d", "") == "user name starts with '.'");
    CHECK(error_of("x/../../etc@d", "") == "user name contains '/'");
    CHECK(error_of("a@d/e", "") == "domain contains '/'");
    CHECK(error_of("a\\b@d", "") == "user name contains '\\'");
    CHECK(error_of("a@d\\e", "") == "domain contains '\\'");
}

TEST_CASE("A percent sign is rejected in either part", "[login_name]")
{
    CHECK(error_of("%s%n@d", "") == "user name contains '%'");
    CHECK(error_of("a@%d", "") == "domain contains '%'");
}

TEST_CASE("NUL bytes are rejected in either part", "[login_name]")
{
    using namespace std::string_literals;
    CHECK(error_of("a\0b@d"s, "") == "user name contains a NUL byte");
    CHECK(error_of("a@d\0"s, "") == "domain contains a NUL byte");
}

TEST_CASE("Control bytes are rejected in either part", "[login_name]")
{
    CHECK(error_of("a\tb@d", "") == "user name contains a control character");
    CHECK(error_of("a\rb@d", "") == "user name contains a control character");
    CHECK(error_of("a\nb@d", "") == "user name contains a control character");
    CHECK(error_of("a\x1f@d", "") == "user name contains a control character");
    CHECK(error_of("a\x7f@d", "") == "user name contains a control character");
    CHECK(error_of("a@d\x1b", "") == "domain contains a control character");
}

TEST_CASE("Spaces are rejected in either part", "[login_name]")
{
    CHECK(error_of("a b@d", "") == "user name contains a space");
    CHECK(error_of(" a@d", "") == "user name contains a space");
    CHECK(error_of("a@d ", "") == "domain contains a space");
}

TEST_CASE("A bad default domain is rejected like a given one",
          "[login_name]")
{
    CHECK(error_of("alice", "../x") == "domain starts with '.'");
    CHECK(error_of("alice", "a/b") == "domain contains '/'");
}

TEST_CASE("Error texts do not quote the login", "[login_name]")
{
    CHECK(error_of("secretname/x@d", "").find("secretname") ==
          std::string::npos);
}
