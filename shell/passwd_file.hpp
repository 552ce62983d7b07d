// Looking up users in a Dovecot-format passwd-file, read once by every
// session so that edits (shared with the IMAP server) apply without a restart.
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

// A whole configuration file of at most k_max_passwd_file_size octets,
// read so that no stray copy of its content stays in freed memory (it may
// hold secrets). Errors are those of open(2) and read(2), or file_too_large.
[[nodiscard]] tl::expected<std::string, std::error_code> read_file(const std::string& path);
// The same for `path` relative to the directory `dir` (or AT_FDCWD), opened
// with `extra_flags` too (O_NOFOLLOW for files in a mailbox).
[[nodiscard]] tl::expected<std::string, std::error_code>
read_file_at(int dir, const std::string& path, int extra_flags);

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

// The passwd-file as read once for a session (pop3d serves one session
// per process): what the greeting offers, every login attempt and the SCRAM
// salt key all use this one read. Its text is wiped on destruction.
class PasswdFile {
public:
    [[nodiscard]] static tl::expected<PasswdFile, std::error_code>
    read(std::string path);
    PasswdFile(PasswdFile&&) noexcept = default;
    PasswdFile& operator=(PasswdFile&&) noexcept = default;
    PasswdFile(const PasswdFile&) = delete;
    PasswdFile& operator=(const PasswdFile&) = delete;
    ~PasswdFile();

    // As find_user, on the text already read.
    [[nodiscard]] std::optional<pop3::core::PasswdEntry>
    find(std::string_view user,
         const std::function<void(std::string_view)>& warn) const;
    // Every entry in file order, until `visit` returns true; malformed
    // lines are reported through `warn` as find() does.
    void for_each_entry(
        const std::function<bool(const pop3::core::PasswdEntry&)>& visit,
        const std::function<void(std::string_view)>& warn) const;

    // The scheme of every entry ("PLAIN", "SHA512-CRYPT", ...; "CRYPT" when
    // none is given), as written, without parsing the rest of the line.
    void for_each_scheme(const std::function<void(std::string_view)>& visit) const;
    // The scheme and secret of every entry, read as lightly as the schemes
    // (a secret ends at the next ':'), for choosing a dummy verification.
    void for_each_secret(
        const std::function<void(std::string_view, std::string_view)>& visit) const;
    // SHA-256 of the whole file: a server-side secret for keying SCRAM
    // salts (the file holds every password; outsiders cannot know it).
    [[nodiscard]] std::string digest() const;
    [[nodiscard]] const std::string& path() const { return path_; }

private:
    PasswdFile() = default;
    template <class Visit> void for_each_line(Visit visit) const;
    std::string path_;
    std::string content_;
};

} // namespace pop3::shell
