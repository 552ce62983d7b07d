// UIDL strings from Maildir unique names (RFC 1939 section 7, UIDL).
#pragma once
#include <string>
#include <string_view>

namespace pop3::core {

// The stable part of a Maildir file name: up to the first ':' (info) or ','
// (attributes such as ,S= and ,W=), as Dovecot matches renamed files.
[[nodiscard]] std::string_view maildir_base_name(std::string_view file_name);

// A unique-id of 1..70 octets in 0x21..0x7E (RFC 1939 section 7). A base
// name that fits is used as it is, unless it ends in '~' and 16 lowercase hex
// digits; any other is mapped deterministically to a printable prefix, '~'
// and a 64-bit hash in hex, so it stays stable across sessions, and a name
// used as it is never equals another's encoded form.
[[nodiscard]] std::string uidl_for(std::string_view base_name);
// Whether uidl_for(base_name) is base_name itself (so a caller may keep a
// view of the name instead of the string).
[[nodiscard]] bool fits_as_uidl(std::string_view base_name);

} // namespace pop3::core
