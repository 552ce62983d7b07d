// The index file: strict parsing, bounded reads, atomic replacement.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <new>
#include <string>

#include "maildir_index.hpp"
#include "random_source.hpp"
#include "unique_fd.hpp"

namespace pop3::shell {
namespace {

// Version 3 added the directories' device and ctime to the stamp (issue 11,
// 3.7); version 4 lists same-second deliveries by their microseconds
// (issue 14). Older indexes are ignored, so the first session rebuilds them.
constexpr std::string_view k_magic = "pop3d-index 4 ";
constexpr std::size_t k_subdir_prefix = 4; // "new/" or "cur/"

std::optional<std::uint64_t> number(std::string_view text) {
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size())
        return std::nullopt;
    return value;
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

bool MaildirIndex::storable(std::string_view rel) {
    if (rel.empty() || rel.size() > k_max_name_octets) return false;
    for (char c : rel)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F) return false;
    return true;
}

std::optional<IndexEntry> MaildirIndex::parse_entry(std::string_view line) {
    const auto s2 = line.rfind(' ');
    if (s2 == std::string_view::npos || s2 == 0) return std::nullopt;
    const auto s1 = line.rfind(' ', s2 - 1);
    if (s1 == std::string_view::npos) return std::nullopt;
    IndexEntry entry;
    entry.rel = line.substr(0, s1);
    if (entry.rel.size() > k_max_name_octets || entry.rel.size() <= k_subdir_prefix)
        return std::nullopt;
    const auto sub = entry.rel.substr(0, k_subdir_prefix);
    if (sub != "new/" && sub != "cur/") return std::nullopt;
    // One pass over the file name for what storable() and
    // core::parse_maildir_name() would each check in passes of their own
    // (issue 16: this runs for every message of every login from the
    // index): no blank, control octet, DEL, '/' or NUL, no leading '.',
    // and a base name (up to the first ',' or ':') that is not empty.
    const std::string_view file = entry.rel.substr(k_subdir_prefix);
    if (file.front() == '.') return std::nullopt;
    std::size_t base_end = file.size();
    for (std::size_t i = 0; i < file.size(); ++i) {
        const auto c = static_cast<unsigned char>(file[i]);
        if (c <= 0x20 || c == 0x7F || c == '/') return std::nullopt;
        if ((c == ',' || c == ':') && base_end == file.size()) base_end = i;
    }
    if (base_end == 0) return std::nullopt;
    entry.base_size = base_end;
    const auto file_size = number(line.substr(s1 + 1, s2 - s1 - 1));
    const auto wire_size = number(line.substr(s2 + 1));
    if (!file_size || !wire_size) return std::nullopt;
    entry.file_size = *file_size;
    entry.wire_size = *wire_size;
    return entry;
}

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool k_heap_text = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool k_heap_text = true;
#else
constexpr bool k_heap_text = false;
#endif
#else
constexpr bool k_heap_text = false;
#endif

} // namespace

std::shared_ptr<IndexText> IndexText::read(int fd, std::size_t size) {
    std::shared_ptr<IndexText> text(new IndexText());
    if (size == 0) return text;
    if (k_heap_text) {
        text->heap_.reset(new (std::nothrow) char[size]);
        if (!text->heap_) return nullptr;
        text->data_ = text->heap_.get();
    } else {
        // Populated now: one system call instead of a fault per page.
        void* mapped = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (mapped == MAP_FAILED) return nullptr;
        text->data_ = static_cast<char*>(mapped);
        text->mapped_ = size;
    }
    while (text->size_ < size) {
        auto n = ::read(fd, text->data_ + text->size_, size - text->size_);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return nullptr;
        if (n == 0) break; // shorter than it was: the text ends here
        text->size_ += static_cast<std::size_t>(n);
    }
    return text;
}

IndexText::~IndexText() {
    if (mapped_ != 0) ::munmap(data_, mapped_);
}

MaildirIndex MaildirIndex::load(int dir_fd) {
    MaildirIndex index;
    UniqueFd fd{::openat(dir_fd, k_file_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)};
    if (!fd) return index;
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<std::uint64_t>(st.st_size) > k_max_bytes)
        return index;
    auto content = IndexText::read(fd.get(), static_cast<std::size_t>(st.st_size));
    if (!content) return index;
    const std::string_view text = content->view();
    const auto eol = text.find('\n');
    if (text.substr(0, k_magic.size()) != k_magic || eol == std::string_view::npos)
        return index;
    index.stamp_ = std::string(text.substr(k_magic.size(), eol - k_magic.size()));
    index.body_offset_ = eol + 1;
    index.text_ = std::move(content);
    return index;
}

std::optional<std::uint64_t> MaildirIndex::lookup(std::string_view base,
                                                  std::uint64_t file_size) {
    if (!by_base_) {
        by_base_.emplace();
        by_base_->reserve(content().size() / 48);
        std::string_view rest = body();
        while (!rest.empty()) {
            const auto eol = rest.find('\n');
            if (eol == std::string_view::npos) break; // torn last line
            if (auto entry = parse_entry(rest.substr(0, eol)))
                by_base_->emplace(entry->rel.substr(k_subdir_prefix, entry->base_size),
                                  Sizes{entry->file_size, entry->wire_size});
            rest.remove_prefix(eol + 1);
        }
    }
    auto it = by_base_->find(base);
    if (it == by_base_->end() || it->second.file_size != file_size) return std::nullopt;
    return it->second.wire_size;
}

std::string MaildirIndex::header(std::string_view stamp) {
    std::string text(k_magic);
    text += stamp;
    text += '\n';
    return text;
}

void MaildirIndex::append_entry(std::string& text, std::string_view rel,
                                std::uint64_t file_size, std::uint64_t wire_size) {
    char digits[24];
    text += rel;
    text += ' ';
    auto end = std::to_chars(digits, digits + sizeof digits, file_size).ptr;
    text.append(digits, end);
    text += ' ';
    end = std::to_chars(digits, digits + sizeof digits, wire_size).ptr;
    text.append(digits, end);
    text += '\n';
}

void MaildirIndex::save(int dir_fd, const std::string& text, std::string_view loaded) {
    if (text == loaded) return;
    // Write beside the final name, then rename over it: readers see the old
    // or the new index, never a torn one; concurrent writers just race.
    // A random part besides the pid: hosts (or containers) sharing the
    // INBOX may have sessions of the same pid, and O_EXCL never writes into
    // a file another session still writes.
    std::string temp = std::string(k_file_name) + ".tmp." + std::to_string(::getpid()) +
                       "." + random_hex(6);
    UniqueFd fd{::openat(dir_fd, temp.c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
    if (!fd) return;
    bool ok = write_all(fd.get(), text);
    fd.reset();
    if (!ok || ::renameat(dir_fd, temp.c_str(), dir_fd, k_file_name) != 0)
        ::unlinkat(dir_fd, temp.c_str(), 0);
}

void MaildirIndex::drop(int dir_fd) { ::unlinkat(dir_fd, k_file_name, 0); }

} // namespace pop3::shell
