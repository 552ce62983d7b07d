// A shared cache of message wire sizes (what LIST reports) for Maildir files
// whose names carry no ",W=", in the spirit of Courier's size list: without
// it every session would read every such file to count its line ends.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pop3::shell {

// The file "pop3d-sizes" in the INBOX directory: a header line, then one
// "<base name> <file size> <wire size>" line per message. Any session may
// rewrite it (atomically, by rename); a stale or corrupt cache only costs
// recounting. An entry is used only while the file still has the size it
// had when counted, so it is never trusted over a file that changed.
class SizeCache {
public:
    static constexpr const char* k_file_name = "pop3d-sizes";

    // Reads the cache of the INBOX open as `dir_fd`; missing, unreadable,
    // oversized or malformed content gives an empty (or partial) cache.
    [[nodiscard]] static SizeCache load(int dir_fd);

    // The cached wire size of `base` if its file size is still `file_size`.
    [[nodiscard]] std::optional<std::uint64_t> lookup(std::string_view base,
                                                      std::uint64_t file_size) const;
    // Records a counted size for a message present in this snapshot.
    void keep(std::string_view base, std::uint64_t file_size, std::uint64_t wire_size);

    // Rewrites the cache with exactly the entries kept, if that differs from
    // what was loaded (new counts, or messages gone). Best effort: errors
    // (read-only store, quota) are ignored; the next session counts again.
    void save(int dir_fd) const;

    [[nodiscard]] std::size_t loaded_entries() const { return loaded_.size(); }

    SizeCache() = default;
    SizeCache(SizeCache&&) = default; // views into content_ stay valid
    SizeCache& operator=(SizeCache&&) = default;

private:
    struct Entry {
        std::uint64_t file_size;
        std::uint64_t wire_size;
        bool operator==(const Entry&) const = default;
    };
    std::string content_; // the file as read; loaded_ keys point into it
    std::unordered_map<std::string_view, Entry> loaded_;
    std::vector<std::pair<std::string, Entry>> kept_;
    bool changed_ = false; // a kept entry is new or differs from the file
};

} // namespace pop3::shell
