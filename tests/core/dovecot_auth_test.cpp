// Dovecot's auth protocol lines (core/dovecot_auth.hpp): the forms observed
// from Dovecot 2.3.19, strictness, escaping, the handshake, the requests
// pop3d sends, APOP's challenge and data, and the userdb's mail location.
#include <catch2/catch.hpp>

#include "pop3/core/dovecot_auth.hpp"
#include "pop3/core/limits.hpp"

using namespace pop3::core;
using namespace pop3::core::dovecot;

TEST_CASE("the handshake Dovecot 2.3.19 sends parses line by line", "[dovecot]") {
    const char* lines[] = {"VERSION\t1\t2",
                           "MECH\tPLAIN\tplaintext",
                           "MECH\tLOGIN\tplaintext",
                           "MECH\tAPOP\tprivate\tdictionary\tactive",
                           "MECH\tCRAM-MD5\tdictionary\tactive",
                           "MECH\tSCRAM-SHA-256\tmutual-auth",
                           "SPID\t4958",
                           "CUID\t1",
                           "COOKIE\t904a1866b0a9ec06a2c1d1d2d5b41290",
                           "DONE"};
    Handshake h;
    for (const char* line : lines) {
        auto parsed = parse_server_line(line);
        REQUIRE(parsed);
        CHECK(render(*parsed) == line);
        REQUIRE(add(h, *parsed));
    }
    CHECK(h.done);
    CHECK(h.version == Version{1, 2});
    CHECK(h.spid == std::optional<std::uint64_t>(4958));
    CHECK(h.cuid == std::optional<std::uint64_t>(1));
    CHECK(h.offers("plain"));
    CHECK(h.offers("APOP"));
    CHECK_FALSE(h.offers("SCRAM-SHA-1"));
    REQUIRE(h.mechs.size() == 5);
    CHECK(h.mechs[2].flags == std::vector<std::string>{"private", "dictionary", "active"});
}

TEST_CASE("a handshake out of order or of another version is refused", "[dovecot]") {
    Handshake h;
    CHECK_FALSE(add(h, Mech{"PLAIN", {}}));
    CHECK_THAT(add(h, Version{2, 0}).error(), Catch::Contains("version 2"));
    REQUIRE(add(h, Version{1, 2}));
    CHECK_FALSE(add(h, Version{1, 2}));
    CHECK_FALSE(add(h, Ok{1, {}}));
    REQUIRE(add(h, Unknown{"FUTURE"})); // new handshake lines are ignored
    REQUIRE(add(h, Done{}));
    CHECK_FALSE(add(h, Mech{"PLAIN", {}}));
}

TEST_CASE("answers to AUTH carry the id and the parameters", "[dovecot]") {
    auto ok = parse_server_line("OK\t1\tuser=sqluser@sql.example\t");
    REQUIRE(ok);
    const auto& o = std::get<Ok>(*ok);
    CHECK(o.id == 1);
    CHECK(param(o.params, "user") == std::optional<std::string_view>("sqluser@sql.example"));
    CHECK_FALSE(param(o.params, "nologin"));
    auto fail = parse_server_line("FAIL\t7\tuser=bob\ttemp\treason=try later");
    REQUIRE(fail);
    CHECK(param(std::get<Fail>(*fail).params, "temp") == std::optional<std::string_view>(""));
    CHECK(param(std::get<Fail>(*fail).params, "reason") ==
          std::optional<std::string_view>("try later"));
    auto cont = parse_server_line("CONT\t3\tPDk1MzU4NDI0Mzc1MDI3ODguMTc5NjE2Njk1MkB2bT4=");
    REQUIRE(cont);
    CHECK(std::get<Cont>(*cont) == Cont{3, "PDk1MzU4NDI0Mzc1MDI3ODguMTc5NjE2Njk1MkB2bT4="});
    CHECK(parse_server_line("CONT\t3\t") == ServerLine{Cont{3, ""}});
}

TEST_CASE("the userdb's answers parse", "[dovecot]") {
    auto user = parse_server_line("USER\t1\tsqluser@sql.example\tuid=1001\tgid=1001\t"
                                  "home=/tmp/h\tmail=maildir:~/Maildir");
    REQUIRE(user);
    const auto& u = std::get<User>(*user);
    CHECK(u.id == 1);
    CHECK(u.name == "sqluser@sql.example");
    CHECK(param(u.params, "mail") == std::optional<std::string_view>("maildir:~/Maildir"));
    CHECK(parse_server_line("NOTFOUND\t3") == ServerLine{NotFound{3}});
    CHECK(parse_server_line("FAIL\t3\treason=db down") ==
          ServerLine{Fail{3, {"reason=db down"}}});
}

TEST_CASE("malformed lines are errors that say what was wrong", "[dovecot]") {
    CHECK_THAT(parse_server_line("").error(), Catch::Contains("empty"));
    CHECK_THAT(parse_server_line("OK").error(), Catch::Contains("without an id"));
    CHECK_THAT(parse_server_line("OK\t01").error(), Catch::Contains("malformed id"));
    CHECK_THAT(parse_server_line("OK\t4294967296").error(), Catch::Contains("malformed id"));
    CHECK(parse_server_line("OK\t4294967295"));
    CHECK_FALSE(parse_server_line("OK\t-1"));
    CHECK_FALSE(parse_server_line("VERSION\t1"));
    CHECK_FALSE(parse_server_line("VERSION\t1\t2\t3"));
    CHECK_FALSE(parse_server_line("SPID\tx"));
    CHECK_FALSE(parse_server_line("DONE\t"));
    CHECK_FALSE(parse_server_line("COOKIE\tnot-hex"));
    CHECK_THAT(parse_server_line("CONT\t1\t!!!!").error(), Catch::Contains("base64"));
    CHECK_FALSE(parse_server_line("CONT\t1"));
    CHECK_FALSE(parse_server_line("USER\t1\t"));
    CHECK_FALSE(parse_server_line("NOTFOUND\t1\tx"));
    CHECK_FALSE(parse_server_line("MECH\t"));
    CHECK_THAT(parse_server_line("OK\t1\tuser=a\001x").error(), Catch::Contains("escape"));
    CHECK_THAT(parse_server_line("OK\t1\tuser=a\001").error(), Catch::Contains("truncated"));
    CHECK_FALSE(parse_server_line("OK\t1\tuser=a\rb"));
    CHECK_FALSE(parse_server_line(std::string("OK\t1\tuser=a\0b", 13)));
    CHECK_FALSE(parse_server_line("lower case"));
    CHECK(parse_server_line("NEWTHING\tx") == ServerLine{Unknown{"NEWTHING"}});
    std::string longest = "OK\t1\tuser=" + std::string(k_max_dovecot_auth_line - 10, 'a');
    CHECK(parse_server_line(longest));
    CHECK_THAT(parse_server_line(longest + "a").error(), Catch::Contains("limit"));
}

TEST_CASE("tab escaping round-trips and leaves no separator", "[dovecot]") {
    const std::string raw("a\tb\rc\nd\001e\0f", 12);
    auto escaped = tab_escape(raw);
    CHECK(escaped.find_first_of(std::string("\t\r\n\0", 4)) == std::string::npos);
    CHECK(tab_unescape(escaped) == tl::expected<std::string, std::string>(raw));
    CHECK(parse_server_line("OK\t1\tuser=" + escaped) ==
          ServerLine{Ok{1, {"user=" + raw}}});
}

TEST_CASE("the line reader splits at LF and stops at an over-long line", "[dovecot]") {
    LineReader r;
    r.feed("VERSION\t1\t2\nMEC");
    CHECK(r.next() == std::optional<tl::expected<std::string, std::string>>("VERSION\t1\t2"));
    CHECK_FALSE(r.next());
    r.feed("H\tPLAIN\n\n");
    CHECK(r.next() == std::optional<tl::expected<std::string, std::string>>("MECH\tPLAIN"));
    CHECK(r.next() == std::optional<tl::expected<std::string, std::string>>(""));
    CHECK_FALSE(r.next());
    r.feed(std::string(k_max_dovecot_auth_line, 'x'));
    CHECK_FALSE(r.next()); // at the limit: still a line in the making
    r.feed("x");
    auto over = r.next();
    REQUIRE(over);
    CHECK_FALSE(*over);
    r.feed("OK\t1\n");
    auto after = r.next();
    REQUIRE(after);
    CHECK_FALSE(*after); // out of step for good
}

TEST_CASE("AUTH requests carry the client's addresses, secured only when asked, resp last",
          "[dovecot]") {
    AuthRequest r;
    r.id = 5;
    r.mechanism = "PLAIN";
    r.remote_ip = "192.0.2.7";
    r.remote_port = 40000;
    r.local_ip = "127.0.0.1";
    r.local_port = 110;
    r.session = "s1";
    r.initial_response = std::string("\0alice\0pw", 9);
    CHECK(encode(r) == "AUTH\t5\tPLAIN\tservice=pop3\tlip=127.0.0.1\trip=192.0.2.7\t"
                       "lport=110\trport=40000\tsession=s1\tresp=AGFsaWNlAHB3\n");
    r.secured = true;
    r.initial_response.reset();
    r.local_ip.clear();
    r.local_port.reset();
    r.session = "a\tb"; // escaped: no field can be forged
    CHECK(encode(r) ==
          "AUTH\t5\tPLAIN\tservice=pop3\tsecured\trip=192.0.2.7\trport=40000\tsession=a\001tb\n");
    CHECK(encode_continue(5, "abc") == "CONT\t5\tYWJj\n");
    CHECK(client_handshake(42) == "VERSION\t1\t2\nCPID\t42\n");
    CHECK(userdb_handshake() == "VERSION\t1\t0\n");
    CHECK(encode_user_lookup(2, "bob\n@x") == "USER\t2\tbob\001n@x\tservice=pop3\n");
}

TEST_CASE("APOP through Dovecot: its challenge form and the mechanism's data", "[dovecot]") {
    CHECK(apop_challenge(4958, 1, 0x65f00000, "a1b2", "mail.example") ==
          "<135e.1.65f00000.a1b2@mail.example>");
    CHECK(apop_challenge(0, 0, 0, "", "h<o>s@t") == "<0.0.0.x@hxoxsxt>");
    auto data = apop_response("<1.2.3.x@h>", "bob", "00112233445566778899aabbccddeeff");
    REQUIRE(data);
    const std::string digest("\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd"
                             "\xee\xff",
                             16);
    CHECK(*data == std::string("<1.2.3.x@h>\0bob\0", 16) + digest);
    CHECK_FALSE(apop_response("<c>", "bob", "0011"));
    CHECK_FALSE(apop_response("<c>", "bob", "zz112233445566778899aabbccddeeff"));
}

TEST_CASE("the userdb's mail location becomes the INBOX path", "[dovecot]") {
    using R = tl::expected<std::string, std::string>;
    CHECK(maildir_inbox("maildir:~/Maildir", "/home/bob", "bob@x.org") == R("/home/bob/Maildir"));
    CHECK(maildir_inbox("maildir:~", "/home/bob/", "bob@x.org") == R("/home/bob"));
    CHECK(maildir_inbox("maildir:/var/mail/%d/%n", "", "bob@x.org") ==
          R("/var/mail/x.org/bob"));
    CHECK(maildir_inbox("maildir:/m/%Lu/%%", "", "Bob@X.org") == R("/m/bob@x.org/%"));
    CHECK(maildir_inbox("maildir:/m/%Ld/%Ln:LAYOUT=fs", "", "Bob@X.org") == R("/m/x.org/bob"));
    CHECK(maildir_inbox("maildir:~/Maildir:LAYOUT=fs:INBOX=/var/inbox/%n", "/h", "bob@x") ==
          R("/var/inbox/bob"));
    CHECK(maildir_inbox("MAILDIR:/m/%u/", "", "bob") == R("/m/bob"));
    CHECK_THAT(maildir_inbox("mbox:~/mail", "/h", "b").error(), Catch::Contains("Maildirs only"));
    CHECK_THAT(maildir_inbox("maildir:~/M", "", "b").error(), Catch::Contains("home"));
    CHECK_THAT(maildir_inbox("maildir:~bob/M", "/h", "b").error(), Catch::Contains("~NAME"));
    CHECK_THAT(maildir_inbox("maildir:/m/%h", "/h", "b").error(), Catch::Contains("%h"));
    CHECK_THAT(maildir_inbox("maildir:/m/%", "/h", "b").error(), Catch::Contains("lone"));
    CHECK_THAT(maildir_inbox("maildir:Maildir", "/h", "b").error(), Catch::Contains("absolute"));
    CHECK_THAT(maildir_inbox("maildir:/m/%n", "", "..@x").error(), Catch::Contains(".."));
    CHECK_THAT(maildir_inbox("maildir:/m/../etc", "", "b").error(), Catch::Contains(".."));
}
