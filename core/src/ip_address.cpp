// Address text by hand: the core links no libc networking, and strictness
// (no leading zeros, no octal, no zone index) is easier to state than to
// obtain from inet_pton's variants.
#include <charconv>

#include "pop3/core/ascii.hpp"
#include "pop3/core/ip_address.hpp"

namespace pop3::core {
namespace {

std::optional<std::array<std::uint8_t, 4>> parse_ipv4(std::string_view text) {
    std::array<std::uint8_t, 4> out{};
    for (std::size_t i = 0; i < 4; ++i) {
        auto dot = text.find('.');
        auto part = text.substr(0, dot);
        if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0'))
            return std::nullopt;
        unsigned value = 0;
        auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
        if (ec != std::errc{} || end != part.data() + part.size() || value > 255)
            return std::nullopt;
        out[i] = static_cast<std::uint8_t>(value);
        if (i < 3) {
            if (dot == std::string_view::npos) return std::nullopt;
            text.remove_prefix(dot + 1);
        } else if (dot != std::string_view::npos) {
            return std::nullopt;
        }
    }
    return out;
}

// RFC 4291 section 2.2: eight groups of 1-4 hex digits, one "::" standing
// for one or more zero groups, and optionally a dotted quad as the last 32
// bits.
std::optional<std::array<std::uint8_t, 16>> parse_ipv6(std::string_view text) {
    std::array<std::uint16_t, 8> head{}, tail{};
    std::size_t heads = 0, tails = 0;
    bool compressed = false;
    auto gap = text.find("::");
    std::string_view parts[2] = {text, {}};
    if (gap != std::string_view::npos) {
        compressed = true;
        parts[0] = text.substr(0, gap);
        parts[1] = text.substr(gap + 2);
        if (parts[1].find("::") != std::string_view::npos) return std::nullopt;
    }
    std::optional<std::array<std::uint8_t, 4>> embedded;
    for (int side = 0; side < (compressed ? 2 : 1); ++side) {
        std::string_view rest = parts[side];
        auto& groups = side == 0 ? head : tail;
        auto& count = side == 0 ? heads : tails;
        while (!rest.empty()) {
            auto colon = rest.find(':');
            auto group = rest.substr(0, colon);
            const bool last = colon == std::string_view::npos;
            if (last && group.find('.') != std::string_view::npos) {
                // The dotted quad ends the address.
                if (side == 0 && compressed) return std::nullopt;
                embedded = parse_ipv4(group);
                if (!embedded || count + 2 > 8) return std::nullopt;
                groups[count++] = static_cast<std::uint16_t>((*embedded)[0] << 8 | (*embedded)[1]);
                groups[count++] = static_cast<std::uint16_t>((*embedded)[2] << 8 | (*embedded)[3]);
                break;
            }
            if (group.empty() || group.size() > 4 || count >= 8) return std::nullopt;
            unsigned value = 0;
            for (char c : group) {
                int h = ascii_hex_value(c);
                if (h < 0) return std::nullopt;
                value = value * 16 + static_cast<unsigned>(h);
            }
            groups[count++] = static_cast<std::uint16_t>(value);
            if (last) break;
            rest.remove_prefix(colon + 1);
            if (rest.empty()) return std::nullopt; // a trailing single ':'
        }
    }
    if (compressed ? heads + tails > 7 : heads != 8) return std::nullopt;
    std::array<std::uint16_t, 8> groups{};
    for (std::size_t i = 0; i < heads; ++i) groups[i] = head[i];
    for (std::size_t i = 0; i < tails; ++i) groups[8 - tails + i] = tail[i];
    std::array<std::uint8_t, 16> out{};
    for (std::size_t i = 0; i < 8; ++i) {
        out[2 * i] = static_cast<std::uint8_t>(groups[i] >> 8);
        out[2 * i + 1] = static_cast<std::uint8_t>(groups[i] & 0xFF);
    }
    return out;
}

// ::ffff:a.b.c.d is the IPv4 address a.b.c.d.
IpAddress unmapped(const std::array<std::uint8_t, 16>& bytes) {
    IpAddress a;
    bool mapped = bytes[10] == 0xFF && bytes[11] == 0xFF;
    for (std::size_t i = 0; i < 10 && mapped; ++i) mapped = bytes[i] == 0;
    if (mapped) {
        for (std::size_t i = 0; i < 4; ++i) a.bytes[i] = bytes[12 + i];
        return a;
    }
    a.v6 = true;
    a.bytes = bytes;
    return a;
}

} // namespace

std::optional<IpAddress> parse_ip(std::string_view text) {
    if (text.find(':') == std::string_view::npos) {
        auto v4 = parse_ipv4(text);
        if (!v4) return std::nullopt;
        IpAddress a;
        for (std::size_t i = 0; i < 4; ++i) a.bytes[i] = (*v4)[i];
        return a;
    }
    auto v6 = parse_ipv6(text);
    if (!v6) return std::nullopt;
    return unmapped(*v6);
}

IpAddress ipv4_from_bytes(const std::uint8_t* octets) {
    IpAddress a;
    for (std::size_t i = 0; i < 4; ++i) a.bytes[i] = octets[i];
    return a;
}

IpAddress ipv6_from_bytes(const std::uint8_t* octets) {
    std::array<std::uint8_t, 16> bytes{};
    for (std::size_t i = 0; i < 16; ++i) bytes[i] = octets[i];
    return unmapped(bytes);
}

std::string to_string(const IpAddress& a) {
    if (!a.v6)
        return std::to_string(a.bytes[0]) + "." + std::to_string(a.bytes[1]) + "." +
               std::to_string(a.bytes[2]) + "." + std::to_string(a.bytes[3]);
    std::array<unsigned, 8> g{};
    for (std::size_t i = 0; i < 8; ++i)
        g[i] = static_cast<unsigned>(a.bytes[2 * i]) << 8 | a.bytes[2 * i + 1];
    // RFC 5952 section 4.2: the longest run of at least two zero groups
    // (the first of equal runs) becomes "::".
    std::size_t best = 8, best_len = 1;
    for (std::size_t i = 0; i < 8;) {
        if (g[i] != 0) { ++i; continue; }
        std::size_t j = i;
        while (j < 8 && g[j] == 0) ++j;
        if (j - i > best_len) { best = i; best_len = j - i; }
        i = j;
    }
    static constexpr char k_hex[] = "0123456789abcdef";
    auto group = [&](unsigned v) {
        std::string s;
        bool started = false;
        for (int shift = 12; shift >= 0; shift -= 4) {
            unsigned d = (v >> shift) & 15;
            if (d != 0 || started || shift == 0) {
                s += k_hex[d];
                started = true;
            }
        }
        return s;
    };
    std::string out;
    for (std::size_t i = 0; i < 8; ++i) {
        if (i == best) {
            out += "::";
            i += best_len - 1;
            continue;
        }
        if (!out.empty() && out.back() != ':') out += ':';
        out += group(g[i]);
    }
    return out;
}

tl::expected<IpPrefix, std::string> parse_prefix(std::string_view text) {
    auto slash = text.find('/');
    auto address = parse_ip(text.substr(0, slash));
    if (!address)
        return tl::unexpected("\"" + std::string(text.substr(0, 60)) +
                              "\" is not an IPv4 or IPv6 address or prefix");
    const unsigned width = address->v6 ? 128 : 32;
    unsigned bits = width;
    if (slash != std::string_view::npos) {
        auto digits = text.substr(slash + 1);
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
        if (digits.empty() || (digits.size() > 1 && digits[0] == '0') || ec != std::errc{} ||
            end != digits.data() + digits.size() || bits > width)
            return tl::unexpected("\"" + std::string(text.substr(0, 60)) +
                                  "\": the prefix length must be 0 to " + std::to_string(width));
    }
    IpPrefix prefix{*address, bits};
    for (unsigned bit = bits; bit < width; ++bit)
        if ((address->bytes[bit / 8] >> (7 - bit % 8)) & 1)
            return tl::unexpected("\"" + std::string(text.substr(0, 60)) +
                                  "\" has address bits set beyond its prefix length");
    return prefix;
}

bool contains(const IpPrefix& prefix, const IpAddress& address) {
    if (prefix.base.v6 != address.v6) return false;
    for (unsigned bit = 0; bit < prefix.bits; ++bit) {
        const unsigned mask = 1u << (7 - bit % 8);
        if ((prefix.base.bytes[bit / 8] & mask) != (address.bytes[bit / 8] & mask)) return false;
    }
    return true;
}

tl::expected<std::vector<IpPrefix>, std::string> parse_prefix_list(std::string_view text) {
    std::vector<IpPrefix> out;
    while (true) {
        auto comma = text.find(',');
        auto prefix = parse_prefix(text.substr(0, comma));
        if (!prefix) return tl::unexpected(prefix.error());
        out.push_back(*prefix);
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    return out;
}

} // namespace pop3::core
