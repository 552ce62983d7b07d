// IPv4 and IPv6 addresses and prefixes as text (RFC 4291 section 2.2,
// RFC 5952), parsed strictly: for the PROXY protocol header, --proxy-from
// and the --access-rules table. An IPv4-mapped IPv6 address is the IPv4
// address it maps (a dual-stack socket reports IPv4 peers that way).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace pop3::core {

struct IpAddress {
    bool v6 = false;
    std::array<std::uint8_t, 16> bytes{}; // IPv4: the first 4
    bool operator==(const IpAddress&) const = default;
};

// "192.0.2.1" (four decimal octets, no leading zeros) or an IPv6 text
// form ("2001:db8::1", "::ffff:192.0.2.1"); nullopt for anything else.
[[nodiscard]] std::optional<IpAddress> parse_ip(std::string_view text);
// From raw network-order octets (4 or 16), as a PROXY v2 header has them.
[[nodiscard]] IpAddress ipv4_from_bytes(const std::uint8_t* octets);
[[nodiscard]] IpAddress ipv6_from_bytes(const std::uint8_t* octets);
// Dotted quad, or RFC 5952's canonical IPv6 form (lower case, the longest
// run of two or more zero groups as "::").
[[nodiscard]] std::string to_string(const IpAddress& address);

struct IpPrefix {
    IpAddress base;
    unsigned bits = 0; // 0..32 or 0..128
    bool operator==(const IpPrefix&) const = default;
};
// "127.0.0.0/8", "::1/128", or an address alone (all its bits). Bits set
// beyond the prefix length are refused: "127.0.0.1/8" is a typo for
// "127.0.0.0/8" more often than not, and would be silently widened.
[[nodiscard]] tl::expected<IpPrefix, std::string> parse_prefix(std::string_view text);
[[nodiscard]] bool contains(const IpPrefix& prefix, const IpAddress& address);
// A comma-separated list of prefixes (--proxy-from); the error names the
// entry that is wrong.
[[nodiscard]] tl::expected<std::vector<IpPrefix>, std::string>
parse_prefix_list(std::string_view text);

} // namespace pop3::core
