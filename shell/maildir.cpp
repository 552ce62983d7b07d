// The Maildir store without locks.
//
// Theory of operation. At open() the INBOX's new/ and cur/ are read once
// into the snapshot (sizes and UIDLs, fixed for the session) and a parallel
// vector of current relative names ("new/X" or "cur/X:2,S"); an empty name
// means the message is gone (vanished, or removed by this session). Other
// programs (an MDA, an IMAP server, another POP3 session) may change the
// store at any time; we never lock it, and instead:
//
// * refresh() first stat()s new/ and cur/. Any change to a directory's
//   entries (delivery, rename, unlink) updates its mtime and ctime, so if
//   both directories' stamps (device, inode, mtime, ctime) equal the ones
//   recorded at the last scan, nothing can have changed and nothing is
//   read. The ctime is what makes this hold against a backup restored over
//   a live INBOX (tar, rsync -a, cp -a put old mtimes back; no one can set
//   a ctime). Directory timestamps are coarse, however (the kernel
//   stamps them from a clock that ticks every few milliseconds, some file
//   systems keep whole seconds, NFS servers have their own clocks): a change
//   made just after our scan can leave the same mtime. So when the last scan
//   started less than k_coarse_window after a directory's mtime, we rescan
//   anyway; once a directory has been quiet for that long, a refresh costs
//   two stat() calls. The directory times are taken before readdir(), so a
//   change during the scan shows up as a new mtime next time.
// * A rescan looks every live snapshot message up by its base name (the part
//   of the file name before ':' or ','), so a flag change or a move from new/
//   to cur/ is followed. readdir() may miss an entry renamed while the
//   directory is being read, so a message not found is looked for in one
//   more scan before it is declared vanished. Files that are not in the
//   snapshot (deliveries) are ignored.
// * On local file systems (ext4, xfs, btrfs, tmpfs) new/ and cur/ are also
//   watched with inotify from before the first scan. Every entry change is
//   then an event, exact and free of clock granularity, so refresh() reads
//   the pending events instead of stat()ing: no event (or only the events of
//   our own mark_seen renames) means nothing changed, and no rescan is
//   needed. Without that, our own renames would change cur/'s mtime and
//   make every following command rescan the whole directory (O(N) per
//   RETR). Any other event, a lost event queue or a removed watch means a
//   rescan; when inotify is unavailable (NFS and other remote or unknown
//   file systems, instance limits) the stamp rule above is used alone.
// * Without inotify, our own Seen renames are recognised by their stamps
//   (issue 11, 3.9: on ramfs a retrieve-all of 20,000 messages rescanned
//   at every RETR, 11 ms each). mark_seen() checks that new/ and cur/ still
//   carry the stamps last recorded (nobody else changed them), renames,
//   and records the stamps that follow as ours. A refresh that finds
//   exactly those needs no rescan while they are younger than the coarse
//   window; the first refresh after that rescans once, since someone
//   else's change within the same clock tick as our rename would have left
//   the same stamps. So a change by others is seen at once when it moves a
//   stamp, and at worst one coarse window late; a retrieve-all costs one
//   rescan per pause of the client, not one per message.
// * open_message(), mark_seen() and remove() use the known name; on ENOENT
//   (or ESTALE, on NFS and FUSE: see no_such_name) they force one rescan
//   and retry at the new name. Vanished messages they
//   discover are queued and reported by the next refresh().
#include "maildir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "pop3/core/dotstuff.hpp"
#include "pop3/core/dovecot_uidlist.hpp"
#include "pop3/core/maildir_name.hpp"
#include "pop3/core/uidl.hpp"
#include "maildir_index.hpp"
#include "passwd_file.hpp" // read_file_at

namespace pop3::shell {
namespace {

using pop3::core::MaildirName;

// Bytes read per read(2) when sizing or streaming a message.
constexpr std::size_t k_read_chunk = 64 * 1024;
// How long after a directory's mtime a scan must have started for the
// mtime to be trusted as "nothing changed since" (see the top comment).
constexpr std::int64_t k_coarse_window_ns = 2'000'000'000;
// Relative names start with "new/" or "cur/".
constexpr std::size_t k_subdir_prefix = 4;
// A file size not known at listing time (no ",S=", stat failed).
constexpr std::uint64_t k_unknown_size = UINT64_MAX;

constexpr int k_open_message_flags =
    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;

// On NFS and FUSE (GlusterFS) a name another host has just removed or
// renamed can fail with ESTALE (the client's handle for it is dead) where a
// local file system says ENOENT (issue 12). Both mean "not here under this
// name": the message is looked for under its new name, else it is gone;
// never [SYS/TEMP]. So every error taken from errno here says ENOENT for it.
bool no_such_name(int error) { return error == ENOENT || error == ESTALE; }

std::error_code errno_code(int error) {
    return {no_such_name(error) ? ENOENT : error, std::system_category()};
}

std::error_code last_error() { return errno_code(errno); }

std::int64_t nanoseconds(const timespec& t) {
    return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 +
           static_cast<std::int64_t>(t.tv_nsec);
}

bool same_time(const timespec& a, const timespec& b) {
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

template <class Stamp> bool same_stamp(const Stamp& a, const Stamp& b) {
    return a.dev == b.dev && a.ino == b.ino && same_time(a.mtime, b.mtime) &&
           same_time(a.ctime, b.ctime);
}

// True when a scan that started at `scan` may have missed a change stamped
// with the same (coarse) mtime. Also true for an mtime in our future.
bool within_coarse_window(const timespec& scan, const timespec& mtime) {
    return nanoseconds(scan) - nanoseconds(mtime) < k_coarse_window_ns;
}

timespec now() {
    timespec t{};
    ::clock_gettime(CLOCK_REALTIME, &t);
    return t;
}

// How new/ and cur/ are opened and held: never through a symlink.
constexpr int k_subdir_flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

// The stamp of the held directory `fd`; a missing one (-1 with ENOENT)
// reads as inode and times zero.
template <class Stamp> tl::expected<Stamp, std::error_code> subdir_stamp(int fd) {
    struct stat st {};
    if (fd < 0) {
        if (no_such_name(errno)) {
            return Stamp{};
        }
        return tl::unexpected(last_error());
    }
    if (::fstat(fd, &st) != 0) {
        return tl::unexpected(last_error());
    }
    return Stamp{st.st_dev, st.st_ino, st.st_mtim, st.st_ctim};
}

std::string_view file_part(std::string_view rel) {
    return rel.substr(k_subdir_prefix);
}

// The delivery time at the start of a base name ("1700000000.M1P2.host"):
// the decimal digits before the first '.', or the whole base without one.
std::optional<std::uint64_t> leading_time(std::string_view base) {
    const std::string_view digits = base.substr(0, base.find('.'));
    if (digits.empty()) {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    const char* end = digits.data() + digits.size();
    const auto [ptr, ec] = std::from_chars(digits.data(), end, value);
    if (ec != std::errc{} || ptr != end) {
        return std::nullopt;
    }
    return value;
}

struct DirCloser {
    void operator()(DIR* d) const { ::closedir(d); }
};

// Calls visit(subdir_fd, name, parsed, st) for every entry of the held
// directory `subdir` (new/ or cur/, -1 with errno ENOENT when missing: no
// entries) that is a Maildir message: a name parse_maildir_name accepts (so
// no dot files) of a regular file. Symlinks, FIFOs, devices and directories
// are skipped without being opened or followed. `st` is the entry's lstat
// when one was needed to learn its type, else null.
template <class Visit>
std::error_code for_each_message_file(int subdir, Visit&& visit) {
    if (subdir < 0) {
        return no_such_name(errno) ? std::error_code{} : last_error();
    }
    // A stream of its own on the held directory ("." names it itself, so
    // nothing is looked up by path), read from the start.
    const int fd = ::openat(subdir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return last_error();
    }
    std::unique_ptr<DIR, DirCloser> stream{::fdopendir(fd)};
    if (!stream) {
        const std::error_code ec = last_error();
        ::close(fd);
        return ec;
    }
    for (;;) {
        errno = 0;
        const dirent* entry = ::readdir(stream.get());
        if (entry == nullptr) {
            return errno == 0 ? std::error_code{} : last_error();
        }
        const std::string_view name = entry->d_name;
        if (name.empty() || name.front() == '.') {
            continue;
        }
        const std::optional<MaildirName> parsed =
            pop3::core::parse_maildir_name(name);
        if (!parsed) {
            continue;
        }
        struct stat st {};
        const struct stat* st_ptr = nullptr;
        if (entry->d_type == DT_UNKNOWN) {
            if (::fstatat(fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                continue; // gone meanwhile
            }
            if (!S_ISREG(st.st_mode)) {
                continue;
            }
            st_ptr = &st;
        } else if (entry->d_type != DT_REG) {
            continue;
        }
        visit(fd, name, *parsed, st_ptr);
    }
}

// Opens message file `file` of the held directory `subdir` and checks that
// it is a regular file; its size goes to `size` if given.
tl::expected<UniqueFd, std::error_code>
open_regular(int subdir, const char* file, std::uint64_t* size = nullptr) {
    if (subdir < 0) {
        return tl::unexpected(last_error());
    }
    UniqueFd fd{::openat(subdir, file, k_open_message_flags)};
    if (!fd) {
        return tl::unexpected(last_error());
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return tl::unexpected(last_error());
    }
    if (!S_ISREG(st.st_mode)) {
        return tl::unexpected(std::make_error_code(std::errc::invalid_argument));
    }
    if (size != nullptr) {
        *size = static_cast<std::uint64_t>(st.st_size);
    }
    return fd;
}

// Reads until end of file, retrying on EINTR; 0 at end, -1 on error.
ssize_t read_some(int fd, char* buffer, std::size_t size) {
    for (;;) {
        const ssize_t n = ::read(fd, buffer, size);
        if (n >= 0 || errno != EINTR) {
            return n;
        }
    }
}

// The size of a message as sent with CRLF line ends (what LIST reports).
tl::expected<std::uint64_t, std::error_code>
count_wire_size(int subdir, const char* file, std::vector<char>& buffer) {
    auto fd = open_regular(subdir, file);
    if (!fd) {
        return tl::unexpected(fd.error());
    }
    pop3::core::WireSizeCounter counter;
    for (;;) {
        const ssize_t n = read_some(fd->get(), buffer.data(), buffer.size());
        if (n < 0) {
            return tl::unexpected(last_error());
        }
        if (n == 0) {
            return counter.finish();
        }
        counter.feed({buffer.data(), static_cast<std::size_t>(n)});
    }
}

// Errors that mean "this name is not (any longer) a readable message file".
bool not_a_message(const std::error_code& ec) {
    return ec == std::errc::no_such_file_or_directory ||
           ec == std::errc::too_many_symbolic_link_levels ||
           ec == std::errc::invalid_argument ||
           ec == std::errc::no_such_device_or_address;
}

// A file found by the scan; its name is in the Maildir's arena.
struct ScannedFile {
    std::uint32_t offset = 0; // of "new/..." or "cur/..." in the arena
    std::uint16_t length = 0;
    std::uint16_t base_size = 0; // length of the base name after "new/"
    std::uint64_t time = 0;      // leading time of the base name, else mtime
    std::uint32_t usec = 0;      // delivery_microseconds() of the base name
};

} // namespace

tl::expected<Maildir, std::error_code>
Maildir::open(UniqueFd inbox, std::string path, bool watch,
              std::optional<DirectoryStamps> stamps, const UidlRule& uidl) {
    Maildir box;
    box.path_ = std::move(path);
    box.uidl_ = uidl.scheme;
    box.dir_ = std::move(inbox);
    if (!box.dir_) {
        box.snapshot_ = pop3::core::share_snapshot(pop3::core::Snapshot{});
        return box;
    }
    struct stat st {};
    if (::fstat(box.dir_.get(), &st) != 0) {
        return tl::unexpected(last_error());
    }
    if (!S_ISDIR(st.st_mode)) {
        return tl::unexpected(std::make_error_code(std::errc::not_a_directory));
    }
    // Opened now, as the mail user, and held: see the header. A missing one
    // is empty until it appears (subdir_fd() tries again when needed).
    for (auto [sub, held] : {std::pair{"new", &box.new_dir_},
                             std::pair{"cur", &box.cur_dir_}}) {
        held->reset(::openat(box.dir_.get(), sub, k_subdir_flags));
        if (!*held && !no_such_name(errno)) {
            return tl::unexpected(last_error());
        }
    }
    if (watch) {
        box.watch_directories(); // before the scan: no change can slip by
    }
    if (const std::error_code ec = box.record_directory_times()) {
        return tl::unexpected(ec);
    }
    // Where another host's change may not yet show in the stamps seen here
    // (issue 12: a session on one GlusterFS mount was served the listing
    // of before a rename made through another), a matching stamp proves
    // nothing: the index is a size cache only, and the listing a scan.
    box.stamps_ = stamps ? *stamps : directory_stamps_of(box.dir_.get());
    MaildirIndex index = MaildirIndex::load(box.dir_.get());
    const std::string stamp = box.stamps_ == DirectoryStamps::exact
                                  ? box.directory_stamp()
                                  : std::string(MaildirIndex::k_no_stamp);
    if (stamp == MaildirIndex::k_no_stamp || index.stamp() != stamp ||
        !box.take_listing(index)) {
        if (const std::error_code ec = box.scan_into_snapshot(index, stamp)) {
            return tl::unexpected(ec);
        }
    }
    if (uidl.scheme == UidlScheme::dovecot || uidl.scheme == UidlScheme::courier) {
        box.apply_other_servers_uidls(uidl.scheme, uidl.format);
    }
    return box;
}

void Maildir::apply_other_servers_uidls(UidlScheme scheme, std::string_view format) {
    if (names_.empty()) {
        return;
    }
    // Read without the other server's lock: a rename replaces the file (we
    // hold the old one whole), a write in progress leaves a torn last line,
    // which the parsers ignore.
    const bool dovecot = scheme == UidlScheme::dovecot;
    const std::string file = dovecot ? "dovecot-uidlist" : "courierpop3dsizelist";
    std::optional<pop3::core::Uidlist> uidlist;
    if (auto text = read_file_at(dir_.get(), file, O_NOFOLLOW)) {
        auto parsed = dovecot ? pop3::core::parse_dovecot_uidlist(*text)
                              : pop3::core::parse_courier_sizelist(*text);
        if (parsed) {
            uidlist = std::move(*parsed);
        } else {
            uidl_note_ = file + " " + parsed.error() + "; its messages get pop3d UIDLs";
        }
    } else if (!no_such_name(text.error().value())) {
        uidl_note_ = "cannot read " + file + ": " + text.error().message() +
                     "; its messages get pop3d UIDLs";
    }
    std::string pinned_text;
    if (auto text = read_file_at(dir_.get(), k_pinned_uidls_file, O_NOFOLLOW)) {
        pinned_text = std::move(*text);
    }
    std::unordered_set<std::string_view> pinned;
    for (std::string_view rest = pinned_text; !rest.empty();) {
        const auto newline = rest.find('\n');
        if (newline == std::string_view::npos) {
            break; // torn: that name is pinned again below
        }
        pinned.insert(rest.substr(0, newline));
        rest.remove_prefix(newline + 1);
    }
    std::vector<std::string_view> names;
    std::vector<std::string_view> own;
    names.reserve(names_.size());
    own.reserve(names_.size());
    for (std::size_t i = 0; i < names_.size(); ++i) {
        names.push_back(pop3::core::maildir_unique_name(name(i).substr(k_subdir_prefix)));
        own.push_back((*snapshot_)[i].uidl);
    }
    auto listing = pop3::core::dovecot_listing(uidlist ? &*uidlist : nullptr, pinned,
                                               names, own, format);
    std::string lines;
    for (const std::size_t i : listing.newly_pinned) {
        if (names[i].find('\n') == std::string_view::npos) {
            lines.append(names[i]).append("\n");
        }
    }
    if (!lines.empty()) {
        // One append per session: lines of concurrent sessions never mix.
        UniqueFd out{::openat(dir_.get(), k_pinned_uidls_file,
                              O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)};
        const bool written =
            out && ::write(out.get(), lines.data(), lines.size()) ==
                       static_cast<ssize_t>(lines.size()) &&
            ::fsync(out.get()) == 0;
        if (!written) {
            uidl_note_ += (uidl_note_.empty() ? "" : "; ") + std::string("cannot record pop3d UIDLs in ") +
                          k_pinned_uidls_file + ": " + std::strerror(errno) +
                          " (they may change once " + (dovecot ? "Dovecot" : "Courier") +
                          " sees those messages)";
        }
    }
    std::vector<NameRef> names_in_order;
    std::vector<std::uint64_t> sizes_in_order;
    pop3::core::Snapshot snapshot;
    names_in_order.reserve(names_.size());
    sizes_in_order.reserve(names_.size());
    for (std::size_t k = 0; k < listing.order.size(); ++k) {
        const std::size_t i = listing.order[k];
        names_in_order.push_back(names_[i]);
        sizes_in_order.push_back(file_sizes_[i]);
        snapshot.add((*snapshot_)[i].size, listing.uidls[k]);
    }
    names_ = std::move(names_in_order);
    file_sizes_ = std::move(sizes_in_order);
    snapshot_ = pop3::core::share_snapshot(std::move(snapshot));
    const std::string counts = std::to_string(listing.from_uidlist) + " of " +
                               std::to_string(names_.size()) +
                               " UIDLs from " + file + ", " +
                               std::to_string(listing.newly_pinned.size()) +
                               " newly given pop3d UIDLs";
    if (listing.repeated > 0) {
        uidl_note_ += (uidl_note_.empty() ? "" : "; ") + std::to_string(listing.repeated) +
                      " repeated UIDL(s) replaced (the format should contain %u or %f)";
    }
    uidl_note_ = uidl_note_.empty() ? counts : counts + "; " + uidl_note_;
}

std::string Maildir::directory_stamp() const {
    // A directory changed within the coarse window before this scan may
    // change again with the same mtime: such a listing is not reusable.
    if (new_stamp_.ino == 0 || cur_stamp_.ino == 0 ||
        within_coarse_window(scanned_at_, new_stamp_.mtime) ||
        within_coarse_window(scanned_at_, cur_stamp_.mtime)) {
        return std::string(MaildirIndex::k_no_stamp);
    }
    // The ctime matters most (issue 11, 3.7): a backup restored over a live
    // INBOX with its old mtimes once made a stale index look current and
    // hid the messages delivered since.
    std::string stamp;
    for (const DirStamp* dir : {&new_stamp_, &cur_stamp_}) {
        if (!stamp.empty()) {
            stamp += ' ';
        }
        stamp += std::to_string(dir->dev) + '.' + std::to_string(dir->ino) +
                 '.' + std::to_string(dir->mtime.tv_sec) + '.' +
                 std::to_string(dir->mtime.tv_nsec) + '.' +
                 std::to_string(dir->ctime.tv_sec) + '.' +
                 std::to_string(dir->ctime.tv_nsec);
    }
    return stamp;
}

std::string_view Maildir::uidl_source(std::string_view rel, std::size_t base_size) const {
    const std::string_view file = rel.substr(k_subdir_prefix);
    // Under the dovecot scheme these are the fallbacks (pop3d's own).
    return uidl_ == UidlScheme::file_name ? pop3::core::maildir_unique_name(file)
                                          : file.substr(0, base_size);
}

std::string Maildir::uidl_of(std::string_view rel, std::size_t base_size) const {
    return pop3::core::uidl_for(uidl_source(rel, base_size));
}

bool Maildir::take_listing(MaildirIndex& index) {
    std::vector<NameRef> names;
    std::vector<std::uint64_t> file_sizes;
    pop3::core::Snapshot snapshot;
    const std::string_view content = index.content();
    // Every narrowing below is proven, not hoped for: offsets by the cap on
    // the index's size, name lengths by parse_entry's cap on them.
    static_assert(MaildirIndex::k_max_bytes <= UINT32_MAX,
                  "offsets into the index's text must fit a NameRef");
    static_assert(MaildirIndex::k_max_name_octets <= UINT16_MAX,
                  "index name lengths must fit a NameRef");
    // One allocation each instead of a doubling series of copies (a tenth
    // of a 10,000-message session's CPU): at most one entry per line.
    // Capped by the shortest valid line: a forged index of short lines
    // must not reserve gigabytes before for_each_entry rejects it.
    // (Counted with memchr: std::count's byte loop was a fifth of a warm
    // 10,000-message session's user time.)
    std::size_t newlines = 0;
    for (std::string_view rest = content; !rest.empty(); ++newlines) {
        const void* eol = std::memchr(rest.data(), '\n', rest.size());
        if (eol == nullptr) {
            break;
        }
        rest.remove_prefix(static_cast<std::size_t>(static_cast<const char*>(eol) - rest.data()) + 1);
    }
    const auto lines = std::min(newlines, content.size() / MaildirIndex::k_min_entry_line_octets);
    names.reserve(lines);
    file_sizes.reserve(lines);
    snapshot.reserve(lines, 0);
    // The UIDLs that are names as they stand (nearly all) stay in the
    // index's text, which the snapshot keeps: no copy per message.
    std::shared_ptr<IndexText> text = index.text();
    if (!text) {
        return false;
    }
    snapshot.share_text(text, content);
    const bool valid = index.for_each_entry([&](const IndexEntry& entry) {
        const auto offset = static_cast<std::size_t>(entry.rel.data() - content.data());
        names.push_back({static_cast<std::uint32_t>(offset),
                         static_cast<std::uint16_t>(entry.rel.size()),
                         static_cast<std::uint16_t>(entry.base_size)});
        file_sizes.push_back(entry.file_size);
        const std::string_view source = uidl_source(entry.rel, entry.base_size);
        if (pop3::core::fits_as_uidl(source)) {
            snapshot.add_shared(entry.wire_size, source);
        } else {
            snapshot.add(entry.wire_size, pop3::core::uidl_for(source));
        }
    });
    if (!valid) {
        return false;
    }
    index_text_ = std::move(text);
    index_names_ = content.data();
    index_size_ = content.size();
    arena_.clear();
    arena_live_ = 0;
    names_ = std::move(names);
    file_sizes_ = std::move(file_sizes);
    live_ = names_.size();
    snapshot_ = pop3::core::share_snapshot(std::move(snapshot));
    from_index_ = true;
    return true;
}

bool Maildir::append_name(std::string_view rel, NameRef& ref) {
    if (index_size_ + arena_.size() + rel.size() + 1 > UINT32_MAX ||
        rel.size() > UINT16_MAX) {
        return false;
    }
    ref.offset = static_cast<std::uint32_t>(index_size_ + arena_.size());
    ref.length = static_cast<std::uint16_t>(rel.size());
    arena_.append(rel);
    arena_ += '\0';
    return true;
}

void Maildir::rename_to(std::size_t index, std::string_view rel) {
    NameRef ref = names_[index];
    const std::size_t old_size = in_arena(ref) ? ref.length + std::size_t{1} : 0;
    // Renames append; once the dead names outweigh the live ones, the
    // arena is rebuilt, so it stays within twice the live names. (Names
    // in the index's text stay where they are: it is shared with the
    // snapshot's UIDLs.)
    if (arena_.size() > 2 * arena_live_ + 65536) {
        std::string arena;
        arena.reserve(arena_live_ + rel.size() + 1);
        for (NameRef& other : names_) {
            if (other.length != 0 && in_arena(other)) {
                const auto at = static_cast<std::uint32_t>(index_size_ + arena.size());
                arena.append(arena_, other.offset - index_size_,
                             other.length + std::size_t{1});
                other.offset = at;
            }
        }
        arena_ = std::move(arena);
        ref.offset = names_[index].offset;
    }
    if (!append_name(rel, ref)) {
        return; // cannot happen after compaction below 4 GiB of live names
    }
    arena_live_ += rel.size() + 1;
    arena_live_ -= old_size;
    names_[index] = ref;
}

void Maildir::forget(std::size_t index) {
    if (names_[index].length != 0) {
        if (in_arena(names_[index])) {
            arena_live_ -= names_[index].length + std::size_t{1};
        }
        names_[index].length = 0;
        --live_;
    }
}

std::error_code Maildir::scan_into_snapshot(MaildirIndex& index,
                                            std::string_view stamp) {
    std::vector<ScannedFile> files;
    bool fits = true;
    for (const char* sub : {"new", "cur"}) {
        const std::error_code ec = for_each_message_file(
            subdir_fd(sub),
            [&](int subdir, std::string_view file, const MaildirName& parsed,
                const struct stat* st) {
                std::optional<std::uint64_t> time = leading_time(parsed.base);
                if (!time) {
                    struct stat own {};
                    if (st == nullptr) {
                        if (::fstatat(subdir, std::string(file).c_str(), &own,
                                      AT_SYMLINK_NOFOLLOW) != 0) {
                            return; // gone meanwhile
                        }
                        st = &own;
                    }
                    time = st->st_mtim.tv_sec < 0
                               ? 0
                               : static_cast<std::uint64_t>(st->st_mtim.tv_sec);
                }
                std::string rel;
                rel.reserve(k_subdir_prefix + file.size());
                rel.append(sub).append("/").append(file);
                NameRef ref;
                if (!append_name(rel, ref)) {
                    fits = false;
                    return;
                }
                files.push_back({ref.offset, ref.length,
                                 static_cast<std::uint16_t>(parsed.base.size()), *time,
                                 pop3::core::delivery_microseconds(parsed.base)});
            });
        if (ec) {
            return ec;
        }
    }
    if (!fits) {
        return std::make_error_code(std::errc::file_too_large);
    }
    const auto rel_of = [this](const ScannedFile& f) {
        return std::string_view(arena_.data() + (f.offset - index_size_), f.length);
    };
    const auto base_of = [&](const ScannedFile& f) {
        return rel_of(f).substr(k_subdir_prefix, f.base_size);
    };

    // One message per base name (a copy in both new/ and cur/ should not
    // happen; prefer cur/, which sorts first).
    std::sort(files.begin(), files.end(),
              [&](const ScannedFile& a, const ScannedFile& b) {
                  const auto ab = base_of(a);
                  const auto bb = base_of(b);
                  return ab != bb ? ab < bb : rel_of(a) < rel_of(b);
              });
    files.erase(std::unique(files.begin(), files.end(),
                            [&](const ScannedFile& a, const ScannedFile& b) {
                                return base_of(a) == base_of(b);
                            }),
                files.end());
    // Oldest first: by second, then the microseconds the name carries, then
    // base name (Dovecot's order of deliveries; a strict weak order, the
    // same in every session that sees the same files).
    std::stable_sort(files.begin(), files.end(),
                     [&](const ScannedFile& a, const ScannedFile& b) {
                         if (a.time != b.time) {
                             return a.time < b.time;
                         }
                         if (a.usec != b.usec) {
                             return a.usec < b.usec;
                         }
                         return base_of(a) < base_of(b);
                     });

    pop3::core::Snapshot snapshot;
    snapshot.reserve(files.size(), arena_.size() / 2);
    names_.reserve(files.size());
    file_sizes_.reserve(files.size());
    std::string text = MaildirIndex::header(stamp);
    text.reserve(arena_.size() + files.size() * 16);
    bool listing_complete = true;
    std::vector<char> buffer;
    for (const ScannedFile& file : files) {
        const std::string_view rel = rel_of(file);
        const std::string_view base = base_of(file);
        const auto parsed = pop3::core::parse_maildir_name(file_part(rel));
        std::optional<std::uint64_t> file_size;
        if (parsed && parsed->size) {
            file_size = *parsed->size;
        } else {
            struct stat st {};
            const int subdir = subdir_fd(rel);
            if (subdir >= 0 &&
                ::fstatat(subdir, rel.data() + k_subdir_prefix, &st,
                          AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(st.st_mode))
                file_size = static_cast<std::uint64_t>(st.st_size);
        }
        std::uint64_t size = 0;
        if (parsed && parsed->vsize) {
            size = *parsed->vsize;
        } else if (auto cached = file_size ? index.lookup(base, *file_size)
                                           : std::nullopt) {
            // Sizes of files without ",W=" come from the index when the
            // file still has the size it had when counted.
            size = *cached;
        } else {
            if (buffer.empty()) {
                buffer.resize(k_read_chunk);
            }
            auto counted = count_wire_size(subdir_fd(rel),
                                           rel.data() + k_subdir_prefix, buffer);
            if (!counted) {
                if (not_a_message(counted.error())) {
                    continue; // removed or replaced since readdir
                }
                return counted.error();
            }
            size = *counted;
        }
        if (file_size && MaildirIndex::storable(rel)) {
            MaildirIndex::append_entry(text, rel, *file_size, size);
        } else {
            listing_complete = false;
        }
        names_.push_back({file.offset, file.length, file.base_size});
        file_sizes_.push_back(file_size.value_or(k_unknown_size));
        arena_live_ += file.length + std::size_t{1};
        snapshot.add(size, uidl_of(rel, base.size()));
    }
    live_ = names_.size();
    snapshot_ = pop3::core::share_snapshot(std::move(snapshot));
    if (!listing_complete && stamp != MaildirIndex::k_no_stamp) {
        // A message the index cannot hold: keep it as a size cache only.
        std::string sizes_only = MaildirIndex::header(MaildirIndex::k_no_stamp);
        sizes_only.append(text, text.find('\n') + 1);
        text = std::move(sizes_only);
    }
    MaildirIndex::save(dir_.get(), text, index.content());
    return {};
}

std::error_code Maildir::record_directory_times() {
    scanned_at_ = now();
    auto new_stamp = subdir_stamp<DirStamp>(subdir_fd("new"));
    if (!new_stamp) {
        return new_stamp.error();
    }
    auto cur_stamp = subdir_stamp<DirStamp>(subdir_fd("cur"));
    if (!cur_stamp) {
        return cur_stamp.error();
    }
    new_stamp_ = *new_stamp;
    cur_stamp_ = *cur_stamp;
    own_stamps_ = false;
    return {};
}

std::vector<std::size_t> Maildir::refresh() {
    refresh_into_pending(false);
    return std::exchange(pending_vanished_, {});
}

void Maildir::watch_directories() {
    struct statfs fs {};
    if (::fstatfs(dir_.get(), &fs) != 0) {
        return;
    }
    // Local file systems only: inotify does not see changes made by other
    // NFS/SMB clients, nor through another overlay layer.
    switch (static_cast<std::uint64_t>(fs.f_type)) {
    case EXT4_SUPER_MAGIC: // also ext2/ext3
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
    case TMPFS_MAGIC:
        break;
    default:
        return;
    }
    UniqueFd fd{::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)};
    if (!fd) {
        return; // e.g. the per-user instance limit: use mtimes
    }
    // The held directories themselves, by their /proc/self/fd links (the
    // kernel resolves those to the open directory, not by path), so what
    // is watched is what is read. IN_MOVE_SELF still reports new/ or cur/
    // renamed away; we keep using the held one, and fall back to mtimes.
    constexpr std::uint32_t k_mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                                     IN_MOVED_TO | IN_DELETE_SELF |
                                     IN_MOVE_SELF | IN_ONLYDIR;
    if (!new_dir_ || !cur_dir_) {
        return; // a missing new/ or cur/ may appear later: use mtimes
    }
    const auto watch = [&](const UniqueFd& dir) {
        const std::string link = "/proc/self/fd/" + std::to_string(dir.get());
        return ::inotify_add_watch(fd.get(), link.c_str(), k_mask);
    };
    const int new_watch = watch(new_dir_);
    const int cur_watch = watch(cur_dir_);
    if (new_watch < 0 || cur_watch < 0) {
        return; // no /proc (a chroot), or the watch limit: use mtimes
    }
    notify_ = std::move(fd);
    new_watch_ = new_watch;
    cur_watch_ = cur_watch;
}

bool Maildir::drain_notifications() {
    alignas(inotify_event) char buffer[16 * 1024];
    bool changed = false;
    bool lost = false;
    // Bounded: a flood of events ends in "changed" (a rescan) anyway.
    for (int round = 0; round < 256; ++round) {
        const ssize_t n = ::read(notify_.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            lost = lost || (n < 0 && errno != EAGAIN);
            changed = changed || lost;
            break;
        }
        for (const char* p = buffer; p < buffer + n;) {
            inotify_event event{};
            std::memcpy(&event, p, sizeof event);
            const char* name = p + sizeof event;
            p += sizeof event + event.len;
            if ((event.mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF |
                               IN_UNMOUNT)) != 0) {
                lost = true; // the watch is gone
            }
            if ((event.mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF |
                               IN_MOVE_SELF | IN_UNMOUNT)) != 0 ||
                event.len == 0) {
                changed = true;
                own_events_.clear(); // some may have been dropped
                continue;
            }
            std::string rel = event.wd == new_watch_ ? "new/" : "cur/";
            rel.append(name, ::strnlen(name, event.len));
            const auto own =
                std::find(own_events_.begin(), own_events_.end(), rel);
            if (own != own_events_.end()) {
                own_events_.erase(own);
            } else {
                changed = true;
            }
        }
        if (round == 255) {
            changed = true;
        }
    }
    if (lost) {
        notify_.reset(); // from now on, directory mtimes alone
        own_events_.clear();
    }
    return changed;
}

void Maildir::refresh_into_pending(bool force) {
    if (!dir_ || live_ == 0) {
        return;
    }
    if (notify_) {
        if (!drain_notifications() && !force && !must_rescan_) {
            return;
        }
    } else if (!force && !must_rescan_) {
        auto new_stamp = subdir_stamp<DirStamp>(subdir_fd("new"));
        auto cur_stamp = subdir_stamp<DirStamp>(subdir_fd("cur"));
        if (!new_stamp || !cur_stamp) {
            must_rescan_ = true;
            return; // cannot tell; report nothing rather than guess
        }
        const bool unchanged = same_stamp(*new_stamp, new_stamp_) &&
                               same_stamp(*cur_stamp, cur_stamp_);
        if (unchanged && !own_stamps_ &&
            !within_coarse_window(scanned_at_, new_stamp_.mtime) &&
            !within_coarse_window(scanned_at_, cur_stamp_.mtime)) {
            return;
        }
        // Stamps our own renames made (see mark_seen): checked by one
        // rescan once they are older than the coarse window, not before.
        if (unchanged && own_stamps_ && within_coarse_window(now(), own_at_)) {
            return;
        }
    }
    if (record_directory_times()) {
        must_rescan_ = true;
        return;
    }
    ++rescans_;

    // 0: not seen on disk, 1: seen under another name, 2: seen as named.
    std::vector<std::uint8_t> state(names_.size(), 0);
    std::vector<std::pair<std::size_t, std::string>> moves;
    {
        // Keys view into names_, which stays unchanged while this lives.
        std::unordered_map<std::string_view, std::size_t> by_base;
        by_base.reserve(live_);
        for (std::size_t i = 0; i < names_.size(); ++i) {
            if (!gone(i)) {
                by_base.emplace(base(i), i);
            }
        }
        auto scan = [&]() -> std::error_code {
            for (const char* sub : {"new", "cur"}) {
                const std::string_view sub_view = sub;
                const std::error_code ec = for_each_message_file(
                    subdir_fd(sub),
                    [&](int, std::string_view file, const MaildirName& parsed,
                        const struct stat*) {
                        const auto it = by_base.find(parsed.base);
                        if (it == by_base.end()) {
                            return; // a delivery after the snapshot
                        }
                        const std::size_t i = it->second;
                        const std::string_view known = name(i);
                        if (known.substr(0, sub_view.size()) == sub_view &&
                            file_part(known) == file) {
                            state[i] = 2;
                        } else if (state[i] == 0) {
                            state[i] = 1;
                            std::string rel;
                            rel.reserve(k_subdir_prefix + file.size());
                            rel.append(sub).append("/").append(file);
                            moves.emplace_back(i, std::move(rel));
                        }
                    });
                if (ec) {
                    return ec;
                }
            }
            return {};
        };
        if (scan()) {
            must_rescan_ = true;
            return;
        }
        const bool any_missing = std::any_of(
            by_base.begin(), by_base.end(),
            [&](const auto& entry) { return state[entry.second] == 0; });
        // readdir() can miss a file renamed while it reads: look again
        // before declaring anything vanished.
        if (any_missing && scan()) {
            must_rescan_ = true;
            return;
        }
    }
    must_rescan_ = false;

    for (auto& [index, rel] : moves) {
        if (state[index] == 1) {
            rename_to(index, rel);
            state[index] = 2; // apply only the first name found
        }
    }
    for (std::size_t i = 0; i < names_.size(); ++i) {
        if (state[i] == 0 && !gone(i)) {
            forget(i);
            pending_vanished_.push_back(i);
        }
    }
}

tl::expected<UniqueFd, std::error_code>
Maildir::open_message(std::size_t index, std::uint64_t* file_size) {
    const auto gone = std::make_error_code(std::errc::no_such_file_or_directory);
    for (int attempt = 0;; ++attempt) {
        if (index >= names_.size() || this->gone(index)) {
            return tl::unexpected(gone);
        }
        std::uint64_t size = 0;
        auto fd = open_regular(subdir_fd(name(index)), c_file(index).c_str(), &size);
        if (fd && size != file_sizes_[index] && file_sizes_[index] != k_unknown_size) {
            // Changed in place since listed: the LIST size may be wrong, and
            // so may the index's; the next session counts afresh.
            MaildirIndex::drop(dir_.get());
            file_sizes_[index] = size;
            changed_in_place_.push_back(index);
        }
        if (fd && file_size != nullptr) {
            *file_size = size;
        }
        if (fd || fd.error() != std::errc::no_such_file_or_directory ||
            attempt > 0) {
            return fd;
        }
        refresh_into_pending(true);
    }
}

tl::expected<void, std::error_code> Maildir::mark_seen(std::size_t index) {
    for (int attempt = 0;; ++attempt) {
        if (index >= names_.size() || gone(index)) {
            return tl::unexpected(
                std::make_error_code(std::errc::no_such_file_or_directory));
        }
        const std::string from(name(index));
        std::string to = "cur/";
        to += pop3::core::with_flag(file_part(from), 'S');
        if (to == from) {
            return {};
        }
        if (notify_) { // our own rename is not a change by others
            own_events_.push_back(from);
            own_events_.push_back(to);
        }
        const int from_dir = subdir_fd(from);
        const int to_dir = from_dir < 0 ? -1 : subdir_fd(to);
        // Without notification: did anyone change new/ or cur/ since we
        // last accounted for them? If not, the stamps right after our
        // rename are ours (see claim_own_stamps).
        const bool accounted = !notify_ && to_dir >= 0 && stamps_accounted_for();
        if (to_dir >= 0 &&
            ::renameat(from_dir, from.c_str() + k_subdir_prefix, to_dir,
                       to.c_str() + k_subdir_prefix) == 0) {
            rename_to(index, to);
            if (accounted) {
                claim_own_stamps();
            }
            return {};
        }
        const int error = errno;
        if (notify_) {
            own_events_.resize(own_events_.size() - 2);
        }
        if (!no_such_name(error) || attempt > 0) {
            return tl::unexpected(errno_code(error));
        }
        refresh_into_pending(true);
    }
}

RemoveCounts Maildir::remove(const std::vector<std::size_t>& indices) {
    RemoveCounts counts;
    std::vector<std::size_t> retry;
    // Returns errno of unlinkat, or 0 after removing the message.
    auto unlink_one = [&](std::size_t i) {
        const int subdir = subdir_fd(name(i));
        if (subdir < 0 || ::unlinkat(subdir, c_file(i).c_str(), 0) != 0) {
            return errno;
        }
        forget(i);
        ++counts.removed;
        return 0;
    };
    for (const std::size_t i : indices) {
        if (i >= names_.size()) {
            ++counts.failed;
        } else if (gone(i)) {
            ++counts.already_gone;
        } else if (const int error = unlink_one(i); no_such_name(error)) {
            retry.push_back(i);
        } else if (error != 0) {
            ++counts.failed;
        }
    }
    if (retry.empty()) {
        return counts;
    }
    // Renamed meanwhile (or gone): one rescan for all of them.
    refresh_into_pending(true);
    for (const std::size_t i : retry) {
        if (gone(i)) {
            ++counts.already_gone;
        } else if (const int error = unlink_one(i); no_such_name(error)) {
            ++counts.already_gone;
        } else if (error != 0) {
            ++counts.failed;
        }
    }
    return counts;
}

bool Maildir::stamps_accounted_for() {
    if (must_rescan_) {
        return false;
    }
    auto new_stamp = subdir_stamp<DirStamp>(subdir_fd("new"));
    auto cur_stamp = subdir_stamp<DirStamp>(subdir_fd("cur"));
    return new_stamp && cur_stamp && same_stamp(*new_stamp, new_stamp_) &&
           same_stamp(*cur_stamp, cur_stamp_);
}

void Maildir::claim_own_stamps() {
    auto new_stamp = subdir_stamp<DirStamp>(subdir_fd("new"));
    auto cur_stamp = subdir_stamp<DirStamp>(subdir_fd("cur"));
    if (!new_stamp || !cur_stamp) {
        return; // the next refresh rescans, as it would have anyway
    }
    new_stamp_ = *new_stamp;
    cur_stamp_ = *cur_stamp;
    own_stamps_ = true;
    own_at_ = now();
}

int Maildir::subdir_fd(std::string_view rel) {
    UniqueFd& held = rel.substr(0, 3) == "new" ? new_dir_ : cur_dir_;
    if (!held && dir_) {
        held.reset(::openat(dir_.get(), rel.substr(0, 3) == "new" ? "new" : "cur",
                            k_subdir_flags));
    } else if (!dir_) {
        errno = ENOENT;
    }
    return held.get();
}

std::string_view Maildir::path_of(std::size_t index) const {
    return index < names_.size() ? name(index) : std::string_view{};
}

tl::expected<std::uint64_t, std::error_code>
MessageStreamer::stream(int fd, std::optional<std::uint64_t> top_lines,
                        std::optional<std::uint64_t> file_size,
                        const std::function<bool(std::string_view)>& write) {
    if (in_.empty()) {
        in_.resize(k_read_chunk);
        out_.resize(pop3::core::DotStuffer::max_output(k_read_chunk));
    }
    pop3::core::DotStuffer stuffer;
    std::optional<pop3::core::TopLimiter> top;
    if (top_lines) {
        top.emplace(*top_lines);
    }
    const auto write_failed = [] {
        return tl::unexpected(std::make_error_code(std::errc::broken_pipe));
    };
    std::uint64_t octets = 0;
    while (!(top && top->done()) && !(file_size && octets >= *file_size)) {
        const ssize_t n = read_some(fd, in_.data(), in_.size());
        if (n < 0) {
            // As is, ESTALE included: the +OK is out, the message cannot
            // be called gone any more, and the log should say why.
            return tl::unexpected(std::error_code(errno, std::system_category()));
        }
        if (n == 0) {
            break;
        }
        octets += static_cast<std::uint64_t>(n);
        std::string_view chunk{in_.data(), static_cast<std::size_t>(n)};
        if (top) {
            chunk = chunk.substr(0, top->accept(chunk));
        }
        const std::size_t stuffed = stuffer.feed(chunk, out_.data());
        if (stuffed != 0 && !write(std::string_view(out_.data(), stuffed))) {
            return write_failed();
        }
    }
    std::string last;
    stuffer.finish(last);
    if (!write(last)) {
        return write_failed();
    }
    return octets;
}

tl::expected<std::uint64_t, std::error_code>
stream_message(int fd, std::optional<std::uint64_t> top_lines,
               const std::function<bool(std::string_view)>& write) {
    MessageStreamer streamer;
    return streamer.stream(fd, top_lines, std::nullopt, write);
}

} // namespace pop3::shell
