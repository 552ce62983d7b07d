// Unit tests for the Dovecot passwd-file line parser.
#include <catch2/catch.hpp>

#include "pop3/core/passwd_line.hpp"

using pop3::core::parse_passwd_line;
using pop3::core::PasswdEntry;

namespace {

PasswdEntry entry_of(std::string_view line)
{
    const auto parsed = parse_passwd_line(line);
    REQUIRE(parsed.has_value());
    REQUIRE(parsed->has_value());
    return **parsed;
}

std::string error_of(std::string_view line)
{
    const auto parsed = parse_passwd_line(line);
    REQUIRE_FALSE(parsed.has_value());
    return parsed.error();
}

bool is_no_entry(std::string_view line)
{
    const auto parsed = parse_passwd_line(line);
    return parsed.has_value() && !parsed->has_value();
}

} // namespace

TEST_CASE("A full passwd-file line yields every field pop3d uses",
          "[passwd_line]")
{
    const auto e = entry_of(
        "alice@example.com:{SHA512-CRYPT}$6$salt$hash:1000:1001:Alice "
        "A.:/home/alice:/bin/false:userdb_quota_rule=*:storage=1G");
    CHECK(e.user == "alice@example.com");
    CHECK(e.scheme == "SHA512-CRYPT");
    CHECK(e.secret == "$6$salt$hash");
    CHECK(e.uid == 1000u);
    CHECK(e.gid == 1001u);
    CHECK(e.home == "/home/alice");
}

TEST_CASE("A line with only user and password is an entry without ids",
          "[passwd_line]")
{
    const auto e = entry_of("bob@example.org:{PLAIN}secret");
    CHECK(e.user == "bob@example.org");
    CHECK(e.scheme == "PLAIN");
    CHECK(e.secret == "secret");
    CHECK_FALSE(e.uid.has_value());
    CHECK_FALSE(e.gid.has_value());
    CHECK(e.home.empty());
}

TEST_CASE("Empty optional fields are absent, not zero", "[passwd_line]")
{
    const auto e = entry_of("u@d:{PLAIN}x::::::");
    CHECK_FALSE(e.uid.has_value());
    CHECK_FALSE(e.gid.has_value());
    CHECK(e.home.empty());
}

TEST_CASE("A secret without a {SCHEME} prefix is CRYPT", "[passwd_line]")
{
    const auto e = entry_of("u@d:$1$abc$def:5:5");
    CHECK(e.scheme == "CRYPT");
    CHECK(e.secret == "$1$abc$def");
}

TEST_CASE("The scheme name is upper-cased and keeps its encoding suffix",
          "[passwd_line]")
{
    CHECK(entry_of("u@d:{ssha256}abc").scheme == "SSHA256");
    CHECK(entry_of("u@d:{Sha256.hex}abc").scheme == "SHA256.HEX");
    CHECK(entry_of("u@d:{argon2id}$argon2id$v=19").scheme == "ARGON2ID");
}

TEST_CASE("An empty password field is an entry with an empty CRYPT secret",
          "[passwd_line]")
{
    const auto e = entry_of("u@d::1:2");
    CHECK(e.scheme == "CRYPT");
    CHECK(e.secret.empty());
    CHECK(e.uid == 1u);
}

TEST_CASE("An empty secret after a scheme is kept empty", "[passwd_line]")
{
    const auto e = entry_of("u@d:{PLAIN}");
    CHECK(e.scheme == "PLAIN");
    CHECK(e.secret.empty());
}

TEST_CASE("Comment and blank lines are no entry", "[passwd_line]")
{
    CHECK(is_no_entry(""));
    CHECK(is_no_entry("\r"));
    CHECK(is_no_entry("   "));
    CHECK(is_no_entry("\t "));
    CHECK(is_no_entry("# a comment"));
    CHECK(is_no_entry("#u@d:{PLAIN}x"));
    CHECK(is_no_entry("   # indented comment"));
}

TEST_CASE("A trailing carriage return is not part of the last field",
          "[passwd_line]")
{
    CHECK(entry_of("u@d:{PLAIN}secret\r").secret == "secret");
    CHECK(entry_of("u@d:{PLAIN}x:1:2:g:/home/u\r").home == "/home/u");
}

TEST_CASE("Ids up to 4294967294 are accepted; 4294967295 ((uid_t)-1) is not",
          "[passwd_line]")
{
    const auto e = entry_of("u@d:{PLAIN}x:4294967294:0");
    CHECK(e.uid == 4294967294u);
    CHECK(e.gid == 0u);
    const auto bad = parse_passwd_line("u@d:{PLAIN}x:4294967295:1");
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error() == "uid field is 4294967295, which is not a valid id");
}

TEST_CASE("A line without a colon is an error", "[passwd_line]")
{
    CHECK(error_of("justauser") == "no ':' after the user name");
}

TEST_CASE("An empty user name is an error", "[passwd_line]")
{
    CHECK(error_of(":{PLAIN}x") == "user name is empty");
}

TEST_CASE("An unterminated scheme brace is an error", "[passwd_line]")
{
    CHECK(error_of("u@d:{SHA256abc") ==
          "password scheme has '{' but no closing '}'");
}

TEST_CASE("An empty scheme between braces is an error", "[passwd_line]")
{
    CHECK(error_of("u@d:{}abc") == "password scheme between '{}' is empty");
}

TEST_CASE("A scheme with odd characters is an error", "[passwd_line]")
{
    CHECK(error_of("u@d:{SHA 256}abc").starts_with(
        "password scheme contains a character"));
    CHECK(error_of("u@d:{SHA$}abc").starts_with(
        "password scheme contains a character"));
}

TEST_CASE("A uid that is not all digits is an error", "[passwd_line]")
{
    CHECK(error_of("u@d:{PLAIN}x:10a0") == "uid field is not a decimal number");
    CHECK(error_of("u@d:{PLAIN}x:-1") == "uid field is not a decimal number");
    CHECK(error_of("u@d:{PLAIN}x:+1") == "uid field is not a decimal number");
    CHECK(error_of("u@d:{PLAIN}x: 1") == "uid field is not a decimal number");
    CHECK(error_of("u@d:{PLAIN}x:1 ") == "uid field is not a decimal number");
    CHECK(error_of("u@d:{PLAIN}x:0x10") == "uid field is not a decimal number");
    CHECK(error_of("u@d:{PLAIN}x:vmail") == "uid field is not a decimal number");
}

TEST_CASE("A uid or gid over 32 bits is an error", "[passwd_line]")
{
    CHECK(error_of("u@d:{PLAIN}x:4294967296") ==
          "uid field is too large (over 4294967295)");
    CHECK(error_of("u@d:{PLAIN}x:1:99999999999999999999999") ==
          "gid field is too large (over 4294967295)");
}

TEST_CASE("A gid with junk is an error", "[passwd_line]")
{
    CHECK(error_of("u@d:{PLAIN}x:1:2x") == "gid field is not a decimal number");
}

TEST_CASE("Error texts never quote the fields, which may hold a secret",
          "[passwd_line]")
{
    // A plaintext password with a ':' in it shifts its tail into the uid.
    const auto error = error_of("u@d:{PLAIN}hunter:two:1000:1000");
    CHECK(error == "uid field is not a decimal number");
    CHECK(error.find("two") == std::string::npos);
    CHECK(error_of("u@d:{PLAIN}sec:4294967296x").find("4294967296") ==
          std::string::npos);
}
