// Responses on the wire: every response code, status-line limits, bodies.
#include <catch2/catch.hpp>

#include <sstream>

#include "pop3/core/response.hpp"

using namespace pop3::core;

TEST_CASE("every response code is rendered as RFC 2449 and RFC 3206 spell it",
          "[response]") {
    CHECK(render(err("no", RespCode::auth)) == "-ERR [AUTH] no\r\n");
    CHECK(render(err("no", RespCode::sys_temp)) == "-ERR [SYS/TEMP] no\r\n");
    CHECK(render(err("no", RespCode::sys_perm)) == "-ERR [SYS/PERM] no\r\n");
    CHECK(render(err("no", RespCode::in_use)) == "-ERR [IN-USE] no\r\n");
    CHECK(render(err("no", RespCode::login_delay)) == "-ERR [LOGIN-DELAY] no\r\n");
    CHECK(render(err("no", RespCode::none)) == "-ERR no\r\n");
    CHECK(render(err("", RespCode::in_use)) == "-ERR [IN-USE]\r\n");
    CHECK(code_text(RespCode::none).empty());
    CHECK(code_text(RespCode::auth) == "AUTH");
    CHECK(code_text(RespCode::sys_temp) == "SYS/TEMP");
    CHECK(code_text(RespCode::sys_perm) == "SYS/PERM");
    CHECK(code_text(RespCode::in_use) == "IN-USE");
    CHECK(code_text(RespCode::login_delay) == "LOGIN-DELAY");
}

TEST_CASE("a status line is cut to 512 octets and never split", "[response]") {
    auto wire = render(err(std::string(1000, 'x'), RespCode::sys_perm));
    CHECK(wire.size() == 512);
    CHECK(wire.substr(0, 17) == "-ERR [SYS/PERM] x");
    CHECK(wire.substr(510) == "\r\n");
    CHECK(render(ok(std::string(507, 'y'))) == "+OK " + std::string(506, 'y') + "\r\n");
    CHECK(render(ok(std::string(506, 'y'))) == "+OK " + std::string(506, 'y') + "\r\n");
    CHECK(render(ok(std::string("a\0b\rc\n", 6))) == "+OK a b c \r\n");
}

TEST_CASE("multi-line bodies are byte-stuffed and always terminated", "[response]") {
    Response r = ok("capability list follows");
    r.multiline = true;
    CHECK(render(r) == "+OK capability list follows\r\n.\r\n");
    r.body = {".", ".x", "..", "x.y", ""};
    CHECK(render(r) == "+OK capability list follows\r\n..\r\n..x\r\n...\r\nx.y\r\n\r\n.\r\n");
    std::string out = "+OK\r\n";
    render_to(err("a\r\nb"), out);
    CHECK(out == "+OK\r\n-ERR a  b\r\n");
}

TEST_CASE("responses print as transcripts, without CRs", "[response]") {
    Response r = ok("x");
    r.multiline = true;
    r.body = {"a"};
    std::ostringstream out;
    out << r << err("no", RespCode::auth);
    CHECK(out.str() == "+OK x\na\n.\n-ERR [AUTH] no\n");
}
