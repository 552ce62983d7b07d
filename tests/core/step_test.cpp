// The session state machine, command by command and state by state.
#include <catch2/catch.hpp>

#include "session_driver.hpp"

using namespace pop3::core;
using pop3::test::SessionDriver;

TEST_CASE("the greeting carries the APOP timestamp", "[step]") {
    SessionDriver d;
    CHECK(d.event(Connected{"<42.1700000000@host>"}) ==
          "+OK POP3 server ready <42.1700000000@host>\r\n");
    SessionDriver no_apop;
    no_apop.config.apop = false;
    CHECK(no_apop.event(Connected{"<1@h>"}) == "+OK POP3 server ready\r\n");
    CHECK_THAT(no_apop.line("APOP u 0123456789abcdef0123456789abcdef"),
               Catch::Contains("APOP is not available"));
}

TEST_CASE("USER then PASS asks the shell to verify, then open the mailbox",
          "[step]") {
    SessionDriver d;
    d.event(Connected{""});
    CHECK(d.line("USER alice@example.org") ==
          "+OK send PASS for alice@example.org\r\n");
    CHECK(d.line("PASS s3cret") == "");
    REQUIRE(d.effects.size() == 1);
    CHECK(d.effects[0] == Effect{VerifyPassword{"alice@example.org", "s3cret"}});
    d.event(AuthResult{AuthResult::Outcome::accepted, "alice@example.org"});
    CHECK(d.effects[0] == Effect{OpenMailbox{"alice@example.org"}});
    CHECK(d.event(MailboxOpened{make_snapshot({{10, "a"}, {20, "b"}})}) ==
          "+OK alice@example.org has 2 messages (30 octets)\r\n");
    CHECK(state_name(d.state) == "TRANSACTION");
}

TEST_CASE("PASS without USER and transaction commands before login are -ERR",
          "[step]") {
    SessionDriver d;
    d.event(Connected{""});
    CHECK(d.line("PASS x") == "-ERR send USER before PASS\r\n");
    CHECK_THAT(d.line("STAT"), Catch::Contains("-ERR STAT is only valid after login"));
    CHECK_THAT(d.line("NOOP"), Catch::Contains("-ERR NOOP is only valid after login"));
    CHECK(d.effects.empty());
}

TEST_CASE("failed logins cost one attempt each and end the session at the limit",
          "[step]") {
    SessionDriver d;
    d.config.max_auth_failures = 2;
    d.event(Connected{""});
    d.line("USER a@b");
    d.line("PASS wrong");
    CHECK(d.event(AuthResult{AuthResult::Outcome::rejected, ""}) ==
          "-ERR [AUTH] invalid user name or password\r\n");
    CHECK_FALSE(d.closed());
    CHECK_THAT(d.line("PASS again"), Catch::Contains("send USER before PASS"));
    d.line("USER a@b");
    d.line("PASS wrong");
    CHECK_THAT(d.event(AuthResult{AuthResult::Outcome::rejected, ""}),
               Catch::StartsWith("-ERR [AUTH]") && Catch::Contains("closing"));
    CHECK(d.closed());
    CHECK(d.effects == std::vector<Effect>{Close{}});
}

TEST_CASE("an unavailable password database is [SYS/TEMP] and no failure",
          "[step]") {
    SessionDriver d;
    d.config.max_auth_failures = 1;
    d.event(Connected{""});
    d.line("USER a@b");
    d.line("PASS x");
    CHECK_THAT(d.event(AuthResult{AuthResult::Outcome::unavailable, ""}),
               Catch::StartsWith("-ERR [SYS/TEMP]"));
    CHECK_FALSE(d.closed());
}

TEST_CASE("a mailbox that cannot be opened is refused with its code", "[step]") {
    SessionDriver d;
    d.event(Connected{""});
    d.line("USER a@b");
    d.line("PASS x");
    d.event(AuthResult{AuthResult::Outcome::accepted, "a@b"});
    CHECK(d.event(MailboxFailed{RespCode::sys_temp, "mailbox unreadable"}) ==
          "-ERR [SYS/TEMP] mailbox unreadable\r\n");
    CHECK(state_name(d.state) == "AUTHORIZATION");
}

TEST_CASE("STAT, LIST and UIDL agree and skip deleted messages", "[step]") {
    SessionDriver d;
    d.login({100, 200, 300});
    CHECK(d.line("STAT") == "+OK 3 600\r\n");
    CHECK(d.line("DELE 2") == "+OK message 2 deleted\r\n");
    CHECK(d.line("STAT") == "+OK 2 400\r\n");
    CHECK(d.line("LIST") ==
          "+OK 2 messages (400 octets)\r\n1 100\r\n3 300\r\n.\r\n");
    CHECK(d.line("UIDL") == "+OK unique-id listing follows\r\n1 u1\r\n3 u3\r\n.\r\n");
    CHECK(d.line("LIST 3") == "+OK 3 300\r\n");
    CHECK(d.line("UIDL 1") == "+OK 1 u1\r\n");
    CHECK(d.line("LIST 2") == "-ERR message 2 is deleted\r\n");
    CHECK(d.line("DELE 2") == "-ERR message 2 is deleted\r\n");
    CHECK(d.line("RETR 4") == "-ERR no message 4; the mailbox has 3 messages\r\n");
    CHECK(d.line("RSET") == "+OK maildrop has 3 messages (600 octets)\r\n");
}

TEST_CASE("RETR and TOP ask the shell to send; TOP never marks seen", "[step]") {
    SessionDriver d;
    d.login({100, 200});
    CHECK(d.line("RETR 2") == "");
    REQUIRE(d.effects.size() == 1);
    auto send = std::get<SendMessage>(d.effects[0]);
    CHECK(send.index == 1);
    CHECK(send.size == 200);
    CHECK(send.mark_seen);
    CHECK_FALSE(send.top_lines);
    CHECK(render(send.status) == "+OK 200 octets\r\n");
    d.line("TOP 1 99999999");
    auto top = std::get<SendMessage>(d.effects[0]);
    CHECK(top.top_lines == std::optional<std::uint64_t>(99999999));
    CHECK_FALSE(top.mark_seen);
    d.config.mark_seen = false;
    d.line("RETR 1");
    CHECK_FALSE(std::get<SendMessage>(d.effects[0]).mark_seen);
}

TEST_CASE("a message expunged elsewhere is deleted and RSET cannot restore it",
          "[step]") {
    SessionDriver d;
    d.login({100, 200, 300});
    d.event(MessagesVanished{{0}});
    CHECK(d.line("STAT") == "+OK 2 500\r\n");
    CHECK(d.line("RETR 1") == "-ERR message 1 is deleted (removed by another client)\r\n");
    d.line("DELE 2");
    CHECK(d.line("RSET") == "+OK maildrop has 2 messages (500 octets)\r\n");
    d.line("DELE 3");
    CHECK(d.line("QUIT") == "");
    CHECK(d.effects == std::vector<Effect>{Update{{2}}});
}

TEST_CASE("a message that vanishes while being opened answers -ERR", "[step]") {
    SessionDriver d;
    d.login({100, 200});
    d.line("RETR 2");
    CHECK(d.event(MessageGone{1, true}) ==
          "-ERR message 2 is deleted (removed by another client)\r\n");
    CHECK(d.line("STAT") == "+OK 1 100\r\n");
    d.line("RETR 1");
    CHECK_THAT(d.event(MessageGone{0, false}), Catch::StartsWith("-ERR [SYS/TEMP]"));
    CHECK(d.line("STAT") == "+OK 1 100\r\n");
}

TEST_CASE("QUIT in TRANSACTION removes exactly the session's deletions", "[step]") {
    SessionDriver d;
    d.login({1, 2, 3, 4});
    d.line("DELE 1");
    d.line("DELE 3");
    CHECK(d.line("QUIT") == "");
    CHECK(d.effects == std::vector<Effect>{Update{{0, 2}}});
    CHECK(d.event(Updated{1, 1, 0}) ==
          "+OK pop3d signing off (2 messages deleted)\r\n");
    CHECK(d.effects == std::vector<Effect>{Close{}});
    CHECK(d.closed());
}

TEST_CASE("a failed removal answers QUIT with -ERR [SYS/TEMP]", "[step]") {
    SessionDriver d;
    d.login({1});
    d.line("DELE 1");
    d.line("QUIT");
    CHECK_THAT(d.event(Updated{0, 0, 1}),
               Catch::StartsWith("-ERR [SYS/TEMP] some deleted messages not removed"));
}

TEST_CASE("timeout and hangup end the session without an update", "[step]") {
    SessionDriver d;
    d.login({1});
    d.line("DELE 1");
    CHECK(d.event(Timeout{}) == ""); // RFC 1939 section 3: no response
    CHECK(d.effects == std::vector<Effect>{Close{}});
    CHECK(d.closed());
    SessionDriver h;
    h.login({1});
    h.line("DELE 1");
    CHECK(h.event(Hangup{}) == "");
    CHECK(h.effects.empty());
    CHECK(h.closed());
}

TEST_CASE("QUIT in AUTHORIZATION signs off without an update", "[step]") {
    SessionDriver d;
    d.event(Connected{""});
    CHECK(d.line("QUIT") == "+OK pop3d signing off\r\n");
    CHECK(d.effects == std::vector<Effect>{Close{}});
}

TEST_CASE("ten consecutive bad commands end the session; a good one resets",
          "[step]") {
    SessionDriver d;
    d.login({1});
    for (int i = 0; i < 9; ++i) d.line("BOGUS");
    CHECK(d.line("NOOP") == "+OK\r\n");
    for (int i = 0; i < 9; ++i) {
        d.line("RETR 0");
        CHECK_FALSE(d.closed());
    }
    CHECK_THAT(d.line("XYZ"), Catch::Contains("too many bad commands"));
    CHECK(d.closed());
}

TEST_CASE("an overlong line is -ERR and the session goes on", "[step]") {
    SessionDriver d;
    d.login({1});
    CHECK_THAT(d.input(OverlongLine{1000}), Catch::StartsWith("-ERR command line too long"));
    CHECK(d.line("STAT") == "+OK 1 1\r\n");
}

TEST_CASE("CAPA is the same before and after login", "[step]") {
    SessionDriver d;
    d.event(Connected{""});
    auto before = d.line("CAPA");
    CHECK(before ==
          "+OK capability list follows\r\nTOP\r\nUSER\r\nUIDL\r\nRESP-CODES\r\n"
          "AUTH-RESP-CODE\r\nPIPELINING\r\nEXPIRE NEVER\r\nLOGIN-DELAY 0\r\n"
          "SASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256\r\n"
          "IMPLEMENTATION pop3d\r\n.\r\n");
    d.line("USER a@b");
    d.line("PASS x");
    d.event(AuthResult{AuthResult::Outcome::accepted, "a@b"});
    d.event(MailboxOpened{make_snapshot({})});
    CHECK(d.line("CAPA") == before);
}

TEST_CASE("login commands after login are -ERR", "[step]") {
    SessionDriver d;
    d.login({1});
    CHECK_THAT(d.line("USER x"), Catch::Contains("already logged in"));
    CHECK_THAT(d.line("PASS x"), Catch::Contains("already logged in"));
}

TEST_CASE("responses never exceed 512 octets", "[response]") {
    auto wire = render(err(std::string(1000, 'x')));
    CHECK(wire.size() == 512);
    CHECK(wire.substr(510) == "\r\n");
    CHECK(render(ok("a\r\nb")) == "+OK a  b\r\n");
}

TEST_CASE("refusals about missing messages never end the session", "[step]") {
    SessionDriver d;
    d.login({1, 2});
    d.event(MessagesVanished{{0, 1}});
    for (int i = 0; i < 30; ++i) {
        CHECK_THAT(d.line("RETR 1"), Catch::StartsWith("-ERR message 1 is deleted"));
        CHECK_THAT(d.line("LIST 9"), Catch::StartsWith("-ERR no message 9"));
    }
    CHECK_FALSE(d.closed());
    CHECK(d.line("STAT") == "+OK 0 0\r\n");
}
