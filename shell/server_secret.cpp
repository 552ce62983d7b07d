// Reading and creating the server secret with POSIX calls, so that the file
// is created exclusively with its final mode and errors carry errno.
#include "server_secret.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pop3::shell {
namespace {
std::string errno_text() { return std::strerror(errno); }
} // namespace

tl::expected<std::string, std::string> read_server_secret(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return tl::unexpected(errno_text());
    std::string secret(k_max_server_secret_size + 1, '\0');
    std::size_t size = 0;
    std::string error;
    while (size < secret.size()) {
        const ssize_t got = ::read(fd, secret.data() + size, secret.size() - size);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            error = errno_text();
            break;
        }
        if (got == 0) break;
        size += static_cast<std::size_t>(got);
    }
    ::close(fd);
    if (error.empty() && size < k_min_server_secret_size)
        error = "too short: " + std::to_string(size) + " octets, at least " +
                std::to_string(k_min_server_secret_size);
    if (error.empty() && size > k_max_server_secret_size)
        error = "too long: more than " + std::to_string(k_max_server_secret_size) + " octets";
    if (!error.empty()) {
        ::explicit_bzero(secret.data(), secret.size());
        return tl::unexpected(error);
    }
    ::explicit_bzero(secret.data() + size, secret.size() - size);
    secret.resize(size);
    return secret;
}

tl::expected<void, std::string> make_server_secret(const std::string& path) {
    unsigned char bytes[k_server_secret_size];
    if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes))
        return tl::unexpected("no random octets: " + errno_text());
    // O_EXCL also refuses a symlink, even one that points nowhere.
    const int fd = ::open(path.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        ::explicit_bzero(bytes, sizeof bytes);
        if (errno == EEXIST) return tl::unexpected(path + " exists; not overwritten");
        return tl::unexpected(path + ": " + errno_text());
    }
    std::string error;
    if (::fchmod(fd, 0600) != 0) error = errno_text(); // whatever the umask
    std::size_t written = 0;
    while (error.empty() && written < sizeof bytes) {
        const ssize_t n = ::write(fd, bytes + written, sizeof bytes - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            error = errno_text();
            break;
        }
        written += static_cast<std::size_t>(n);
    }
    if (error.empty() && ::fsync(fd) != 0) error = errno_text();
    ::explicit_bzero(bytes, sizeof bytes);
    if (::close(fd) != 0 && error.empty()) error = errno_text();
    if (!error.empty()) {
        ::unlink(path.c_str()); // half a secret is worse than none
        return tl::unexpected(path + ": " + error);
    }
    return {};
}

} // namespace pop3::shell
