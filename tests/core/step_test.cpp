// The session state machine, command by command and state by state.
#include <catch2/catch.hpp>

#include "session_driver.hpp"

using namespace pop3::core;
using pop3::test::SessionDriver;

TEST_CASE("the greeting with APOP is the timestamp alone, after +OK and at the end",
          "[step]") {
    // BusyBox popmaildir looks for it right after "+OK ", curl only at the
    // end of the line: both find it only when it is the whole text.
    SessionDriver d;
    CHECK(d.event(Connected{"<42.1700000000123456789@host>"}) ==
          "+OK <42.1700000000123456789@host>\r\n");
    SessionDriver dovecot_form; // a service's challenge is placed the same way
    CHECK(dovecot_form.event(Connected{"<1f.2.65a0b1c2.0a1b@mail>"}) ==
          "+OK <1f.2.65a0b1c2.0a1b@mail>\r\n");
    SessionDriver no_apop;
    no_apop.config.apop = false;
    CHECK(no_apop.event(Connected{"<1@h>"}) == "+OK POP3 server ready\r\n");
    CHECK(no_apop.line("APOP u 0123456789abcdef0123456789abcdef") ==
          "-ERR APOP is not available on this server\r\n");
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
    CHECK(d.line("STAT") == "-ERR STAT is only valid after login (TRANSACTION state); "
                            "log in with USER and PASS first\r\n");
    CHECK(d.line("NOOP") == "-ERR NOOP is only valid after login (TRANSACTION state); "
                            "log in with USER and PASS first\r\n");
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
    CHECK(d.line("PASS again") == "-ERR send USER before PASS\r\n");
    d.line("USER a@b");
    d.line("PASS wrong");
    CHECK(d.event(AuthResult{AuthResult::Outcome::rejected, ""}) ==
          "-ERR [AUTH] invalid user name or password; too many failures, closing\r\n");
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
    CHECK(d.event(AuthResult{AuthResult::Outcome::unavailable, ""}) ==
          "-ERR [SYS/TEMP] authentication is temporarily unavailable; try again later\r\n");
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
    CHECK(d.event(MessageGone{0, false}) ==
          "-ERR [SYS/TEMP] message 1 cannot be read now; try again later\r\n");
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
    CHECK(d.event(Updated{0, 0, 1}) ==
          "-ERR [SYS/TEMP] some deleted messages not removed (1 of 1 failed)\r\n");
    CHECK(d.effects == std::vector<Effect>{Close{}});
    CHECK(d.closed());
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
    CHECK(d.line("XYZ") == "-ERR unknown command \"XYZ\"; too many bad commands, closing\r\n");
    CHECK(d.effects == std::vector<Effect>{Close{}});
    CHECK(d.closed());
}

TEST_CASE("an overlong line is -ERR and the session goes on", "[step]") {
    SessionDriver d;
    d.login({1});
    CHECK(d.input(OverlongLine{1000}) ==
          "-ERR command line too long; at most 255 octets including CRLF\r\n");
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
    CHECK(d.line("USER x") == "-ERR USER is only valid before login; already logged in\r\n");
    CHECK(d.line("PASS x") == "-ERR PASS is only valid before login; already logged in\r\n");
    CHECK(d.line("APOP x 0123456789abcdef0123456789abcdef") ==
          "-ERR APOP is only valid before login; already logged in\r\n");
    CHECK(d.line("AUTH PLAIN") == "-ERR AUTH is only valid before login; already logged in\r\n");
    CHECK(d.effects.empty());
    CHECK(state_name(d.state) == "TRANSACTION");
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
        CHECK(d.line("RETR 1") == "-ERR message 1 is deleted (removed by another client)\r\n");
        CHECK(d.line("LIST 9") == "-ERR no message 9; the mailbox has 2 messages\r\n");
    }
    CHECK_FALSE(d.closed());
    CHECK(d.line("STAT") == "+OK 0 0\r\n");
}

TEST_CASE("every kind of accepted command resets the bad-command count",
          "[step]") {
    const std::string good = GENERATE(as<std::string>{}, "STAT", "LIST", "LIST 1", "UIDL",
                                      "UIDL 1", "RETR 1", "TOP 1 0", "DELE 2", "RSET",
                                      "NOOP", "CAPA");
    INFO(good);
    SessionDriver d;
    d.login({1, 2});
    for (int i = 0; i < 9; ++i) d.line(i % 2 ? "BOGUS" : "TOP 1 5x");
    auto answer = d.line(good);
    CHECK(answer.rfind("-ERR", 0) != 0);
    for (int i = 0; i < 9; ++i) d.input(OverlongLine{300});
    CHECK_FALSE(d.closed());
    // A refusal about a message that is not there is not a bad command.
    d.event(MessagesVanished{{1}});
    CHECK(d.line("RETR 2") == "-ERR message 2 is deleted (removed by another client)\r\n");
    CHECK_FALSE(d.closed());
    CHECK(d.line("RETR 0") ==
          "-ERR no message 0; messages are numbered from 1; too many bad commands, closing\r\n");
    CHECK(d.closed());
}

TEST_CASE("every kind of accepted command resets the count before login", "[step]") {
    const std::string good = GENERATE(as<std::string>{}, "USER a@b", "CAPA", "AUTH");
    INFO(good);
    SessionDriver d;
    d.event(Connected{"", false, "seed"});
    for (int i = 0; i < 9; ++i) d.line("STAT");
    CHECK(d.line(good).rfind("+OK", 0) == 0);
    for (int i = 0; i < 9; ++i) d.line("XYZ");
    CHECK_FALSE(d.closed());
    CHECK(d.line("RETR 1") ==
          "-ERR RETR is only valid after login (TRANSACTION state); log in with USER and "
          "PASS first; too many bad commands, closing\r\n");
    CHECK(d.closed());
}

TEST_CASE("a limit of one bad command closes at the first", "[step]") {
    SessionDriver d;
    d.config.max_bad_commands = 1;
    d.login({1});
    CHECK(d.line("NOOP") == "+OK\r\n");
    d.line("XYZ");
    CHECK(d.closed());
}

TEST_CASE("each refusal carries the code RFC 2449 and RFC 3206 assign", "[step]") {
    SECTION("a mailbox that cannot be opened: the shell's code, rendered") {
        const auto code = GENERATE(RespCode::sys_temp, RespCode::sys_perm,
                                   RespCode::in_use, RespCode::login_delay);
        SessionDriver d;
        d.event(Connected{""});
        d.line("USER a@b");
        d.line("PASS x");
        d.event(AuthResult{AuthResult::Outcome::accepted, "a@b"});
        const std::string name(code_text(code));
        CHECK(d.event(MailboxFailed{code, "no"}) == "-ERR [" + name + "] no\r\n");
        CHECK(state_name(d.state) == "AUTHORIZATION");
        CHECK(d.effects.empty());
    }
    SECTION("[SYS/PERM] is not [SYS/TEMP]") {
        SessionDriver d;
        d.event(Connected{""});
        d.line("USER a@b");
        d.line("PASS x");
        d.event(AuthResult{AuthResult::Outcome::accepted, "a@b"});
        CHECK(d.event(MailboxFailed{RespCode::sys_perm, "mailbox is not a Maildir"}) ==
              "-ERR [SYS/PERM] mailbox is not a Maildir\r\n");
    }
    SECTION("wrong credentials are [AUTH], by every method") {
        SessionDriver d;
        d.config.max_auth_failures = 10;
        d.event(Connected{"<1.2@h>", false, "seed"});
        const std::string refusal = "-ERR [AUTH] invalid user name or password\r\n";
        d.line("USER a@b");
        d.line("PASS wrong");
        CHECK(d.event(AuthResult{AuthResult::Outcome::rejected, ""}) == refusal);
        d.line("APOP a@b 0123456789abcdef0123456789abcdef");
        CHECK(d.event(AuthResult{AuthResult::Outcome::rejected, ""}) == refusal);
        d.line("AUTH PLAIN " + std::string("AGFAYgB4")); // \0a@b\0x
        CHECK(d.event(AuthResult{AuthResult::Outcome::rejected, ""}) == refusal);
        d.line("AUTH CRAM-MD5");
        d.line("YUBiIDAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm"); // a@b <32 hex>
        REQUIRE(d.effects.size() == 1);
        CHECK(std::holds_alternative<VerifyCram>(d.effects[0]));
        CHECK(d.event(AuthResult{AuthResult::Outcome::rejected, ""}) == refusal);
        CHECK_FALSE(d.closed());
    }
    SECTION("a store or database that fails now is [SYS/TEMP]") {
        SessionDriver d;
        d.event(Connected{""});
        d.line("USER a@b");
        d.line("PASS x");
        CHECK(d.event(AuthResult{AuthResult::Outcome::unavailable, ""}).rfind(
                  "-ERR [SYS/TEMP] ", 0) == 0);
        SessionDriver t;
        t.login({1});
        t.line("RETR 1");
        CHECK(t.event(MessageGone{0, false}).rfind("-ERR [SYS/TEMP] ", 0) == 0);
        t.line("DELE 1");
        t.line("QUIT");
        CHECK(t.event(Updated{0, 0, 1}).rfind("-ERR [SYS/TEMP] ", 0) == 0);
    }
    SECTION("logins refused by the TLS policy are [AUTH]") {
        SessionDriver d;
        d.config.tls_available = true;
        d.event(Connected{"", false, "seed"});
        CHECK(d.line("USER a@b").rfind("-ERR [AUTH] ", 0) == 0);
        CHECK(d.line("AUTH PLAIN").rfind("-ERR [AUTH] ", 0) == 0);
        SessionDriver r;
        r.config.tls_available = true;
        r.config.tls_required = true;
        r.event(Connected{"<1.2@h>", false, "seed"});
        CHECK(r.line("APOP a 0123456789abcdef0123456789abcdef").rfind("-ERR [AUTH] ", 0) == 0);
        CHECK(r.line("AUTH SCRAM-SHA-1").rfind("-ERR [AUTH] ", 0) == 0);
    }
    SECTION("refusals that are not about credentials or the system carry none") {
        SessionDriver d;
        d.login({1});
        CHECK(d.line("RETR 2") == "-ERR no message 2; the mailbox has 1 message\r\n");
        CHECK(d.line("XYZ") == "-ERR unknown command \"XYZ\"\r\n");
        CHECK(d.event(MessageGone{0, true}) ==
              "-ERR message 1 is deleted (removed by another client)\r\n");
    }
}

// Fixed cases of the laws the RFC 1939 model checks at random, so that each
// is checked on every run, whatever the seed.
TEST_CASE("laws of the model, fixed cases", "[step][laws]") {
    SECTION("RSET restores every deleted message, the last one included") {
        SessionDriver d;
        d.login({10, 20, 30});
        d.line("DELE 3");
        d.line("DELE 1");
        CHECK(d.line("STAT") == "+OK 1 20\r\n");
        CHECK(d.line("RSET") == "+OK maildrop has 3 messages (60 octets)\r\n");
        CHECK(d.line("STAT") == "+OK 3 60\r\n");
        CHECK(d.line("LIST 3") == "+OK 3 30\r\n");
        CHECK(d.line("QUIT") == "");
        CHECK(d.effects == std::vector<Effect>{Update{{}}});
    }
    SECTION("a vanished message stays gone after RSET and is not in the update") {
        SessionDriver d;
        d.login({10, 20, 30});
        d.line("DELE 3");
        d.line("DELE 2");
        d.event(MessagesVanished{{2}});
        CHECK(d.line("STAT") == "+OK 1 10\r\n");
        CHECK(d.line("RSET") == "+OK maildrop has 2 messages (30 octets)\r\n");
        CHECK(d.line("RETR 3") == "-ERR message 3 is deleted (removed by another client)\r\n");
        d.line("DELE 2");
        d.event(MessagesVanished{{0, 7}}); // an index past the snapshot: ignored
        CHECK(d.line("STAT") == "+OK 0 0\r\n");
        d.line("QUIT");
        CHECK(d.effects == std::vector<Effect>{Update{{1}}});
    }
    SECTION("an empty listing is still terminated") {
        SessionDriver d;
        d.login({5});
        d.line("DELE 1");
        CHECK(d.line("LIST") == "+OK 0 messages (0 octets)\r\n.\r\n");
        CHECK(d.line("UIDL") == "+OK unique-id listing follows\r\n.\r\n");
        SessionDriver e;
        e.login({});
        CHECK(e.line("LIST") == "+OK 0 messages (0 octets)\r\n.\r\n");
        CHECK(e.line("STAT") == "+OK 0 0\r\n");
    }
    SECTION("deleting the last message and then every other") {
        SessionDriver d;
        d.login({1, 2, 3});
        CHECK(d.line("DELE 3") == "+OK message 3 deleted\r\n");
        CHECK(d.line("LIST") == "+OK 2 messages (3 octets)\r\n1 1\r\n2 2\r\n.\r\n");
        CHECK(d.line("DELE 1") == "+OK message 1 deleted\r\n");
        CHECK(d.line("DELE 2") == "+OK message 2 deleted\r\n");
        CHECK(d.line("DELE 3") == "-ERR message 3 is deleted\r\n");
        CHECK(d.line("QUIT") == "");
        CHECK(d.effects == std::vector<Effect>{Update{{0, 1, 2}}});
        CHECK(d.event(Updated{2, 1, 0}) == "+OK pop3d signing off (3 messages deleted)\r\n");
    }
    SECTION("one message, singular") {
        SessionDriver d;
        CHECK(d.login({1}) == "+OK alice@example.org has 1 message (1 octet)\r\n");
        d.line("RETR 1");
        CHECK(std::get<SendMessage>(d.effects[0]).status == ok("1 octet"));
        d.line("DELE 1");
        d.line("QUIT");
        CHECK(d.event(Updated{1, 0, 0}) == "+OK pop3d signing off (1 message deleted)\r\n");
    }
    SECTION("TOP of the last message asks for that message and that many lines") {
        SessionDriver d;
        d.login({7, 8});
        CHECK(d.line("TOP 2 3") == "");
        CHECK(d.effects == std::vector<Effect>{SendMessage{1, 8, 3, false,
                                                           ok("top of message 2 follows")}});
        CHECK(d.line("TOP 3 0") == "-ERR no message 3; the mailbox has 2 messages\r\n");
    }
}

TEST_CASE("effects and events print like transcripts", "[effect]") {
    std::ostringstream out;
    out << Effect{SendMessage{1, 8, 3, false, ok("")}} << '|'
        << Effect{SendMessage{0, 8, std::nullopt, true, ok("")}} << '|'
        << Effect{Update{{0, 2}}} << '|' << Effect{VerifyPassword{"a@b", "pw"}} << '|'
        << Effect{FetchScramCredentials{Mechanism::scram_sha1, "a@b"}} << '|'
        << Effect{Close{}} << '|' << Event{MessagesVanished{{4}}} << '|'
        << Event{AuthResult{AuthResult::Outcome::rejected, ""}} << '|'
        << Event{AuthResult{AuthResult::Outcome::unavailable, ""}} << '|'
        << Event{MessageGone{2, true}} << '|' << Event{Updated{1, 2, 3}} << '|'
        << Event{MailboxOpened{make_snapshot({{1, "a"}, {2, "b"}})}};
    CHECK(out.str() ==
          "send-top 2 3|send-message 1 +seen|update 1 3|verify-password a@b|"
          "fetch-scram-credentials SCRAM-SHA-1 a@b|close|vanished 5|auth-result rejected|"
          "auth-result unavailable|message-gone 3|updated 1 2 3|mailbox-opened 2");
}
