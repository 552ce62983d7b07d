// The PROXY protocol header a TCP balancer (HAProxy's send-proxy and
// send-proxy-v2) puts before the client's first byte, versions 1 and 2
// (HAProxy's "The PROXY protocol" text, 2020 revision): the real client's
// address, and in version 2 optional TLVs. Parsed strictly and in bounded
// memory: a header is at most k_max_proxy_header octets.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <tl/expected.hpp>

#include "pop3/core/ip_address.hpp"

namespace pop3::core {

// v1: 107 octets at most. v2: 16 octets and the length they announce;
// pop3d accepts TLVs up to this total (HAProxy's are far shorter).
inline constexpr std::size_t k_max_proxy_header = 1024;

struct ProxyEndpoint {
    IpAddress address;
    std::uint16_t port = 0;
    bool operator==(const ProxyEndpoint&) const = default;
};

struct ProxyHeader {
    int version = 1;        // 1 or 2
    bool local = false;     // v2 LOCAL (a health check): use the direct peer
    // The client and the address it connected to; empty for v1 UNKNOWN,
    // v2 LOCAL and v2 families other than IPv4 and IPv6.
    std::optional<ProxyEndpoint> source;
    std::optional<ProxyEndpoint> destination;
    // v2 PP2_TYPE_SSL with PP2_CLIENT_SSL: the balancer terminated TLS
    // for this client (whether that counts is site policy, not the core's).
    bool client_tls = false;
    std::string tls_version;  // PP2_SUBTYPE_SSL_VERSION, if sent
    std::string unique_id;    // PP2_TYPE_UNIQUE_ID, if sent
    std::size_t length = 0;   // octets the header took
    bool operator==(const ProxyHeader&) const = default;
};

// Not yet a whole header: this many octets are needed at least.
struct ProxyIncomplete {
    std::size_t need;
    bool operator==(const ProxyIncomplete&) const = default;
};

// Parses the header at the start of `bytes` (what arrived so far). A
// CRC32C TLV is verified. The error says what is wrong, for one log line.
[[nodiscard]] tl::expected<std::variant<ProxyHeader, ProxyIncomplete>, std::string>
parse_proxy_header(std::string_view bytes);

// CRC-32C (Castagnoli), as the CRC32C TLV carries it.
[[nodiscard]] std::uint32_t crc32c(std::string_view bytes);

} // namespace pop3::core
