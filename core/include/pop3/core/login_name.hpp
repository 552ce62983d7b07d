// Login names "local@domain": validation (they become mailstore path
// components, domain/local/INBOX) and the default-domain rule.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace pop3::core {

// Longest local part (RFC 5321 section 4.5.3.1.1) and domain (RFC 1035).
inline constexpr std::size_t k_max_login_local = 64;
inline constexpr std::size_t k_max_login_domain = 253;

// A validated login. `local` is exactly as the client sent it (matched
// case-sensitively, like Dovecot's passwd-file); `domain` is lower-cased.
struct LoginName {
    std::string local;
    std::string domain;

    // "local@domain", the key looked up in the passwd-file.
    [[nodiscard]] std::string full() const;

    friend bool operator==(const LoginName&, const LoginName&) = default;
};

// Splits `login` (USER / APOP argument, RFC 1939 section 7) at its last '@'.
// Without '@' the domain is `default_domain` (empty = none configured, which
// is an error). Each part must be non-empty, short enough, free of '/', '\\',
// '%', NUL, control bytes and spaces, and must not start with '.' (so neither
// "." nor ".." can name a directory). The error text says what was wrong and
// does not quote the login.
[[nodiscard]] tl::expected<LoginName, std::string>
parse_login(std::string_view login, std::string_view default_domain);

} // namespace pop3::core
