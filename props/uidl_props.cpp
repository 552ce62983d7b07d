// UIDL encoding laws (RFC 1939 section 7): any Maildir base name gives a
// unique-id of 1 to 70 octets in 0x21..0x7E, the same in every session,
// distinct for distinct names, and the name itself whenever it may be.
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include "pop3/core/uidl.hpp"

using namespace pop3::core;

namespace {

bool uidl_octet(char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x21 && u <= 0x7E;
}

bool valid_uidl(const std::string& u) {
    return !u.empty() && u.size() <= 70 &&
           std::all_of(u.begin(), u.end(), uidl_octet);
}

// Ends in '~' and 16 lowercase hex digits, the shape of an encoded name.
bool encoded_shape(const std::string& u) {
    if (u.size() < 17 || u[u.size() - 17] != '~') return false;
    return std::all_of(u.end() - 16, u.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    });
}

// Names around every boundary: bytes just outside 0x21..0x7E, lengths
// around 70, and names shaped like another name's encoded form.
rc::Gen<std::string> base_name() {
    auto octet = rc::gen::oneOf(rc::gen::element('\x20', '\x21', '\x7E', '\x7F',
                                                 '\x80', '\xFF', '\0', '~', 'a', '0'),
                                rc::gen::arbitrary<char>());
    auto hex = rc::gen::container<std::string>(
        16, rc::gen::element('0', '9', 'a', 'f', 'A', 'g'));
    return rc::gen::oneOf(
        rc::gen::container<std::string>(octet),
        rc::gen::map(rc::gen::inRange<std::size_t>(60, 80),
                     [](std::size_t n) { return std::string(n, 'm'); }),
        rc::gen::map(rc::gen::tuple(rc::gen::container<std::string>(
                                        rc::gen::inRange<char>(0x21, 0x7F)),
                                    hex),
                     [](const std::tuple<std::string, std::string>& t) {
                         return std::get<0>(t).substr(0, 53) + "~" + std::get<1>(t);
                     }));
}

} // namespace

TEST_CASE("UIDL encoding laws", "[props]") {
    rc::prop("any base name gives 1 to 70 octets in 0x21..0x7E, the same "
             "every time",
             [] {
                 const auto name = *base_name();
                 const auto u = uidl_for(name);
                 RC_ASSERT(valid_uidl(u));
                 RC_ASSERT(uidl_for(name) == u);
             });

    rc::prop("a name that is a valid UIDL and not shaped like an encoded one "
             "is its own UIDL; any other is encoded",
             [] {
                 const auto name = *base_name();
                 const auto u = uidl_for(name);
                 if (valid_uidl(name) && !encoded_shape(name))
                     RC_ASSERT(u == name);
                 else
                     RC_ASSERT(encoded_shape(u));
             });

    rc::prop("distinct names give distinct UIDLs", [] {
        const auto a = *base_name();
        const auto b = *rc::gen::oneOf(
            base_name(), rc::gen::just(uidl_for(a)),
            rc::gen::map(rc::gen::arbitrary<char>(), [&](char c) { return a + c; }),
            rc::gen::just(a.substr(0, a.size() / 2)));
        RC_PRE(a != b);
        RC_ASSERT(uidl_for(a) != uidl_for(b));
    });
}
