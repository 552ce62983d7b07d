// Parsing one line of a Dovecot passwd-file:
// "user:{SCHEME}secret[:uid:gid:gecos:home:shell:extra]".
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace pop3::core {

// One account of the password database. `scheme` is upper-case, including any
// encoding suffix ("SHA256.HEX"); a secret written without "{SCHEME}" has the
// scheme "CRYPT", as in Dovecot's passwd-file.
struct PasswdEntry {
    std::string user;
    std::string scheme;
    std::string secret;
    std::optional<std::uint32_t> uid;
    std::optional<std::uint32_t> gid;
    std::string home;

    friend bool operator==(const PasswdEntry&, const PasswdEntry&) = default;
};

// Parses one line (without its line feed; a trailing CR is ignored).
// Blank lines and lines whose first non-blank character is '#' are no entry
// (nullopt). Malformed lines give an error text that never quotes a field:
// a misplaced ':' can push part of a secret into any later field.
[[nodiscard]] tl::expected<std::optional<PasswdEntry>, std::string>
parse_passwd_line(std::string_view line);

} // namespace pop3::core
