// PROXY protocol v1 (one text line) and v2 (binary). Every length is
// checked before it is used; nothing is read past the announced length.
#include <array>
#include <charconv>

#include "pop3/core/proxy_header.hpp"

namespace pop3::core {
namespace {

using Result = tl::expected<std::variant<ProxyHeader, ProxyIncomplete>, std::string>;
using Unexpected = tl::unexpected<std::string>;

constexpr std::string_view k_v2_signature{"\r\n\r\n\0\r\nQUIT\n", 12};
constexpr std::string_view k_v1_prefix = "PROXY ";
constexpr std::size_t k_v1_max = 107;

constexpr std::array<std::uint32_t, 256> crc32c_table() {
    std::array<std::uint32_t, 256> table{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    return table;
}
constexpr auto k_crc32c = crc32c_table();

std::optional<std::uint16_t> port_number(std::string_view text) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || (text.size() > 1 && text[0] == '0') || ec != std::errc{} ||
        end != text.data() + text.size() || value > 65535)
        return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

std::uint16_t be16(const unsigned char* p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

// "PROXY TCP4 192.0.2.1 198.51.100.1 56324 110\r\n", or "PROXY UNKNOWN...".
Result parse_v1(std::string_view bytes) {
    auto end = bytes.find("\r\n");
    if (end == std::string_view::npos) {
        if (bytes.size() >= k_v1_max) return Unexpected("PROXY v1 line longer than 107 octets");
        if (bytes.find('\n') != std::string_view::npos)
            return Unexpected("PROXY v1 line not ended by CRLF");
        return ProxyIncomplete{bytes.size() + 1};
    }
    if (end + 2 > k_v1_max) return Unexpected("PROXY v1 line longer than 107 octets");
    std::string_view line = bytes.substr(k_v1_prefix.size(), end - k_v1_prefix.size());
    ProxyHeader h;
    h.version = 1;
    h.length = end + 2;
    // UNKNOWN: the rest of the line is to be ignored (the spec's words).
    if (line.substr(0, 7) == "UNKNOWN" && (line.size() == 7 || line[7] == ' ')) return h;
    std::string_view fields[5];
    for (std::size_t i = 0; i < 5; ++i) {
        auto space = line.find(' ');
        if ((space == std::string_view::npos) != (i == 4))
            return Unexpected("PROXY v1 line: expected protocol, two addresses and two ports");
        fields[i] = line.substr(0, space);
        if (i < 4) line.remove_prefix(space + 1);
    }
    const bool v6 = fields[0] == "TCP6";
    if (!v6 && fields[0] != "TCP4") return Unexpected("PROXY v1 line: unknown protocol");
    // Each address in the family the protocol names (an IPv4-mapped text
    // under TCP6 is IPv4 once parsed: still the same client).
    auto address = [&](std::string_view text) -> std::optional<IpAddress> {
        if ((text.find(':') != std::string_view::npos) != v6) return std::nullopt;
        return parse_ip(text);
    };
    auto source = address(fields[1]);
    auto destination = address(fields[2]);
    if (!source || !destination) return Unexpected("PROXY v1 line: bad address");
    auto source_port = port_number(fields[3]);
    auto destination_port = port_number(fields[4]);
    if (!source_port || !destination_port) return Unexpected("PROXY v1 line: bad port");
    h.source = ProxyEndpoint{*source, *source_port};
    h.destination = ProxyEndpoint{*destination, *destination_port};
    return h;
}

// The SSL TLV's value: client bits, verify result, sub-TLVs.
tl::expected<void, std::string> parse_ssl(std::string_view v, ProxyHeader& h) {
    if (v.size() < 5) return Unexpected("PROXY v2 SSL TLV too short");
    const auto client = static_cast<unsigned char>(v[0]);
    h.client_tls = (client & 0x01) != 0;
    v.remove_prefix(5);
    while (!v.empty()) {
        if (v.size() < 3) return Unexpected("PROXY v2 SSL sub-TLV truncated");
        const auto* p = reinterpret_cast<const unsigned char*>(v.data());
        const std::size_t len = be16(p + 1);
        if (3 + len > v.size()) return Unexpected("PROXY v2 SSL sub-TLV overruns its TLV");
        if (p[0] == 0x21) h.tls_version = std::string(v.substr(3, len));
        v.remove_prefix(3 + len);
    }
    return {};
}

Result parse_v2(std::string_view bytes) {
    if (bytes.size() < 16) return ProxyIncomplete{16};
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    if ((p[12] >> 4) != 2) return Unexpected("PROXY v2 header with an unknown version");
    const unsigned command = p[12] & 0x0F;
    if (command > 1) return Unexpected("PROXY v2 header with an unknown command");
    const std::size_t length = 16 + std::size_t{be16(p + 14)};
    if (length > k_max_proxy_header)
        return Unexpected("PROXY v2 header of " + std::to_string(length) +
                          " octets, longer than pop3d accepts (" +
                          std::to_string(k_max_proxy_header) + ")");
    if (bytes.size() < length) return ProxyIncomplete{length};
    ProxyHeader h;
    h.version = 2;
    h.local = command == 0;
    h.length = length;
    const unsigned family = p[13] >> 4, transport = p[13] & 0x0F;
    if (family > 3 || transport > 2) return Unexpected("PROXY v2 header with an unknown family");
    std::size_t addresses = 0;
    if (family == 1) addresses = 12;      // IPv4: two addresses, two ports
    else if (family == 2) addresses = 36; // IPv6
    else if (family == 3) addresses = 216; // UNIX: two 108-octet paths
    if (16 + addresses > length) return Unexpected("PROXY v2 addresses overrun the header");
    if (!h.local && (family == 1 || family == 2)) {
        if (transport != 1) return Unexpected("PROXY v2 header for a transport other than TCP");
        const unsigned char* a = p + 16;
        const std::size_t width = family == 1 ? 4 : 16;
        auto from = [&](const unsigned char* o) {
            return family == 1 ? ipv4_from_bytes(o) : ipv6_from_bytes(o);
        };
        h.source = ProxyEndpoint{from(a), be16(a + 2 * width)};
        h.destination = ProxyEndpoint{from(a + width), be16(a + 2 * width + 2)};
    }
    // TLVs: type, 16-bit length, value; they must tile the rest exactly.
    std::string_view tlvs = bytes.substr(16 + addresses, length - 16 - addresses);
    std::optional<std::size_t> crc_at;
    std::size_t offset = 16 + addresses;
    while (!tlvs.empty()) {
        if (tlvs.size() < 3) return Unexpected("PROXY v2 TLV truncated");
        const auto* t = reinterpret_cast<const unsigned char*>(tlvs.data());
        const std::size_t len = be16(t + 1);
        if (3 + len > tlvs.size()) return Unexpected("PROXY v2 TLV overruns the header");
        const std::string_view value = tlvs.substr(3, len);
        switch (t[0]) {
        case 0x03: // CRC32C of the whole header with this field zeroed
            if (len != 4 || crc_at) return Unexpected("PROXY v2 CRC32C TLV malformed");
            crc_at = offset + 3;
            break;
        case 0x05: // UNIQUE_ID, at most 128 octets
            if (len > 128) return Unexpected("PROXY v2 UNIQUE_ID longer than 128 octets");
            h.unique_id = std::string(value);
            break;
        case 0x20:
            if (auto ssl = parse_ssl(value, h); !ssl) return Unexpected(ssl.error());
            break;
        default: break; // ALPN, AUTHORITY, NOOP, NETNS, custom: not used
        }
        tlvs.remove_prefix(3 + len);
        offset += 3 + len;
    }
    if (crc_at) {
        std::string copy(bytes.substr(0, length));
        const auto* c = reinterpret_cast<const unsigned char*>(copy.data() + *crc_at);
        const std::uint32_t sent = static_cast<std::uint32_t>(c[0]) << 24 |
                                   static_cast<std::uint32_t>(c[1]) << 16 |
                                   static_cast<std::uint32_t>(c[2]) << 8 | c[3];
        for (std::size_t i = 0; i < 4; ++i) copy[*crc_at + i] = '\0';
        if (crc32c(copy) != sent) return Unexpected("PROXY v2 header fails its CRC32C");
    }
    return h;
}

} // namespace

std::uint32_t crc32c(std::string_view bytes) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (char ch : bytes) c = k_crc32c[(c ^ static_cast<unsigned char>(ch)) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

Result parse_proxy_header(std::string_view bytes) {
    // Decide the version from the first octets; until they are in, wait.
    const std::size_t v2_seen = std::min(bytes.size(), k_v2_signature.size());
    if (bytes.substr(0, v2_seen) == k_v2_signature.substr(0, v2_seen)) {
        if (v2_seen < k_v2_signature.size()) return ProxyIncomplete{k_v2_signature.size()};
        return parse_v2(bytes);
    }
    const std::size_t v1_seen = std::min(bytes.size(), k_v1_prefix.size());
    if (bytes.substr(0, v1_seen) == k_v1_prefix.substr(0, v1_seen)) {
        if (v1_seen < k_v1_prefix.size()) return ProxyIncomplete{k_v1_prefix.size()};
        return parse_v1(bytes);
    }
    return Unexpected("no PROXY header from a peer that must send one");
}

} // namespace pop3::core
