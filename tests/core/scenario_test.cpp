// Scenario files: parsing, its errors and their line numbers, rendering, and
// which rules fire at which moment.
#include <catch2/catch.hpp>

#include "pop3/core/scenario.hpp"

using namespace pop3::core;

namespace {
Scenario parsed(std::string_view text) {
    auto s = parse_scenario(text);
    INFO((s ? std::string() : s.error().message));
    REQUIRE(s);
    return *s;
}

ScenarioError error_of(std::string_view text) {
    auto s = parse_scenario(text);
    REQUIRE_FALSE(s);
    return s.error();
}

std::vector<std::size_t> lines_fired(const Scenario& s, ScenarioProgress& progress,
                                     ScenarioMoment moment) {
    auto firing = fire(s, std::move(progress), moment);
    progress = std::move(firing.progress);
    std::vector<std::size_t> out;
    for (const auto& r : firing.rules) out.push_back(r.line);
    return out;
}

using Kind = ScenarioTrigger::Kind;
using Moment = ScenarioMoment::Kind;
} // namespace

TEST_CASE("a scenario of every trigger and action parses to its rules", "[scenario]") {
    auto s = parsed("# the expunge between LIST and RETR\n"
                    "\n"
                    "after LIST: expunge 2\n"
                    "before RETR 3: rename 3\r\n"
                    "  before command 4 : deliver\n"
                    "at login: -ERR [SYS/TEMP] try again in a minute\n"
                    "at connect: delay 250\n"
                    "after retr 1: cut 1000\n"
                    "before QUIT: close\n"
                    "after command 2: -ERR plain refusal: no code\n");
    REQUIRE(s.rules.size() == 8);
    CHECK(s.rules[0] == ScenarioRule{3, {Kind::after_verb, "LIST", std::nullopt, 0},
                                     ScenarioExpunge{2}});
    CHECK(s.rules[1] == ScenarioRule{4, {Kind::before_verb, "RETR", 3, 0}, ScenarioRename{3}});
    CHECK(s.rules[2] == ScenarioRule{5, {Kind::before_command, "", std::nullopt, 4},
                                     ScenarioDeliver{}});
    CHECK(s.rules[3] == ScenarioRule{6, {Kind::login, "", std::nullopt, 0},
                                     ScenarioRefuse{RespCode::sys_temp,
                                                    "try again in a minute"}});
    CHECK(s.rules[4].action == ScenarioAction{ScenarioDelay{250}});
    CHECK(s.rules[5].trigger.verb == "RETR"); // verbs in any case, as POP3's
    CHECK(s.rules[5].action == ScenarioAction{ScenarioCut{1000}});
    CHECK(s.rules[6].action == ScenarioAction{ScenarioClose{}});
    CHECK(s.rules[7].action ==
          ScenarioAction{ScenarioRefuse{RespCode::none, "plain refusal: no code"}});
}

TEST_CASE("an empty or all-comment file is a scenario without rules", "[scenario]") {
    CHECK(parsed("").rules.empty());
    CHECK(parsed("# nothing\n\n   # still nothing\n").rules.empty());
}

TEST_CASE("every mistake names its line and what was wrong", "[scenario]") {
    auto e = error_of("# ok\nafter LIST: expunge 2\nwhenever: expunge 1\n");
    CHECK(e.line == 3);
    CHECK(e.message.find("unknown trigger \"whenever\"") != std::string::npos);
    CHECK(error_of("after LIST expunge 2").message.find("no ':'") != std::string::npos);
    CHECK(error_of("before FROB: close").message.find("unknown POP3 verb \"FROB\"") !=
          std::string::npos);
    CHECK(error_of("before STAT 2: close").message.find("STAT takes no message number") !=
          std::string::npos);
    CHECK(error_of("before RETR 0: close").message.find("from 1 to") != std::string::npos);
    CHECK(error_of("before RETR 2x: close").message.find("\"2x\"") != std::string::npos);
    CHECK(error_of("before RETR 2 3: close").message.find("unexpected \"3\"") !=
          std::string::npos);
    CHECK(error_of("before command: close").message.find("one number K") != std::string::npos);
    CHECK(error_of("at dawn: close").message.find("connect or login") != std::string::npos);
    CHECK(error_of("after LIST: explode 2").message.find("unknown action \"explode\"") !=
          std::string::npos);
    CHECK(error_of("after LIST: expunge").message.find("expunge needs a number") !=
          std::string::npos);
    CHECK(error_of("after LIST: expunge 2 # why").message.find("unexpected \"#\"") !=
          std::string::npos);
    CHECK(error_of("after LIST: close now").message.find("unexpected \"now\"") !=
          std::string::npos);
    CHECK(error_of("after LIST: delay 60001").message.find("from 0 to 60000") !=
          std::string::npos);
    CHECK(error_of("after LIST: -ERR [BUSY] no").message.find("unknown response code [BUSY]") !=
          std::string::npos);
    CHECK(error_of("after LIST: -ERR [IN-USE]").message.find("needs a text") !=
          std::string::npos);
    CHECK(error_of("after LIST: -ERR [IN-USE").message.find("no closing ']'") !=
          std::string::npos);
    CHECK(error_of("after LIST: -ERR").message.find("needs a text") != std::string::npos);
    CHECK(error_of("after LIST: -ERR " + std::string(201, 'x')).message.find("longer than 200") !=
          std::string::npos);
    CHECK(error_of(": close").message.find("no trigger") != std::string::npos);
    CHECK(error_of("after LIST:").message.find("no action") != std::string::npos);
    CHECK(error_of("after LIST: close\x01").message.find("octet 0x01") != std::string::npos);
    CHECK(error_of("after LIST: -ERR caf\xc3\xa9").message.find("octet 0xC3") !=
          std::string::npos);
}

TEST_CASE("mailbox actions are refused on triggers before login", "[scenario]") {
    for (auto text : {"at connect: expunge 1", "at login: deliver", "before PASS: rename 1",
                      "after USER: expunge 1", "before AUTH: deliver", "after STLS: expunge 1"}) {
        INFO(text);
        auto e = error_of(text);
        CHECK(e.line == 1);
        CHECK(e.message.find("needs the mailbox") != std::string::npos);
    }
    // Refusals, delays and closing are fine there.
    CHECK(parsed("at login: -ERR [LOGIN-DELAY] wait\nat connect: delay 5\n"
                 "before USER: close\n")
              .rules.size() == 3);
}

TEST_CASE("limits: a long line, too many rules, too large a file", "[scenario]") {
    CHECK(error_of("#ok\nafter LIST: -ERR " + std::string(1000, 'x')).line == 2);
    std::string many;
    for (int i = 0; i < 1001; ++i) many += "after LIST: close\n";
    auto e = error_of(many);
    CHECK(e.line == 1001);
    CHECK(e.message.find("more than 1000 rules") != std::string::npos);
    std::string big(70'000, '\n');
    CHECK(error_of(big).line == 65'538); // its first line past 64 KiB
}

TEST_CASE("rendering gives the canonical line, which parses back", "[scenario]") {
    auto s = parsed("after   list :  expunge   2\nat login: -ERR [IN-USE]   busy  now  \n");
    CHECK(render(s.rules[0]) == "after LIST: expunge 2");
    CHECK(render(s.rules[1]) == "at login: -ERR [IN-USE] busy  now");
    auto again = parsed(render(s));
    REQUIRE(again.rules.size() == 2);
    CHECK(again.rules[0].action == s.rules[0].action);
    CHECK(again.rules[1] == ScenarioRule{2, s.rules[1].trigger, s.rules[1].action});
}

TEST_CASE("rules fire at their moment, once, in file order", "[scenario]") {
    auto s = parsed("at connect: delay 10\n"            // 1
                    "after LIST: expunge 2\n"            // 2
                    "before RETR 2: rename 2\n"          // 3
                    "before RETR: deliver\n"             // 4
                    "at login: -ERR [SYS/TEMP] later\n"  // 5
                    "after command 2: close\n"           // 6
                    "before command 1: cut 5\n");        // 7
    ScenarioProgress p;
    CHECK(lines_fired(s, p, {Moment::connect, 0, ""}) == std::vector<std::size_t>{1});
    CHECK(lines_fired(s, p, {Moment::connect, 0, ""}).empty()); // once
    CHECK(lines_fired(s, p, {Moment::before, 0, "USER a@b"}).empty());
    CHECK(lines_fired(s, p, {Moment::before, 0, "pass secret"}) ==
          std::vector<std::size_t>{5});
    CHECK(lines_fired(s, p, {Moment::before, 0, "PASS secret"}).empty());
    ScenarioProgress after_login; // the shell starts afresh at login
    CHECK(lines_fired(s, after_login, {Moment::before, 1, "LIST"}) ==
          std::vector<std::size_t>{7});
    CHECK(lines_fired(s, after_login, {Moment::after, 1, "LIST"}) ==
          std::vector<std::size_t>{2});
    CHECK(lines_fired(s, after_login, {Moment::before, 2, "RETR 1"}) ==
          std::vector<std::size_t>{4});
    CHECK(lines_fired(s, after_login, {Moment::after, 2, "RETR 1"}) ==
          std::vector<std::size_t>{6});
    CHECK(lines_fired(s, after_login, {Moment::before, 3, "RETR 02"}) ==
          std::vector<std::size_t>{3});
    CHECK(lines_fired(s, after_login, {Moment::before, 4, "RETR 2"}).empty());
}

TEST_CASE("a numbered verb trigger matches only that message number", "[scenario]") {
    auto s = parsed("before DELE 3: close\nafter TOP 1: close\n");
    ScenarioProgress p;
    CHECK(lines_fired(s, p, {Moment::before, 1, "DELE 2"}).empty());
    CHECK(lines_fired(s, p, {Moment::before, 1, "DELE"}).empty());
    CHECK(lines_fired(s, p, {Moment::before, 1, "DELE x"}).empty());
    CHECK(lines_fired(s, p, {Moment::after, 1, "DELE 3"}).empty());
    CHECK(lines_fired(s, p, {Moment::after, 2, "TOP 1 0"}) == std::vector<std::size_t>{2});
    CHECK(lines_fired(s, p, {Moment::before, 3, "DELE 3"}) == std::vector<std::size_t>{1});
}
