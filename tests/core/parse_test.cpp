// Command parsing: every RFC 1939 command, and every way a line can be wrong.
#include <catch2/catch.hpp>

#include "pop3/core/command.hpp"

using namespace pop3::core;

namespace {
Command parsed(std::string_view line) {
    auto c = parse_command(line);
    INFO(line);
    REQUIRE(c.has_value());
    return *c;
}
std::string error_of(std::string_view line) {
    auto c = parse_command(line);
    INFO(line);
    REQUIRE_FALSE(c.has_value());
    return c.error().message;
}
} // namespace

TEST_CASE("every RFC 1939 command parses, keywords in any case", "[parse]") {
    CHECK(parsed("USER alice@example.org") == Command{User{"alice@example.org"}});
    CHECK(parsed("pass secret with spaces") == Command{Pass{"secret with spaces"}});
    CHECK(parsed("APOP mrose c4c9334bac560ecc979e58001b3e22fb") ==
          Command{Apop{"mrose", "c4c9334bac560ecc979e58001b3e22fb"}});
    CHECK(parsed("APOP mrose C4C9334BAC560ECC979E58001B3E22FB") ==
          Command{Apop{"mrose", "c4c9334bac560ecc979e58001b3e22fb"}});
    CHECK(parsed("QuIt") == Command{Quit{}});
    CHECK(parsed("STAT") == Command{Stat{}});
    CHECK(parsed("LIST") == Command{List{std::nullopt}});
    CHECK(parsed("list 7") == Command{List{7}});
    CHECK(parsed("RETR 1") == Command{Retr{1}});
    CHECK(parsed("DELE 4294967295") == Command{Dele{4294967295u}});
    CHECK(parsed("NOOP") == Command{Noop{}});
    CHECK(parsed("RSET") == Command{Rset{}});
    CHECK(parsed("TOP 1 0") == Command{Top{1, 0}});
    CHECK(parsed("UIDL") == Command{Uidl{std::nullopt}});
    CHECK(parsed("UIDL 2") == Command{Uidl{2}});
    CHECK(parsed("CAPA") == Command{Capa{}});
}

TEST_CASE("TOP accepts any line count, however large", "[parse]") {
    CHECK(parsed("TOP 3 99999999") == Command{Top{3, 99999999}});
    CHECK(parsed("TOP 3 99999999999999999999999") == Command{Top{3, UINT64_MAX}});
    CHECK_THAT(error_of("TOP 3 -1"), Catch::Contains("invalid line count"));
    CHECK_THAT(error_of("TOP 3"), Catch::Contains("usage: TOP msg lines"));
}

TEST_CASE("bad message numbers are clean errors that say why", "[parse]") {
    CHECK(error_of("RETR 0") == "no message 0; messages are numbered from 1");
    CHECK_THAT(error_of("RETR -1"), Catch::Contains("invalid message number \"-1\""));
    CHECK_THAT(error_of("RETR +1"), Catch::Contains("invalid message number"));
    CHECK_THAT(error_of("RETR 1x"), Catch::Contains("invalid message number \"1x\""));
    CHECK_THAT(error_of("RETR 99999999999999999999"), Catch::Contains("number too large"));
    CHECK_THAT(error_of("RETR 4294967296"), Catch::Contains("number too large"));
    CHECK(error_of("RETR") == "wrong arguments; usage: RETR msg");
    CHECK(error_of("RETR 1 2") == "wrong arguments; usage: RETR msg");
    CHECK_THAT(error_of("LIST 1 2"), Catch::Contains("usage: LIST [msg]"));
}

TEST_CASE("spacing must be single spaces", "[parse]") {
    CHECK_THAT(error_of("RETR  1"), Catch::Contains("empty argument"));
    CHECK_THAT(error_of("RETR 1 "), Catch::Contains("empty argument"));
    CHECK_THAT(error_of("LIST "), Catch::Contains("empty argument"));
    CHECK_THAT(error_of(" RETR 1"), Catch::Contains("starts with a space"));
}

TEST_CASE("arguments to argument-less commands are refused", "[parse]") {
    CHECK(error_of("STAT 1") == "STAT takes no arguments");
    CHECK(error_of("QUIT now") == "QUIT takes no arguments");
}

TEST_CASE("unknown commands, NUL and control bytes are refused", "[parse]") {
    CHECK(error_of("XYZZY") == "unknown command \"XYZZY\"");
    CHECK(error_of("") == "empty command line");
    CHECK(error_of(std::string_view("US\0R a", 6)) == "NUL byte in command line");
    CHECK(error_of("USER \x01") == "control character in command line");
    CHECK(error_of("USER a\x7f") == "control character in command line");
    CHECK(error_of("APOP mrose xyz") == "APOP digest must be 32 hexadecimal digits");
    CHECK(error_of("APOP mrose c4c9334bac560ecc979e58001b3e22fb0") ==
          "APOP digest must be 32 hexadecimal digits");
    CHECK(error_of("APOP mrose c4c9334bac560ecc979e58001b3e22f") ==
          "APOP digest must be 32 hexadecimal digits");
    CHECK(error_of("APOP mrose c4c9334bac560ecc979e58001b3e22fg") ==
          "APOP digest must be 32 hexadecimal digits");
    CHECK_THAT(error_of("PASS"), Catch::Contains("password missing"));
}

TEST_CASE("a line over 253 octets (255 with CRLF) is refused", "[parse]") {
    CHECK(parse_command("USER " + std::string(200, 'a')).has_value());
    CHECK_THAT(error_of("USER " + std::string(201, 'a')), Catch::Contains("name too long"));
    CHECK(parse_command("PASS " + std::string(248, 'a')).has_value());
    CHECK_THAT(error_of("PASS " + std::string(249, 'a')), Catch::Contains("too long"));
}

TEST_CASE("commands print wire-like with secrets redacted", "[parse]") {
    std::ostringstream out;
    out << Command{Pass{"hunter2"}} << '|' << Command{Top{2, 5}} << '|'
        << Command{Apop{"u", "0123456789abcdef0123456789abcdef"}};
    CHECK(out.str() == "PASS ********|TOP 2 5|APOP u ********");
}

TEST_CASE("trace lines never show PASS or APOP secrets", "[parse]") {
    CHECK(redacted_line("pass hunter2 x") == "PASS ********");
    CHECK(redacted_line("APOP bob 0123456789abcdef0123456789abcdef") == "APOP bob ********");
    CHECK(redacted_line("RETR 0") == "RETR 0");
    CHECK(redacted_line("a\x01" "b") == "a?b");
    CHECK(redacted_line(" PASS hunter2") == "PASS ********");
    CHECK(redacted_line("PASS\thunter3") == "PASS ********");
    CHECK(redacted_line("passhunter4") == "pass ********");
    CHECK(redacted_line("AUTH PLAIN AGFsaWNlAHNlY3JldA==") == "AUTH PLAIN ********");
    CHECK(redacted_line("AUTH PLAIN AGFsaWNl AHNlY3JldA==") == "AUTH ********"); // 3 arguments
    CHECK(redacted_line("\x01\x02" "APOP u x") == "APOP ********");
    CHECK(redacted_line("AHBsYWluQGV4YW1wbGUub3JnAHB3") == "(base64 line, redacted)");
}
