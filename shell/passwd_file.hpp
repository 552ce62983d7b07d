// Looking up one user in a Dovecot-format passwd-file, read afresh at each
// login so that edits (shared with the IMAP server) apply without a restart.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <tl/expected.hpp>

#include "pop3/core/passwd_line.hpp"

namespace pop3::shell {

// Largest passwd-file we read; anything bigger is refused (EFBIG).
inline constexpr std::size_t k_max_passwd_file_size = 64u * 1024u * 1024u;

// Returns the first entry whose user field equals `user`: the parts before
// the last '@' compare exactly, the parts after it case-insensitively (a user
// field without '@' only matches a `user` without '@'). nullopt when there is
// none. Malformed lines are skipped, each reported through
// warn("passwd-file <path> line <N>: <what>"); warnings never quote a field.
// Errors are those of opening or reading the file.
[[nodiscard]] tl::expected<std::optional<pop3::core::PasswdEntry>,
                           std::error_code>
find_user(const std::string& path, std::string_view user,
          const std::function<void(std::string_view)>& warn);

// True when some valid entry satisfies `predicate` (malformed lines are
// skipped silently; find_user reports them at login).
[[nodiscard]] tl::expected<bool, std::error_code>
any_entry(const std::string& path,
          const std::function<bool(const pop3::core::PasswdEntry&)>& predicate);

// SHA-256 of the whole file: a server-side secret for keying SCRAM salts
// (the file holds every password, so outsiders cannot know its digest).
[[nodiscard]] tl::expected<std::string, std::error_code>
content_digest(const std::string& path);

} // namespace pop3::shell
