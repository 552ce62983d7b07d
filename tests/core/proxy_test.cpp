// Addresses, prefixes, the access table and the PROXY protocol header.
#include <catch2/catch.hpp>

#include "pop3/core/access_rules.hpp"
#include "pop3/core/proxy_header.hpp"

using namespace pop3::core;

namespace {
ProxyHeader header(std::string_view bytes) {
    auto r = parse_proxy_header(bytes);
    REQUIRE(r.has_value());
    REQUIRE(std::holds_alternative<ProxyHeader>(*r));
    return std::get<ProxyHeader>(*r);
}
std::string error(std::string_view bytes) {
    auto r = parse_proxy_header(bytes);
    REQUIRE(!r.has_value());
    return r.error();
}
std::string text(const std::optional<ProxyEndpoint>& e) {
    REQUIRE(e.has_value());
    return to_string(e->address) + " " + std::to_string(e->port);
}
// A v2 header as HAProxy sends it for IPv4, with optional TLVs.
std::string v2_ipv4(std::string tlvs = "", unsigned char command = 0x21) {
    std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
    h += static_cast<char>(command);
    h += '\x11';
    const std::size_t length = 12 + tlvs.size();
    h += static_cast<char>(length >> 8);
    h += static_cast<char>(length & 0xFF);
    h += std::string("\x7f\x00\x00\x05\x7f\x00\x00\x01\x9b\xd7\x52\x80", 12); // 127.0.0.5:39895 -> 127.0.0.1:21120
    return h + tlvs;
}
std::string tlv(unsigned char type, std::string value) {
    std::string t(1, static_cast<char>(type));
    t += static_cast<char>(value.size() >> 8);
    t += static_cast<char>(value.size() & 0xFF);
    return t + value;
}
} // namespace

TEST_CASE("addresses parse strictly and print canonically", "[proxy]") {
    CHECK(to_string(*parse_ip("192.0.2.1")) == "192.0.2.1");
    CHECK(to_string(*parse_ip("2001:DB8:0:0:0:0:0:1")) == "2001:db8::1");
    CHECK(to_string(*parse_ip("2001:db8:0:1:0:0:0:1")) == "2001:db8:0:1::1");
    CHECK(to_string(*parse_ip("::")) == "::");
    CHECK(to_string(*parse_ip("::1")) == "::1");
    CHECK(to_string(*parse_ip("1::")) == "1::");
    // RFC 5952 section 4.2.3: of two equal zero runs the first is "::";
    // section 4.2.2: a single zero group is not.
    CHECK(to_string(*parse_ip("2001:db8:0:0:1:0:0:1")) == "2001:db8::1:0:0:1");
    CHECK(to_string(*parse_ip("2001:db8:0:1:1:1:1:1")) == "2001:db8:0:1:1:1:1:1");
    CHECK(to_string(*parse_ip("1:0:0:2:0:0:0:3")) == "1:0:0:2::3");
    CHECK(to_string(*parse_ip("::ffff:127.0.0.1")) == "127.0.0.1"); // mapped = IPv4
    CHECK(to_string(*parse_ip("64:ff9b::192.0.2.33")) == "64:ff9b::c000:221");
    for (auto bad : {"", "1.2.3", "1.2.3.4.5", "01.2.3.4", "256.1.1.1", "1.2.3.4 ", "::1::",
                     "1:2:3:4:5:6:7:8:9", "12345::", "1:2:3:4:5:6:7:", ":1:2:3:4:5:6:7",
                     "g::1", "1.2.3.4::", "fe80::1%eth0", "::1.2.3"})
        CHECK_FALSE(parse_ip(bad).has_value());
}

TEST_CASE("prefixes hold the addresses under them and nothing else", "[proxy]") {
    auto p = parse_prefix("127.0.0.0/8");
    REQUIRE(p);
    CHECK(contains(*p, *parse_ip("127.1.2.3")));
    CHECK_FALSE(contains(*p, *parse_ip("128.0.0.1")));
    CHECK_FALSE(contains(*p, *parse_ip("::1"))); // another family
    CHECK_FALSE(contains(*parse_prefix("0.0.0.0/0"), *parse_ip("::1")));
    CHECK_FALSE(contains(*parse_prefix("::/0"), *parse_ip("192.0.2.1")));
    CHECK_FALSE(parse_prefix("127.128.0.0/8").has_value()); // the first host bit
    CHECK(parse_prefix("127.0.0.0/9").has_value());
    CHECK(contains(*parse_prefix("::ffff:127.0.0.0/8"), *parse_ip("127.0.0.9")));
    CHECK(contains(*parse_prefix("0.0.0.0/0"), *parse_ip("203.0.113.7")));
    CHECK(contains(*parse_prefix("2001:db8::/32"), *parse_ip("2001:db8:ffff::1")));
    CHECK(contains(*parse_prefix("::1"), *parse_ip("::1")));
    CHECK_THAT(parse_prefix("127.0.0.1/8").error(), Catch::Contains("beyond its prefix length"));
    CHECK_THAT(parse_prefix("10.0.0.0/33").error(), Catch::Contains("0 to 32"));
    CHECK_THAT(parse_prefix("10.0.0.0/08").error(), Catch::Contains("0 to 32"));
    CHECK_THAT(parse_prefix_list("127.0.0.0/8,::1,x").error(), Catch::Contains("\"x\""));
    CHECK(parse_prefix_list("127.0.0.0/8,::1")->size() == 2);
}

TEST_CASE("the access table: longest prefix wins, unmatched falls back", "[proxy]") {
    auto rules = parse_access_rules("# site rules\n"
                                    "127.0.0.0/8 2\n"
                                    "127.0.0.66 0   # a bad client\n"
                                    "\n"
                                    "  ::1/128\t3\r\n");
    REQUIRE(rules);
    CHECK(rules->level_for(*parse_ip("127.0.0.5")) == 2u);
    CHECK(rules->level_for(*parse_ip("127.0.0.66")) == 0u);
    CHECK(rules->level_for(*parse_ip("::1")) == 3u);
    CHECK(rules->level_for(*parse_ip("192.0.2.1")) == std::nullopt);
    CHECK(parse_access_rules("127.0.0.0/8 2\n127.0.0.0/8 1\n").error() ==
          "line 2: the prefix is already in the table");
    CHECK_THAT(parse_access_rules("\n\n127.0.0.0/8\n").error(), Catch::StartsWith("line 3: "));
    CHECK_THAT(parse_access_rules("127.0.0.0/8 -1\n").error(), Catch::StartsWith("line 1: "));
    CHECK_THAT(parse_access_rules("127.0.0.0/8 2 3\n").error(), Catch::StartsWith("line 1: "));
    CHECK_THAT(parse_access_rules("127.0.0.0/8 02\n").error(), Catch::StartsWith("line 1: "));
    CHECK(parse_access_rules("127.0.0.0/8 0\n10.0.0.0/8 1000000\n").has_value());
    CHECK_FALSE(parse_access_rules("127.0.0.0/8 1000001\n").has_value());
    CHECK(parse_access_rules("# nothing\n")->rules.empty());
}

TEST_CASE("PROXY v1 as HAProxy sends it", "[proxy]") {
    const std::string line = "PROXY TCP4 127.0.0.5 127.0.0.1 39895 21120\r\n";
    auto h = header(line + "USER x\r\n");
    CHECK(h.version == 1);
    CHECK(h.length == line.size());
    CHECK(text(h.source) == "127.0.0.5 39895");
    CHECK(text(h.destination) == "127.0.0.1 21120");
    CHECK(text(header("PROXY TCP6 ::1 ::2 1 65535\r\n").source) == "::1 1");
    auto unknown = header("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n");
    CHECK_FALSE(unknown.source.has_value());
    CHECK(header("PROXY UNKNOWN\r\n").length == 15);
    // Arriving in pieces: wait, then parse.
    for (std::size_t cut = 0; cut < line.size(); ++cut) {
        auto r = parse_proxy_header(line.substr(0, cut));
        REQUIRE(r.has_value());
        CHECK(std::holds_alternative<ProxyIncomplete>(*r));
    }
}

TEST_CASE("PROXY v1 refuses what is not exactly the format", "[proxy]") {
    CHECK_THAT(error("USER alice\r\n"), Catch::Contains("no PROXY header"));
    CHECK_THAT(error("PROXY TCP4 127.0.0.5 127.0.0.1 39895\r\n"), Catch::Contains("expected"));
    CHECK_THAT(error("PROXY TCP4 ::1 127.0.0.1 1 2\r\n"), Catch::Contains("bad address"));
    CHECK_THAT(error("PROXY TCP6 127.0.0.1 ::1 1 2\r\n"), Catch::Contains("bad address"));
    CHECK_THAT(error("PROXY TCP4 127.0.0.5 127.0.0.1 039895 1\r\n"), Catch::Contains("bad port"));
    CHECK_THAT(error("PROXY TCP4 127.0.0.5 127.0.0.1 65536 1\r\n"), Catch::Contains("bad port"));
    CHECK_THAT(error("PROXY TCP4 127.0.0.5  127.0.0.1 1 2\r\n"), Catch::Contains("expected"));
    CHECK_THAT(error("PROXY UDP4 127.0.0.5 127.0.0.1 1 2\r\n"), Catch::Contains("protocol"));
    CHECK_THAT(error("PROXY TCP4 127.0.0.5 127.0.0.1 1 2\n"), Catch::Contains("CRLF"));
    CHECK_THAT(error("PROXY " + std::string(120, 'x')), Catch::Contains("107"));
    // The longest line the spec allows, 107 octets with CRLF, is read.
    std::string longest = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                          "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 65535 65535\r\n";
    REQUIRE(longest.size() == 104);
    CHECK(header(longest).length == 104);
    std::string padded = "PROXY UNKNOWN " + std::string(91, 'x') + "\r\n";
    REQUIRE(padded.size() == 107);
    CHECK(header(padded).length == 107);
    CHECK_THAT(error("PROXY UNKNOWN " + std::string(92, 'x') + "\r\n"), Catch::Contains("107"));
}

TEST_CASE("PROXY v2 as HAProxy sends it, TLVs included", "[proxy]") {
    auto h = header(v2_ipv4() + "USER x\r\n");
    CHECK(h.version == 2);
    CHECK(h.length == 28);
    CHECK_FALSE(h.local);
    CHECK(text(h.source) == "127.0.0.5 39895");
    CHECK(text(h.destination) == "127.0.0.1 21120");
    // A health check: LOCAL, addresses to be ignored.
    std::string local("\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00", 16);
    auto check = header(local);
    CHECK(check.local);
    CHECK_FALSE(check.source.has_value());
    // SSL with a version sub-TLV, a unique ID, and a CRC32C over it all.
    std::string ssl = std::string("\x01\x00\x00\x00\x00", 5) + tlv(0x21, "TLSv1.3") + tlv(0x23, "X");
    std::string body = tlv(0x20, ssl) + tlv(0x05, "id-42") + tlv(0x03, std::string(4, '\0'));
    std::string wire = v2_ipv4(body);
    const auto crc = crc32c(wire);
    for (int i = 0; i < 4; ++i)
        wire[wire.size() - 4 + static_cast<std::size_t>(i)] =
            static_cast<char>((crc >> (24 - 8 * i)) & 0xFF);
    auto full = header(wire);
    CHECK(full.client_tls);
    CHECK(full.tls_version == "TLSv1.3");
    CHECK(full.unique_id == "id-42");
    wire[20] ^= 1; // the source address changed in transit
    CHECK_THAT(error(wire), Catch::Contains("CRC32C"));
}

TEST_CASE("PROXY v2 refuses bad versions, lengths and TLVs", "[proxy]") {
    CHECK(crc32c("123456789") == 0xE3069283u); // the CRC-32C check value
    std::string h = v2_ipv4();
    h[12] = '\x31';
    CHECK_THAT(error(h), Catch::Contains("version"));
    h = v2_ipv4();
    h[12] = '\x22';
    CHECK_THAT(error(h), Catch::Contains("command"));
    h = v2_ipv4();
    h[13] = '\x12'; // UDP
    CHECK_THAT(error(h), Catch::Contains("TCP"));
    h = v2_ipv4(tlv(0x05, "x"));
    h.pop_back(); // announced length not yet there: incomplete, not an error
    auto r = parse_proxy_header(h);
    REQUIRE(r);
    CHECK(std::get<ProxyIncomplete>(*r).need == h.size() + 1);
    CHECK_THAT(error(v2_ipv4(std::string("\x05\x00\x09xy", 5))), Catch::Contains("overruns"));
    CHECK_THAT(error(v2_ipv4(tlv(0x05, std::string(129, 'u')))), Catch::Contains("128"));
    std::string huge("\r\n\r\n\0\r\nQUIT\n\x21\x11\x10\x00", 16);
    CHECK_THAT(error(huge), Catch::Contains("longer than pop3d accepts"));
}
