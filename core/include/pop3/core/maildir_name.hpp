// Parsing Maildir message file names (the qmail/Courier/Dovecot convention):
// "<unique>[,S=<size>][,W=<vsize>][:2,<flags>]".
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pop3::core {

struct MaildirName {
    std::string_view base;                // unique part, see maildir_base_name
    std::optional<std::uint64_t> size;    // ,S= : file size in octets
    std::optional<std::uint64_t> vsize;   // ,W= : size with CRLF line ends
    std::optional<std::string_view> flags; // after ":2,", when present
};

// Parses a file name from new/ or cur/. Names starting with '.', empty names
// and names with a '/' or NUL are not messages (nullopt).
[[nodiscard]] std::optional<MaildirName> parse_maildir_name(std::string_view name);

// The file name up to its first ':' (the info part), "x,S=10,W=12" for
// "x,S=10,W=12:2,S": what qmail-pop3d uses as the UIDL and Dovecot's
// pop3_uidl_format calls %f. A flag change does not change it.
[[nodiscard]] std::string_view maildir_unique_name(std::string_view file_name);

// The microseconds of a delivery within its second, as Dovecot and other
// modern delivery agents write them: the digits after "M" that starts the
// second dot-separated part ("1700000000.M9P1234.host" -> 9), else 0.
// Messages delivered in the same second are numbered in this order, then by
// name, as Dovecot numbers them (so "M9" comes before "M10").
[[nodiscard]] std::uint32_t delivery_microseconds(std::string_view base);

// The name with flag `flag` added to its ":2," info (kept sorted, as the
// Maildir spec asks), e.g. "x:2,F" + 'S' -> "x:2,FS", "x" -> "x:2,S".
[[nodiscard]] std::string with_flag(std::string_view name, char flag);

} // namespace pop3::core
