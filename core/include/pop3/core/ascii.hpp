// ASCII case handling for protocol keywords, mechanism names and logins
// (never locale-dependent: POP3 keywords are ASCII, RFC 1939 section 3).
#pragma once
#include <string>
#include <string_view>

namespace pop3::core {

[[nodiscard]] constexpr char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

[[nodiscard]] constexpr bool ascii_iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

[[nodiscard]] inline std::string ascii_lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out) c = ascii_lower(c);
    return out;
}

[[nodiscard]] constexpr char ascii_upper(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

[[nodiscard]] inline std::string ascii_upper(std::string_view text) {
    std::string out(text);
    for (auto& c : out) c = ascii_upper(c);
    return out;
}

[[nodiscard]] constexpr bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

// The value of a hexadecimal digit of either case, else -1.
[[nodiscard]] constexpr int ascii_hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

} // namespace pop3::core
