// The shared index of an INBOX, "pop3d-index": the last scan's listing in
// message-number order with each message's file size and wire size (what
// LIST reports), stamped with the state of new/ and cur/ it was read from.
//
// * As a size cache (in the spirit of Courier's size list) it spares every
//   session from reading the files whose names carry no ",W=" to count their
//   line ends; an entry is used only while its file still has the size it
//   had when counted, so it is never trusted over a file that changed.
// * As a listing (in the spirit of Dovecot's index) it spares the scan
//   itself: when new/ and cur/ still have the inode numbers and mtimes of
//   the stamp, and the scan that wrote it started long enough after those
//   mtimes for them to be exact (maildir.cpp, the coarse window), no entry
//   can have been added, renamed or removed since, and the listing is the
//   directory. Any change to either directory changes its mtime.
//
// Any session may rewrite the file, atomically by rename; a stale, foreign
// or corrupt file only costs a full scan. Names are validated as strictly as
// names read from the directories: a forged index can list only files in
// new/ and cur/, which whoever can write the INBOX could put there anyway.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pop3::shell {

// The index file's bytes, read once into memory that is mapped and
// populated in one call (no page fault per page; issue 16). The listing's
// names and the snapshot's UIDLs point into it, so nothing is copied per
// message. It is a private copy, on purpose: mapping the file itself was
// measured 1.4 ms faster for a 10,000-message session (on these
// paravirtualised machines every page a process first touches costs
// about 5 us), but the pages of a MAP_PRIVATE mapping show later writes
// to the file, so an index rewritten in place under a session (cp -a of a
// backup) would have changed the names of its messages between LIST and
// DELE. (Under AddressSanitizer the copy is on the heap, where overruns
// show.)
class IndexText {
public:
    // The first `size` octets of `fd` (fewer if it is shorter); null when
    // memory or the read fails (the index is then treated as missing).
    [[nodiscard]] static std::shared_ptr<IndexText> read(int fd, std::size_t size);
    IndexText(const IndexText&) = delete;
    IndexText& operator=(const IndexText&) = delete;
    ~IndexText();

    [[nodiscard]] std::string_view view() const { return {data_, size_}; }

private:
    IndexText() = default;
    char* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t mapped_ = 0;       // the anonymous mapping's length (0: none)
    std::unique_ptr<char[]> heap_; // instead, under AddressSanitizer
};

// One line of the index.
struct IndexEntry {
    std::string_view rel;      // "new/<name>" or "cur/<name>"
    std::size_t base_size = 0; // length of the base name after "new/"
    std::uint64_t file_size = 0;
    std::uint64_t wire_size = 0;
};

class MaildirIndex {
public:
    static constexpr const char* k_file_name = "pop3d-index";
    // Larger files are ignored (1,000,000 messages with 200-octet names fit).
    static constexpr std::size_t k_max_bytes = 256u * 1024u * 1024u;
    // A stamp for "the listing cannot be trusted, sizes only".
    static constexpr std::string_view k_no_stamp = "-";
    // The longest name an entry may hold: "new/" or "cur/" and one file
    // name of at most NAME_MAX (255) octets, all a scan can find. Longer
    // ones make the index invalid (issue 11, 3.6: a forged 65,536-octet
    // name once overflowed a 16-bit length and aborted pop3d).
    static constexpr std::size_t k_max_name_octets = 4 + 255;
    // The shortest line parse_entry accepts ("new/x 0 0" and its newline):
    // what bounds the number of entries a file of a given size can hold.
    static constexpr std::size_t k_min_entry_line_octets = 10;

    // Reads the index of the INBOX open as `dir_fd`; a missing, unreadable,
    // oversized or foreign file gives an empty index.
    [[nodiscard]] static MaildirIndex load(int dir_fd);

    [[nodiscard]] std::string_view stamp() const { return stamp_; }
    [[nodiscard]] std::string_view content() const {
        return text_ ? text_->view() : std::string_view{};
    }

    // The whole listing, in order, or nullopt if any line is malformed or
    // holds a name that could not come from a scan. The views point into
    // the index's content.
    template <class Visit> bool for_each_entry(Visit&& visit) const {
        std::string_view rest = body();
        while (!rest.empty()) {
            const auto eol = rest.find('\n');
            if (eol == std::string_view::npos) return false; // torn
            const auto entry = parse_entry(rest.substr(0, eol));
            if (!entry) return false;
            visit(*entry);
            rest.remove_prefix(eol + 1);
        }
        return true;
    }

    // The content, shared, for the names and the UIDLs of a listing to
    // point into.
    [[nodiscard]] std::shared_ptr<IndexText> text() const { return text_; }

    // The recorded wire size of `base` if its file size is still
    // `file_size`. The first call builds a map of the entries.
    [[nodiscard]] std::optional<std::uint64_t> lookup(std::string_view base,
                                                      std::uint64_t file_size);

    // An entry line as parsed; nullopt for anything a scan could not write.
    [[nodiscard]] static std::optional<IndexEntry> parse_entry(std::string_view line);
    // True for names the index can hold (no blanks or control bytes, at
    // most k_max_name_octets).
    [[nodiscard]] static bool storable(std::string_view rel);

    // The text of an index: header(stamp) then entry() per message.
    [[nodiscard]] static std::string header(std::string_view stamp);
    static void append_entry(std::string& text, std::string_view rel,
                             std::uint64_t file_size, std::uint64_t wire_size);
    // Replaces the INBOX's index by `text` unless it already says exactly
    // that. Best effort: errors (read-only store, quota) are ignored; the
    // next session scans and counts again.
    static void save(int dir_fd, const std::string& text, std::string_view loaded);
    // Removes the index (a file changed in place: its sizes are suspect).
    static void drop(int dir_fd);

private:
    [[nodiscard]] std::string_view body() const { return content().substr(body_offset_); }
    struct Sizes {
        std::uint64_t file_size;
        std::uint64_t wire_size;
    };
    std::shared_ptr<IndexText> text_; // the file as read
    std::string stamp_;
    std::size_t body_offset_ = 0;
    std::optional<std::unordered_map<std::string_view, Sizes>> by_base_;
};

} // namespace pop3::shell
