// The Dovecot options (issue 13): --auth, --userdb and --auth-timeout;
// --conduct-report (issue 18).
#include <catch2/catch.hpp>

#include "options.hpp"

using pop3::shell::Options;
using pop3::shell::parse_options;

namespace {
tl::expected<Options, std::string> parse(std::vector<std::string_view> args) {
    return parse_options(args, [](const char*) { return std::optional<std::string>(); });
}
} // namespace

TEST_CASE("--auth and --userdb take dovecot: and an absolute socket path", "[options]") {
    auto o = parse({"--auth", "dovecot:/run/dovecot/auth-client", "--userdb=dovecot:/run/u"});
    REQUIRE(o);
    CHECK(o->dovecot_auth == "/run/dovecot/auth-client");
    CHECK(o->dovecot_userdb == "/run/u");
    CHECK(o->auth_timeout_seconds == 30);
    auto back = parse({"--auth", "dovecot:/s", "--auth", "passwd-file"});
    REQUIRE(back);
    CHECK(back->dovecot_auth.empty());
    CHECK(parse({}).value().dovecot_auth.empty());
}

TEST_CASE("malformed Dovecot options are refused with the option named", "[options]") {
    CHECK_THAT(parse({"--auth", "dovecot:relative"}).error(), Catch::Contains("--auth"));
    CHECK_THAT(parse({"--auth", "ldap:/x"}).error(), Catch::Contains("dovecot:"));
    CHECK_THAT(parse({"--userdb", "passwd-file"}).error(), Catch::Contains("--userdb"));
    CHECK_FALSE(parse({"--userdb"}));
    CHECK(parse({"--auth-timeout", "5"}).value().auth_timeout_seconds == 5);
    CHECK_FALSE(parse({"--auth-timeout", "0"}));
    CHECK_FALSE(parse({"--auth-timeout", "3601"}));
}

TEST_CASE("--conduct-report is off unless given, and takes no value", "[options]") {
    CHECK_FALSE(parse({}).value().conduct_report);
    CHECK(parse({"--conduct-report"}).value().conduct_report);
    CHECK_FALSE(parse({"--conduct-report=yes"}));
}

TEST_CASE("--scenario takes a file name; main() loads it", "[options]") {
    auto o = parse({"--scenario", "share/scenarios/slow-server.scenario"});
    REQUIRE(o);
    CHECK(o->scenario_file == "share/scenarios/slow-server.scenario");
    CHECK(o->scenario == nullptr);
    CHECK(parse({}).value().scenario_file.empty());
    CHECK_THAT(parse({"--scenario", ""}).error(), Catch::Contains("--scenario: empty file name"));
    CHECK_THAT(parse({"--scenario"}).error(), Catch::Contains("--scenario: missing value"));
}
