// The size cache file: strict parsing, bounded reads, atomic replacement.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <string>

#include "size_cache.hpp"
#include "unique_fd.hpp"

namespace pop3::shell {
namespace {

constexpr std::string_view k_header = "pop3d-sizes 1\n";
constexpr std::size_t k_max_cache_bytes = 64u * 1024u * 1024u;

std::optional<std::uint64_t> number(std::string_view text) {
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size())
        return std::nullopt;
    return value;
}

// Base names with blanks or control bytes are never cached (they could not
// be written back unambiguously); such names are rare and simply recounted.
bool cacheable(std::string_view base) {
    if (base.empty()) return false;
    for (char c : base)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F) return false;
    return true;
}

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        auto n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

} // namespace

SizeCache SizeCache::load(int dir_fd) {
    SizeCache cache;
    UniqueFd fd{::openat(dir_fd, k_file_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)};
    if (!fd) return cache;
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<std::uint64_t>(st.st_size) > k_max_cache_bytes)
        return cache;
    std::string& content = cache.content_;
    content.assign(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < content.size()) {
        auto n = ::read(fd.get(), content.data() + got, content.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    content.resize(got);
    std::string_view rest = content;
    if (rest.substr(0, k_header.size()) != k_header) return cache;
    cache.loaded_.reserve(content.size() / 40);
    rest.remove_prefix(k_header.size());
    while (!rest.empty()) {
        auto eol = rest.find('\n');
        if (eol == std::string_view::npos) break; // torn last line: ignore
        auto line = rest.substr(0, eol);
        rest.remove_prefix(eol + 1);
        auto s1 = line.find(' ');
        auto s2 = s1 == std::string_view::npos ? s1 : line.find(' ', s1 + 1);
        if (s2 == std::string_view::npos) continue;
        auto base = line.substr(0, s1);
        auto file_size = number(line.substr(s1 + 1, s2 - s1 - 1));
        auto wire_size = number(line.substr(s2 + 1));
        if (!cacheable(base) || !file_size || !wire_size) continue;
        cache.loaded_.emplace(base, Entry{*file_size, *wire_size});
    }
    return cache;
}

std::optional<std::uint64_t> SizeCache::lookup(std::string_view base,
                                               std::uint64_t file_size) const {
    auto it = loaded_.find(base);
    if (it == loaded_.end() || it->second.file_size != file_size) return std::nullopt;
    return it->second.wire_size;
}

void SizeCache::keep(std::string_view base, std::uint64_t file_size,
                     std::uint64_t wire_size) {
    if (!cacheable(base)) return;
    Entry entry{file_size, wire_size};
    auto it = loaded_.find(base);
    if (it == loaded_.end() || !(it->second == entry)) changed_ = true;
    kept_.emplace_back(std::string(base), entry);
}

void SizeCache::save(int dir_fd) const {
    // Base names are unique in a snapshot, so equal counts with nothing
    // changed means the file already says exactly this.
    if (!changed_ && kept_.size() == loaded_.size()) return;
    std::string out(k_header);
    out.reserve(k_header.size() + kept_.size() * 48);
    for (const auto& [base, entry] : kept_) {
        out += base;
        out += ' ';
        out += std::to_string(entry.file_size);
        out += ' ';
        out += std::to_string(entry.wire_size);
        out += '\n';
    }
    // Write beside the final name, then rename over it: readers see the old
    // or the new cache, never a torn one; concurrent writers just race.
    std::string temp = std::string(k_file_name) + ".tmp." + std::to_string(::getpid());
    UniqueFd fd{::openat(dir_fd, temp.c_str(),
                         O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)};
    if (!fd) return;
    bool ok = write_all(fd.get(), out);
    fd.reset();
    if (!ok || ::renameat(dir_fd, temp.c_str(), dir_fd, k_file_name) != 0)
        ::unlinkat(dir_fd, temp.c_str(), 0);
}

} // namespace pop3::shell
