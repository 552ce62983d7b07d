// Dovecot's auth protocol lines: every line round-trips, no field pop3d
// sends can split a line or forge a parameter, and a userdb mail location
// never leads outside an absolute path.
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include "pop3/core/dovecot_auth.hpp"
#include "pop3/core/sasl.hpp"

using namespace pop3::core;
using namespace pop3::core::dovecot;

namespace {

rc::Gen<std::string> field() {
    // Any octets, the separators and the escape octet favoured.
    return rc::gen::oneOf(
        rc::gen::arbitrary<std::string>(),
        rc::gen::container<std::string>(
            rc::gen::element<char>('\t', '\r', '\n', '\0', '\001', '=', 'a', '1')));
}

rc::Gen<std::string> nonempty_field() {
    return rc::gen::suchThat(field(), [](const std::string& s) { return !s.empty(); });
}

rc::Gen<std::vector<std::string>> fields() { return rc::gen::container<std::vector<std::string>>(field()); }

rc::Gen<std::string> hex() {
    return rc::gen::suchThat(
        rc::gen::container<std::string>(rc::gen::element<char>('0', '9', 'a', 'f', 'A', 'F')),
        [](const std::string& s) { return !s.empty() && s.size() <= 128; });
}

rc::Gen<std::string> verb() {
    return rc::gen::suchThat(
        rc::gen::container<std::string>(rc::gen::element<char>('A', 'Z', 'Q', '-', '_', '7')),
        [](const std::string& s) {
            return !s.empty() && s.size() <= 32 &&
                   parse_server_line(s) == tl::expected<ServerLine, std::string>(Unknown{s});
        });
}

rc::Gen<ServerLine> server_line() {
    using rc::gen::arbitrary;
    using rc::gen::map;
    using rc::gen::tuple;
    return rc::gen::oneOf(
        map(tuple(arbitrary<std::uint32_t>(), arbitrary<std::uint32_t>()),
            [](auto t) -> ServerLine { return Version{std::get<0>(t), std::get<1>(t)}; }),
        map(tuple(nonempty_field(), fields()),
            [](auto t) -> ServerLine { return Mech{std::get<0>(t), std::get<1>(t)}; }),
        map(arbitrary<std::uint64_t>(), [](auto v) -> ServerLine { return Spid{v}; }),
        map(arbitrary<std::uint64_t>(), [](auto v) -> ServerLine { return Cuid{v}; }),
        map(hex(), [](auto v) -> ServerLine { return Cookie{v}; }),
        rc::gen::just<ServerLine>(Done{}),
        map(tuple(arbitrary<std::uint32_t>(), fields()),
            [](auto t) -> ServerLine { return Ok{std::get<0>(t), std::get<1>(t)}; }),
        map(tuple(arbitrary<std::uint32_t>(), fields()),
            [](auto t) -> ServerLine { return Fail{std::get<0>(t), std::get<1>(t)}; }),
        map(tuple(arbitrary<std::uint32_t>(), arbitrary<std::string>()),
            [](auto t) -> ServerLine {
                return Cont{std::get<0>(t), base64_encode(std::get<1>(t))};
            }),
        map(tuple(arbitrary<std::uint32_t>(), nonempty_field(), fields()),
            [](auto t) -> ServerLine {
                return User{std::get<0>(t), std::get<1>(t), std::get<2>(t)};
            }),
        map(arbitrary<std::uint32_t>(), [](auto v) -> ServerLine { return NotFound{v}; }),
        map(verb(), [](auto v) -> ServerLine { return Unknown{v}; }));
}

} // namespace

TEST_CASE("Dovecot auth protocol properties", "[dovecot][props]") {
    rc::prop("tab escaping round-trips and leaves no TAB, CR, LF or NUL", [] {
        const auto raw = *field();
        const auto escaped = tab_escape(raw);
        RC_ASSERT(escaped.find_first_of(std::string("\t\r\n\0", 4)) == std::string::npos);
        const bool same = tab_unescape(escaped) == tl::expected<std::string, std::string>(raw);
        RC_ASSERT(same);
    });

    rc::prop("every line the service may send parses back to itself", [] {
        const auto line = *server_line();
        const auto wire = render(line);
        RC_PRE(wire.size() <= 16384u);
        const bool same = parse_server_line(wire) == tl::expected<ServerLine, std::string>(line);
        RC_ASSERT(same);
    });

    rc::prop("any octets parse to a line that renders to an equal line, or a clean error", [] {
        const auto wire = *rc::gen::oneOf(rc::gen::arbitrary<std::string>(),
                                          rc::gen::map(server_line(), [](const ServerLine& l) {
                                              return render(l);
                                          }));
        auto parsed = parse_server_line(wire);
        if (!parsed) {
            RC_ASSERT(!parsed.error().empty());
            return;
        }
        const bool same = parse_server_line(render(*parsed)) == parsed;
        RC_ASSERT(same);
    });

    rc::prop("an AUTH request is one line with exactly its fields, whatever the values", [] {
        AuthRequest r;
        r.id = *rc::gen::arbitrary<std::uint32_t>();
        r.mechanism = *field();
        r.remote_ip = *field();
        r.local_ip = *field();
        r.session = *field();
        r.secured = *rc::gen::arbitrary<bool>();
        if (*rc::gen::arbitrary<bool>()) r.initial_response = *field();
        const auto wire = encode(r);
        RC_ASSERT(wire.find('\n') == wire.size() - 1);
        std::size_t tabs = 0;
        for (char c : wire) tabs += c == '\t';
        const std::size_t expected = 3u + (r.secured ? 1u : 0u) +
                                     (r.local_ip.empty() ? 0u : 1u) +
                                     (r.remote_ip.empty() ? 0u : 1u) +
                                     (r.session.empty() ? 0u : 1u) +
                                     (r.initial_response ? 1u : 0u);
        RC_ASSERT(tabs == expected);
    });

    rc::prop("a user name cannot add fields to a userdb lookup", [] {
        const auto user = *field();
        const auto wire = encode_user_lookup(1, user);
        RC_ASSERT(wire.find('\n') == wire.size() - 1);
        std::size_t tabs = 0;
        for (char c : wire) tabs += c == '\t';
        RC_ASSERT(tabs == 3u);
    });

    rc::prop("a mail location resolves to an absolute path without . or .., or an error", [] {
        const auto mail = *rc::gen::oneOf(
            rc::gen::element<std::string>("maildir:~/Maildir", "maildir:/m/%d/%n",
                                          "maildir:/m/%Lu", "maildir:~/M:INBOX=/i/%u"),
            rc::gen::map(field(), [](std::string s) { return "maildir:" + s; }));
        const auto user = *field();
        const auto home = *rc::gen::oneOf(rc::gen::just(std::string("/home/u")), field());
        auto path = maildir_inbox(mail, home, user);
        if (!path) {
            RC_ASSERT(!path.error().empty());
            return;
        }
        RC_ASSERT(!path->empty());
        RC_ASSERT((*path)[0] == '/');
        RC_ASSERT(path->find('\0') == std::string::npos);
        const auto wrapped = *path + "/";
        RC_ASSERT(wrapped.find("/../") == std::string::npos);
        RC_ASSERT(wrapped.find("/./") == std::string::npos);
    });
}
