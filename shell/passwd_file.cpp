// passwd-file lookup: read the whole file with POSIX calls (so errors carry
// errno), then parse it line by line with the pure core parser.
#include "passwd_file.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cerrno>
#include <cstddef>

#include <openssl/crypto.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pop3::shell {
namespace {

std::error_code last_error() { return {errno, std::generic_category()}; }

tl::expected<std::string, std::error_code> read_file(const std::string& path)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
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
    OPENSSL_cleanse(buffer, sizeof buffer);
    ::close(fd);
    if (error) {
        OPENSSL_cleanse(content.data(), content.size());
        return tl::make_unexpected(error);
    }
    return content;
}

// Wipes the file's text (it holds every secret) when the lookup is done.
struct WipeOnExit {
    explicit WipeOnExit(std::string& wiped) : text(wiped) {}
    WipeOnExit(const WipeOnExit&) = delete;
    WipeOnExit& operator=(const WipeOnExit&) = delete;
    ~WipeOnExit() { OPENSSL_cleanse(text.data(), text.size()); }
    std::string& text;
};

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

namespace {

// Reads the file once and hands each valid entry to `visit` until it returns
// true; malformed lines are reported through `warn` and skipped.
template <class Visit>
tl::expected<void, std::error_code>
scan_entries(const std::string& path,
             const std::function<void(std::string_view)>& warn, Visit visit)
{
    auto content = read_file(path);
    if (!content)
        return tl::make_unexpected(content.error());
    const WipeOnExit wipe{*content};

    std::string_view rest = *content;
    std::size_t line_number = 0;
    while (!rest.empty()) {
        ++line_number;
        const auto newline = rest.find('\n');
        const auto line = rest.substr(0, newline);
        rest.remove_prefix(newline == std::string_view::npos ? rest.size()
                                                             : newline + 1);
        auto parsed = pop3::core::parse_passwd_line(line);
        if (!parsed) {
            if (warn)
                warn("passwd-file " + path + " line " +
                     std::to_string(line_number) + ": " + parsed.error());
            continue;
        }
        if (*parsed && visit(std::move(**parsed)))
            break;
    }
    return {};
}

} // namespace

tl::expected<std::optional<pop3::core::PasswdEntry>, std::error_code>
find_user(const std::string& path, std::string_view user,
          const std::function<void(std::string_view)>& warn)
{
    std::optional<pop3::core::PasswdEntry> found;
    auto scanned = scan_entries(path, warn, [&](pop3::core::PasswdEntry e) {
        if (!same_user(e.user, user))
            return false;
        found = std::move(e);
        return true;
    });
    if (!scanned)
        return tl::make_unexpected(scanned.error());
    return found;
}

tl::expected<bool, std::error_code>
any_entry(const std::string& path,
          const std::function<bool(const pop3::core::PasswdEntry&)>& predicate)
{
    bool any = false;
    auto scanned = scan_entries(path, {}, [&](const pop3::core::PasswdEntry& e) {
        any = predicate(e);
        return any;
    });
    if (!scanned)
        return tl::make_unexpected(scanned.error());
    return any;
}

tl::expected<std::string, std::error_code>
content_digest(const std::string& path)
{
    auto content = read_file(path);
    if (!content)
        return tl::make_unexpected(content.error());
    const WipeOnExit wipe{*content};
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(content->data(), content->size(), digest, &size, EVP_sha256(), nullptr);
    std::string out(reinterpret_cast<char*>(digest), size);
    OPENSSL_cleanse(digest, sizeof digest);
    return out;
}

} // namespace pop3::shell
