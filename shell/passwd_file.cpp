// passwd-file lookup: read the whole file with POSIX calls (so errors carry
// errno), then parse it line by line with the pure core parser.
#include "passwd_file.hpp"
#include "crypto_primitives.hpp"

#include <cerrno>
#include <cstddef>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pop3::shell {
namespace {

std::error_code last_error() { return {errno, std::generic_category()}; }

} // namespace

tl::expected<std::string, std::error_code> read_file(const std::string& path)
{
    return read_file_at(AT_FDCWD, path, 0);
}

tl::expected<std::string, std::error_code> read_file_at(int dir, const std::string& path,
                                                       int extra_flags)
{
    const int fd = ::openat(dir, path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | extra_flags);
    if (fd < 0)
        return tl::make_unexpected(last_error());
    std::string content;
    // Reserve up front so that growing the string leaves no stray copies of
    // secrets in freed memory.
    struct stat info {};
    if (::fstat(fd, &info) == 0 && info.st_size > 0 &&
        static_cast<std::size_t>(info.st_size) <= k_max_passwd_file_size)
        content.reserve(static_cast<std::size_t>(info.st_size) + 1);
    std::error_code error;
    char buffer[16384];
    for (;;) {
        const ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            error = last_error();
            break;
        }
        if (got == 0)
            break;
        if (content.size() + static_cast<std::size_t>(got) >
            k_max_passwd_file_size) {
            error = std::make_error_code(std::errc::file_too_large);
            break;
        }
        content.append(buffer, static_cast<std::size_t>(got));
    }
    ::explicit_bzero(buffer, sizeof buffer);
    ::close(fd);
    if (error) {
        ::explicit_bzero(content.data(), content.size());
        return tl::make_unexpected(error);
    }
    return content;
}

namespace {

bool equal_ignoring_ascii_case(std::string_view a, std::string_view b)
{
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i];
        char y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = static_cast<char>(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

bool same_user(std::string_view field, std::string_view user)
{
    const auto field_at = field.rfind('@');
    const auto user_at = user.rfind('@');
    if (field_at == std::string_view::npos ||
        user_at == std::string_view::npos)
        return field_at == user_at && field == user;
    return field.substr(0, field_at) == user.substr(0, user_at) &&
           equal_ignoring_ascii_case(field.substr(field_at + 1),
                                     user.substr(user_at + 1));
}

} // namespace

PasswdFile::~PasswdFile() { ::explicit_bzero(content_.data(), content_.size()); }

tl::expected<PasswdFile, std::error_code> PasswdFile::read(std::string path)
{
    auto content = read_file(path);
    if (!content)
        return tl::make_unexpected(content.error());
    PasswdFile file;
    file.path_ = std::move(path);
    file.content_ = std::move(*content); // moves the buffer: no stray copy
    return file;
}

template <class Visit>
void PasswdFile::for_each_line(Visit visit) const
{
    std::string_view rest = content_;
    std::size_t line_number = 0;
    while (!rest.empty()) {
        ++line_number;
        const auto newline = rest.find('\n');
        const auto line = rest.substr(0, newline);
        rest.remove_prefix(newline == std::string_view::npos ? rest.size()
                                                             : newline + 1);
        if (visit(line, line_number))
            return;
    }
}

void PasswdFile::for_each_entry(
    const std::function<bool(const pop3::core::PasswdEntry&)>& visit,
    const std::function<void(std::string_view)>& warn) const
{
    for_each_line([&](std::string_view line, std::size_t line_number) {
        auto parsed = pop3::core::parse_passwd_line(line);
        if (!parsed) {
            if (warn)
                warn("passwd-file " + path_ + " line " +
                     std::to_string(line_number) + ": " + parsed.error());
            return false;
        }
        return *parsed && visit(**parsed);
    });
}

std::optional<pop3::core::PasswdEntry>
PasswdFile::find(std::string_view user,
                 const std::function<void(std::string_view)>& warn) const
{
    std::optional<pop3::core::PasswdEntry> found;
    for_each_entry(
        [&](const pop3::core::PasswdEntry& entry) {
            if (!same_user(entry.user, user))
                return false;
            found = entry;
            return true;
        },
        warn);
    return found;
}

void PasswdFile::for_each_scheme(
    const std::function<void(std::string_view)>& visit) const
{
    // Only the scheme field is looked at and no entry is built: this runs
    // before every greeting, so it must cost little more than the read.
    for_each_line([&](std::string_view line, std::size_t) {
        const auto colon = line.find(':');
        if (line.empty() || line[0] == '#' || colon == std::string_view::npos)
            return false;
        const auto secret = line.substr(colon + 1);
        if (secret.empty() || secret[0] != '{') {
            visit("CRYPT"); // Dovecot's default scheme for passwd-files
            return false;
        }
        const auto close = secret.find('}');
        if (close != std::string_view::npos)
            visit(secret.substr(1, close - 1));
        return false;
    });
}

void PasswdFile::for_each_secret(
    const std::function<void(std::string_view, std::string_view)>& visit) const
{
    for_each_line([&](std::string_view line, std::size_t) {
        const auto colon = line.find(':');
        if (line.empty() || line[0] == '#' || colon == std::string_view::npos)
            return false;
        auto secret = line.substr(colon + 1);
        secret = secret.substr(0, secret.find(':'));
        if (!secret.empty() && secret.back() == '\r')
            secret.remove_suffix(1);
        if (secret.empty() || secret[0] != '{') {
            visit("CRYPT", secret);
            return false;
        }
        const auto close = secret.find('}');
        if (close != std::string_view::npos)
            visit(secret.substr(1, close - 1), secret.substr(close + 1));
        return false;
    });
}

std::string PasswdFile::digest() const
{
    return sha256(content_);
}

tl::expected<std::optional<pop3::core::PasswdEntry>, std::error_code>
find_user(const std::string& path, std::string_view user,
          const std::function<void(std::string_view)>& warn)
{
    auto file = PasswdFile::read(path);
    if (!file)
        return tl::make_unexpected(file.error());
    return file->find(user, warn);
}

} // namespace pop3::shell
