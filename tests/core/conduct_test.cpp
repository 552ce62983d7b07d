// The conduct rules: what a client did, judged against the RFCs.
#include <algorithm>

#include <catch2/catch.hpp>

#include "pop3/core/conduct.hpp"

using namespace pop3::core;
using namespace pop3::core::conduct;

namespace {

constexpr Where k_auth{Phase::authorization, false, 0};
constexpr Where k_trans{Phase::transaction, false, 3};

// Feeds a fold the way the shell does: a line, then its answer.
struct Fold {
    Conduct c = start();
    Fold() { c = answered(std::move(c), ok("<1.2@host>")); }
    explicit Fold(std::string_view greeting) {
        c = answered(std::move(c), ok(std::string(greeting)));
    }
    Fold& line(std::string_view text, Where where, Response answer,
               bool pipelined = false, bool bare_lf = false) {
        Line l;
        l.text = text;
        l.octets = text.size() + 2;
        l.where = where;
        l.pipelined = pipelined;
        l.bare_lf = bare_lf;
        c = observe(std::move(c), l);
        c = answered(std::move(c), answer);
        return *this;
    }
    Fold& capa(std::vector<std::string> caps) {
        Response r = ok("capability list follows");
        r.multiline = true;
        r.body = std::move(caps);
        return line("CAPA", k_auth, r);
    }
    Fold& login() {
        return line("USER alice", k_auth, ok("send PASS")).line("PASS secret", k_auth,
                                                                 ok("alice has 3 messages"));
    }
    std::vector<std::string> end(End e) {
        c = ended(std::move(c), e);
        return report(c);
    }
    const Finding& found(Kind k) const { return c.findings[static_cast<std::size_t>(k)]; }
};

bool has_line(const std::vector<std::string>& lines, std::string_view text) {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
        return l.find(text) != std::string::npos;
    });
}

const std::vector<std::string> k_all = {"TOP", "UIDL", "USER", "SASL PLAIN", "PIPELINING",
                                        "RESP-CODES"};

} // namespace

TEST_CASE("a well-behaved session gets a clean report", "[conduct]") {
    Fold f;
    f.capa(k_all).login().line("STAT", k_trans, ok("3 300"))
        .line("UIDL", k_trans, ok("unique-id listing follows"))
        .line("TOP 1 0", k_trans, ok("top of message follows"))
        .line("RETR 1", k_trans, ok("message follows"))
        .line("DELE 1", k_trans, ok("message 1 deleted"))
        .line("QUIT", k_trans, ok("bye"));
    auto report = f.end(End::closed_by_server);
    CHECK(report.back() == "conduct: summary: clean");
    CHECK(has_line(report, "conduct: end: QUIT"));
    CHECK(has_line(report, "conduct: lines 9: USER 1, PASS 1, QUIT 1, STAT 1, RETR 1, DELE 1, "
                           "TOP 1, UIDL 1, CAPA 1"));
    CHECK(has_line(report, "CAPA asked; relied on what it listed: TOP UIDL USER SASL "
                           "PIPELINING RESP-CODES"));
    for (const auto& l : report) CHECK(l.rfind("conduct: ", 0) == 0);
}

TEST_CASE("message number 0 and numbers past the mailbox are blamed with RFC 1939 section 4",
          "[conduct]") {
    Fold f;
    f.capa(k_all).login().line("RETR 0", k_trans, err("no such message"))
        .line("DELE 9", k_trans, err("no such message"))
        .line("RETR 3", k_trans, ok("message follows"));
    CHECK(f.found(Kind::message_zero).count == 1);
    CHECK(f.found(Kind::message_zero).first_line == 4);
    CHECK(f.found(Kind::message_out_of_range).count == 1);
    CHECK(f.found(Kind::malformed).count == 0); // "RETR 0" is blamed once, as 0
    auto report = f.end(End::closed_by_server);
    CHECK(has_line(report, "error: message number 0: messages are numbered from 1 (RFC 1939 "
                           "section 4): 1 time, first at line 4 (RETR 0)"));
    CHECK(has_line(report, "beyond the mailbox's messages, numbered 1 to n (RFC 1939 "
                           "section 4): 1 time, first at line 5 (DELE 9)"));
}

TEST_CASE("commands in the wrong state are blamed, in either direction", "[conduct]") {
    Fold f;
    f.capa(k_all).line("STAT", k_auth, err("not yet")).login()
        .line("USER bob", k_trans, err("already logged in"));
    CHECK(f.found(Kind::wrong_state).count == 2);
    CHECK(f.found(Kind::wrong_state).example == Label{5, 0, false, {}}); // STAT
}

TEST_CASE("PASS without a successful USER is blamed", "[conduct]") {
    Fold f;
    f.capa(k_all).line("PASS secret", k_auth, err("USER first"));
    CHECK(f.found(Kind::pass_without_user).count == 1);
    Fold g;
    g.capa(k_all).line("USER a", k_auth, err("no")).line("PASS x", k_auth, err("no"));
    CHECK(g.found(Kind::pass_without_user).count == 1);
    Fold h;
    h.capa(k_all).login();
    CHECK(h.found(Kind::pass_without_user).count == 0);
}

TEST_CASE("APOP after a greeting without timestamp is blamed", "[conduct]") {
    Fold f("POP3 server ready"); // no timestamp
    f.line("APOP a 0123456789abcdef0123456789abcdef", k_auth, err("no APOP"));
    CHECK(f.found(Kind::apop_without_stamp).count == 1);
    Fold g; // with a timestamp
    g.line("APOP a 0123456789abcdef0123456789abcdef", k_auth, ok("in"));
    CHECK(g.found(Kind::apop_without_stamp).count == 0);
}

TEST_CASE("bare LF, overlong, empty and unknown lines are blamed without their text",
          "[conduct]") {
    Fold f;
    f.line("CAPA", k_auth, ok("x"), false, true);
    Line overlong;
    overlong.overlong = true;
    overlong.octets = 300;
    overlong.where = k_auth;
    f.c = observe(std::move(f.c), overlong);
    f.c = answered(std::move(f.c), err("line too long"));
    f.line("", k_auth, err("empty"));
    f.line("hunter2 wonderland", k_auth, err("unknown command"));
    f.line("LAST", k_auth, err("unknown command"));
    CHECK(f.found(Kind::bare_lf).count == 1);
    CHECK(f.found(Kind::overlong_line).count == 1);
    CHECK(f.found(Kind::empty_line).count == 1);
    CHECK(f.found(Kind::unknown_command).count == 2);
    auto report = f.end(End::client_disconnected);
    for (const auto& l : report) {
        CHECK(l.find("hunter2") == std::string::npos);
        CHECK(l.find("wonderland") == std::string::npos);
    }
    CHECK(has_line(report, "line over 255 octets"));
    CHECK(has_line(report, "(an overlong line of 300 octets)"));
    CHECK(has_line(report, "(LAST)"));
}

TEST_CASE("pipelining is blamed until a CAPA listing PIPELINING was answered", "[conduct]") {
    Fold f;
    f.line("CAPA", k_auth, ok("x"), true); // sent before the greeting
    CHECK(f.found(Kind::pipelining_unadvertised).count == 1);
    Fold g;
    Response capa = ok("capability list follows");
    capa.multiline = true;
    capa.body = k_all;
    g.line("CAPA", k_auth, capa);
    // The line after CAPA was sent before CAPA's answer: not yet justified.
    g.line("USER a", k_auth, ok("send PASS"), true);
    CHECK(g.found(Kind::pipelining_unadvertised).count == 1);
    g.line("PASS a", k_auth, ok("in"), true);
    CHECK(g.found(Kind::pipelining_unadvertised).count == 1);
    Fold h;
    h.capa({"TOP", "UIDL", "USER"}).line("USER a", k_auth, ok("send PASS"))
        .line("PASS a", k_auth, ok("in"), true);
    CHECK(h.found(Kind::pipelining_unadvertised).count == 1);
}

TEST_CASE("plaintext credentials in the clear are a note, and only after CAPA listed STLS",
          "[conduct]") {
    // As with --allow-plaintext: CAPA lists STLS and USER, the login succeeds.
    Fold f;
    f.capa({"USER", "STLS", "SASL PLAIN"}).line("USER a", k_auth, ok("send PASS"))
        .line("PASS s", k_auth, err("no")).line("AUTH PLAIN AGEAYg==", k_auth, err("no"))
        .line("AUTH CRAM-MD5", k_auth, continuation("PDE+"));
    CHECK(f.found(Kind::plaintext_before_stls).count == 3);
    auto report = f.end(End::closed_by_server);
    for (const auto& l : report) CHECK(l.find("AGEAYg") == std::string::npos);
    CHECK(has_line(report, "note: plaintext credentials (USER/PASS, AUTH PLAIN/LOGIN) in the "
                           "clear after CAPA listed STLS"));
    CHECK_FALSE(has_line(report, "error: plaintext"));
    Fold none; // never asked CAPA, so never saw STLS offered
    none.login();
    CHECK(none.found(Kind::plaintext_before_stls).count == 0);
    Fold unlisted; // CAPA without STLS (no certificate)
    unlisted.capa({"USER"}).login();
    CHECK(unlisted.found(Kind::plaintext_before_stls).count == 0);
    Fold h; // over TLS
    h.capa({"USER"}).line("USER a", {Phase::authorization, true, 0}, ok("send PASS"));
    CHECK(h.found(Kind::plaintext_before_stls).count == 0);
}

TEST_CASE("CAPA before STLS no longer counts once TLS is active", "[conduct]") {
    constexpr Where tls{Phase::authorization, true, 0};
    Fold f;
    f.capa({"USER", "STLS", "PIPELINING"}).line("STLS", k_auth, ok("begin TLS"));
    // A second STLS over TLS, relying on the CAPA from before the handshake.
    f.line("STLS", tls, err("TLS is already active"));
    CHECK(f.found(Kind::stls_without_capa).count == 1);
    CHECK(f.found(Kind::stls_without_capa).first_line == 3);
    f.line("USER a", tls, ok("send PASS"), true); // PIPELINING from before TLS
    CHECK(f.found(Kind::pipelining_unadvertised).count == 1);
    auto report = f.end(End::client_disconnected);
    CHECK(has_line(report, "refusal: line 3 (STLS) got -ERR"));
    CHECK(has_line(report, "CAPA asked; relied on what it listed:"));
    CHECK_FALSE(has_line(report, "listed: USER"));
    Fold g; // a CAPA over TLS counts again
    g.capa({"STLS"}).line("STLS", k_auth, ok("begin TLS"));
    Response capa = ok("capability list follows");
    capa.multiline = true;
    capa.body = {"USER", "PIPELINING"};
    g.line("CAPA", tls, capa).line("USER a", tls, ok("send PASS"))
        .line("PASS a", tls, ok("in"), true);
    CHECK(g.found(Kind::pipelining_unadvertised).count == 0);
    CHECK(g.found(Kind::user_without_capa).count == 0);
}

TEST_CASE("commands sent after STLS before the handshake are blamed", "[conduct]") {
    Fold f;
    f.capa({"STLS"}).line("STLS", k_auth, ok("begin TLS"));
    CHECK(f.found(Kind::pipelined_after_stls).count == 0);
    f.c = discarded_after_stls(std::move(f.c));
    CHECK(f.found(Kind::pipelined_after_stls).count == 1);
    CHECK(has_line(f.end(End::client_disconnected),
                   "error: commands sent after STLS before its answer and the TLS "
                   "negotiation, discarded unread (RFC 2595 section 4: the client \"MUST NOT "
                   "issue further commands until a server response is seen and the TLS "
                   "negotiation is complete\"): 1 time, first at line 2 (STLS)"));
}

TEST_CASE("an overlong SASL response is told against pop3d's SASL bound, as a note",
          "[conduct]") {
    Fold f;
    f.capa(k_all).line("AUTH PLAIN", k_auth, continuation(""));
    Line overlong;
    overlong.overlong = true;
    overlong.octets = 13000;
    overlong.where = {Phase::sasl_response, false, 0};
    f.c = observe(std::move(f.c), overlong);
    f.c = answered(std::move(f.c), err("line too long"));
    CHECK(f.found(Kind::overlong_line).count == 0);
    CHECK(f.found(Kind::overlong_sasl_response).count == 1);
    auto report = f.end(End::client_disconnected);
    CHECK(has_line(report, "note: SASL response line over 12288 octets with its CRLF, "
                           "pop3d's bound (RFC 5034 section 4 lets a server bound it): 1 time, "
                           "first at line 3 (an overlong line of 13000 octets)"));
    CHECK_FALSE(has_line(report, "255"));
}TEST_CASE("optional commands used without CAPA are notes, not errors", "[conduct]") {
    Fold f;
    f.login().line("UIDL", k_trans, ok("x")).line("TOP 1 0", k_trans, ok("x"))
        .line("QUIT", k_trans, ok("bye"));
    CHECK(f.found(Kind::top_without_capa).count == 1);
    CHECK(f.found(Kind::uidl_without_capa).count == 1);
    CHECK(f.found(Kind::user_without_capa).count == 1);
    auto report = f.end(End::closed_by_server);
    CHECK(has_line(report, "conduct: CAPA never asked"));
    CHECK(report.back() == "conduct: summary: 0 error(s), 3 note(s)");
}

TEST_CASE("every refusal's reaction is told", "[conduct]") {
    Fold f;
    f.capa(k_all).login()
        .line("RETR 7", k_trans, err("no such message"))  // retried
        .line("RETR 7", k_trans, err("no such message"))  // continued
        .line("RETR 1", k_trans, ok("message follows"))
        .line("DELE 8", k_trans, err("no such message"))  // pipelined past
        .line("DELE 2", k_trans, ok("deleted"), true)
        .line("RETR 9", k_trans, err("no such message")); // disconnected
    auto report = f.end(End::client_disconnected);
    CHECK(has_line(report, "refusal: line 4 (RETR 7) got -ERR; the client retried the same "
                           "line"));
    CHECK(has_line(report, "refusal: line 5 (RETR 7) got -ERR; the client continued"));
    CHECK(has_line(report, "refusal: line 7 (DELE 8) got -ERR; the client had already sent "
                           "its next command"));
    CHECK(has_line(report, "refusal: line 9 (RETR 9) got -ERR; the client disconnected"));
    CHECK(has_line(report, "error: the session ended without QUIT"));
    CHECK(has_line(report, "conduct: end: client disconnected"));
    Fold g;
    g.capa(k_all).line("USER a", k_auth, err("no"));
    CHECK(has_line(g.end(End::timeout), "the client went silent until the timeout"));
    Fold h;
    h.capa(k_all).line("RSET", k_auth, err("no")).line("QUIT", k_auth, ok("bye"));
    auto quit = h.end(End::closed_by_server);
    CHECK(has_line(quit, "the client sent QUIT"));
    CHECK_FALSE(has_line(quit, "without QUIT"));
}

TEST_CASE("a retry is the same line, not only the same keyword and numbers", "[conduct]") {
    const std::vector<std::pair<std::string, std::string>> different = {
        {"XTND", "XFOO"}, {"AUTH PLAIN", "AUTH LOGIN"}, {"USER a", "USER b"},
        {"LIST 1x", "LIST 2y"}};
    for (const auto& [first, second] : different) {
        CAPTURE(first, second);
        Fold f;
        f.capa(k_all).line(first, k_auth, err("no")).line(second, k_auth, err("no"));
        REQUIRE(!f.c.refusals.empty());
        CHECK(f.c.refusals.front().reaction == Reaction::continued);
        Fold g;
        g.capa(k_all).line(first, k_auth, err("no")).line(first, k_auth, err("no"));
        REQUIRE(!g.c.refusals.empty());
        CHECK(g.c.refusals.front().reaction == Reaction::retried);
    }
}

TEST_CASE("a time limit or a reader that stopped is not silence", "[conduct]") {
    Fold f;
    f.capa(k_all).login().line("RETR 9", k_trans, err("no such message"));
    auto limit = f.end(End::time_limit);
    CHECK(has_line(limit, "the client none: the server closed the session"));
    CHECK_FALSE(has_line(limit, "went silent"));
    CHECK_FALSE(has_line(limit, "without QUIT"));
    CHECK(has_line(limit, "conduct: end: time limit (--session-limit or --login-timeout)"));
    Fold g;
    g.capa(k_all).login().line("RETR 1", k_trans, ok("message follows"));
    auto stopped = g.end(End::stopped_reading);
    CHECK(has_line(stopped, "conduct: end: client stopped reading"));
    CHECK(has_line(stopped, "error: the session ended without QUIT"));
    Fold h;
    h.capa(k_all).line("USER a", k_auth, err("no"));
    auto idle = h.end(End::timeout);
    CHECK(has_line(idle, "went silent until the timeout"));
    CHECK(has_line(idle, "conduct: end: idle timeout"));
}

TEST_CASE("refusals past the listed ones are counted", "[conduct]") {
    Fold f;
    f.capa(k_all).login();
    for (int i = 0; i < 30; ++i) f.line("RETR 9", k_trans, err("no such message"));
    auto report = f.end(End::closed_by_server);
    CHECK(f.c.refusals.size() == k_listed_refusals);
    CHECK(has_line(report, "conduct: refusal: 10 more not listed"));
    CHECK(has_line(report, "conduct: refusals 30: retried the same line 29, none: the "
                           "server closed the session 1"));
}

TEST_CASE("a SASL exchange keeps its responses out of the report", "[conduct]") {
    Fold f;
    f.capa(k_all).line("AUTH LOGIN", k_auth, continuation("VXNlcm5hbWU6"))
        .line("YWxpY2U=", {Phase::sasl_response, false, 0}, continuation("UGFzc3dvcmQ6"))
        .line("c2VjcmV0", {Phase::sasl_response, false, 0}, ok("in"));
    CHECK(f.found(Kind::unknown_command).count == 0);
    auto report = f.end(End::client_disconnected);
    CHECK(has_line(report, "AUTH 1, SASL responses 2"));
    for (const auto& l : report) CHECK(l.find("YWxp") == std::string::npos);
}

TEST_CASE("where() names the phase, TLS and the snapshot's size", "[conduct]") {
    Authorization a;
    a.tls = true;
    CHECK(where(a).phase == Phase::authorization);
    CHECK(where(a).tls);
    CHECK(where(SaslAuthenticating{a, {}}).phase == Phase::sasl_response);
    Transaction t;
    t.mailbox = MailboxView(make_snapshot({{10, "a"}, {20, "b"}}));
    CHECK(where(t).phase == Phase::transaction);
    CHECK(where(t).messages == 2);
    CHECK(where(Closed{}).phase == Phase::other);
}

TEST_CASE("the hand-over form decodes to the same conduct, and junk is refused",
          "[conduct]") {
    Fold f;
    f.capa(k_all).line("RETR 0", k_auth, err("no")).line("XFOO", k_auth, err("no"));
    REQUIRE(f.c.pending); // XFOO's -ERR, its reaction to come after the hand-over
    auto refused = decode(encode(f.c));
    REQUIRE(refused);
    CHECK(*refused == f.c);
    CHECK(refused->pending_hash != 0);
    f.line("USER a", k_auth, ok("send PASS"));
    Line pass;
    pass.text = "PASS s";
    pass.where = k_auth;
    f.c = observe(std::move(f.c), pass); // awaiting its answer, as at the hand-over
    auto wire = encode(f.c);
    auto back = decode(wire);
    REQUIRE(back);
    CHECK(f.c.last_hash != 0);
    auto expected = f.c;
    expected.last_hash = 0; // a password line's hash stays in the login process
    CHECK(*back == expected);
    CHECK(wire.find("PASS") == std::string::npos);
    CHECK_FALSE(decode(""));
    CHECK_FALSE(decode(wire + " 1"));
    CHECK_FALSE(decode(wire + " "));
    CHECK_FALSE(decode("3" + wire.substr(1)));
    CHECK_FALSE(decode(wire.substr(0, wire.size() - 2)));
    CHECK_FALSE(decode("01" + wire.substr(1)));
}
