// The Maildir store of one INBOX, read without locks (DESIGN.md, "The
// non-locking rule"): a login snapshot, re-location of renamed messages,
// vanish detection, marking seen, UPDATE removal and bounded-memory streaming.
#pragma once
#include <sys/types.h>

#include <ctime>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "file_system.hpp"
#include "pop3/core/mailbox.hpp"
#include "unique_fd.hpp"

namespace pop3::shell {

// What UPDATE (RFC 1939 section 6) did to the messages it was asked to remove.
struct RemoveCounts {
    std::size_t removed = 0;      // unlinked by us
    std::size_t already_gone = 0; // vanished before we got to them
    std::size_t failed = 0;       // unlink failed (EACCES, EIO, bad index...)
    bool operator==(const RemoveCounts&) const = default;
};

class IndexText;
class MaildirIndex;

// One INBOX Maildir (cur/, new/, tmp/) as seen by one POP3 session. Message
// numbers are fixed at open(); deliveries made later are never seen or
// touched; messages that disappear are reported once by refresh(); messages
// renamed by others (flag changes, new/ -> cur/) are followed by their base
// name. Per message it keeps only its current relative file name.
// How a message's UIDL is made (--uidl, pop3d(8)).
enum class UidlScheme {
    base_name, // "pop3d": the name up to the first ',' or ':' (the default)
    file_name, // "filename": up to the first ':' (qmail-pop3d, Dovecot's %f)
    dovecot,   // "dovecot": Dovecot's, from its dovecot-uidlist (read-only)
    courier,   // "courier": Courier's, from its courierpop3dsizelist (read-only)
};

struct UidlRule {
    UidlScheme scheme = UidlScheme::base_name;
    std::string format = "%08Xu%08Xv"; // pop3_uidl_format, for dovecot
};

// Where --uidl dovecot (and courier) records the messages it gave a pop3d UIDL because
// Dovecot had not seen them yet (their UIDLs must never change after).
inline constexpr const char* k_pinned_uidls_file = "pop3d-uidls-pinned";

class Maildir {
public:
    // Takes the INBOX directory `inbox` (become_mail_user() opens it
    // without following symlinks; any descriptor of the directory will do,
    // O_PATH included) and scans its new/ and cur/ (never tmp/). `path` is
    // the INBOX's name, for logs only: nothing is looked up by it. An
    // invalid `inbox` is a missing INBOX: an empty mailbox (0 messages; the
    // caller may log it). new/ and cur/ are opened here, once, with
    // O_NOFOLLOW | O_DIRECTORY and held for the session: every later scan,
    // open, rename and unlink is relative to them, so swapping new/ or
    // cur/ for a symlink after login (issue 11, 3.2) points the session
    // nowhere else. Errors (EACCES, ENOTDIR also for a symlinked new/ or
    // cur/, an unreadable message file...) are returned. `watch` = false
    // disables change notification (inotify) and leaves the
    // directory-mtime rule alone; for tests of that rule. Where the file
    // system's directory stamps are not exact (file_system.hpp: NFS, FUSE,
    // ...) the index serves as a size cache only and the listing is always
    // a scan; `stamps` overrides what the file system type says (tests).
    // UIDLs follow `uidl` (each one encoded by core::uidl_for when the name
    // does not fit RFC 1939's rule); under the dovecot scheme the numbering
    // follows Dovecot's too (core::dovecot_listing), and uidl_note() says
    // what happened, for the log.
    [[nodiscard]] static tl::expected<Maildir, std::error_code>
    open(UniqueFd inbox, std::string path, bool watch = true,
         std::optional<DirectoryStamps> stamps = std::nullopt,
         const UidlRule& uidl = {});
    [[nodiscard]] const std::string& uidl_note() const { return uidl_note_; }

    // The login snapshot: index i is message number i+1 (RFC 1939 section 5).
    [[nodiscard]] pop3::core::MailboxSnapshot snapshot() const {
        return snapshot_;
    }
    [[nodiscard]] std::size_t size() const { return names_.size(); }
    // True when the listing came from the index without a scan (tests).
    [[nodiscard]] bool listed_from_index() const { return from_index_; }
    // What the file system rule said at open() (file_system.hpp).
    [[nodiscard]] DirectoryStamps directory_stamps() const { return stamps_; }
    // How many times refresh() or a retry read the directories since
    // open() (tests: a rescan costs O(N), so tests count them).
    [[nodiscard]] std::size_t rescans() const { return rescans_; }

    // Cheap check for changes made by others; returns the indices of
    // snapshot messages that disappeared from the store, each reported once
    // over the session (including those found gone by open_message,
    // mark_seen or remove). Renamed messages are followed; deliveries are
    // ignored. See maildir.cpp for when the directories are rescanned.
    [[nodiscard]] std::vector<std::size_t> refresh();

    // Opens message `index` read-only (O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC) for
    // RETR/TOP. A file whose size is no longer the one it was listed with
    // was changed in place (not the Maildir way): it is still opened, the
    // index is dropped (its sizes are suspect) and the message is reported
    // by take_changed_in_place(). Errors: std::errc::no_such_file_or_directory when the
    // message is gone (or `index` is out of range); std::errc::invalid_argument
    // when the name now holds something other than a regular file; ELOOP for
    // a symlink; any other open(2) error as is.
    // `file_size`, if given, receives the file's size at open.
    [[nodiscard]] tl::expected<UniqueFd, std::error_code>
    open_message(std::size_t index, std::uint64_t* file_size = nullptr);

    // Marks the message seen the Maildir way: new/X -> cur/X:2,S and
    // cur/X:2,FLAGS -> cur/X:2,FLAGS+S (sorted). Idempotent. Best effort:
    // an error is returned for the caller to log, never fatal.
    [[nodiscard]] tl::expected<void, std::error_code>
    mark_seen(std::size_t index);

    // UPDATE (RFC 1939 section 6): unlinks exactly these snapshot messages,
    // following renames, and nothing else.
    [[nodiscard]] RemoveCounts remove(const std::vector<std::size_t>& indices);

    // Messages open_message found changed in place since the listing, each
    // reported once, for the log.
    [[nodiscard]] std::vector<std::size_t> take_changed_in_place() {
        return std::exchange(changed_in_place_, {});
    }

    // The current name relative to the INBOX (e.g. "cur/<name>:2,S"), or "" once the
    // message is gone or removed. For logs and tests.
    [[nodiscard]] std::string_view path_of(std::size_t index) const;

    // The INBOX's name given to open(), for logs.
    [[nodiscard]] const std::string& path() const { return path_; }

private:
    Maildir() = default;

    // Rescans when forced or when new/ or cur/ may have changed; appends
    // newly vanished indices to pending_vanished_.
    void refresh_into_pending(bool force);
    [[nodiscard]] std::error_code record_directory_times();
    // Without change notification (see maildir.cpp): whether new/ and cur/
    // still carry the stamps last recorded, and, after our own rename,
    // taking their new stamps as ours.
    [[nodiscard]] bool stamps_accounted_for();
    void claim_own_stamps();
    // Change notification (see maildir.cpp): watches new/ and cur/ where
    // the file system is local; true when events other than our own
    // renames arrived (or may have been lost), so a rescan is needed.
    void watch_directories();
    [[nodiscard]] bool drain_notifications();

    // Scans new/ and cur/ into the snapshot and the names, with sizes from
    // `index` where it still holds them, and rewrites the index.
    [[nodiscard]] std::error_code scan_into_snapshot(MaildirIndex& index,
                                                     std::string_view stamp);
    // Takes the listing of an index whose stamp matches; false (nothing
    // taken) if any entry is malformed.
    [[nodiscard]] bool take_listing(MaildirIndex& index);
    // The UIDL of the message at `rel` ("new/..." or "cur/...") whose base
    // name is `base_size` octets long, by the session's scheme.
    [[nodiscard]] std::string uidl_of(std::string_view rel, std::size_t base_size) const;
    // What that UIDL is made from (a part of `rel`): the UIDL itself
    // whenever core::fits_as_uidl says so.
    [[nodiscard]] std::string_view uidl_source(std::string_view rel,
                                               std::size_t base_size) const;
    // --uidl dovecot or courier: relabels and renumbers the listing (see
    // open()) from that server's file.
    void apply_other_servers_uidls(UidlScheme scheme, std::string_view format);
    // "<dev>.<inode>.<mtime s>.<ns>.<ctime s>.<ns>" of new/, a blank, and
    // the same of cur/, when both mtimes are old enough to be exact (see
    // maildir.cpp), else "-".
    [[nodiscard]] std::string directory_stamp() const;

    // Names relative to the INBOX ("cur/X:2,S"), back to back (issue 6: ~8 bytes of overhead per message instead of a
    // std::string and its heap block): a listing taken from the index
    // points into the index's text (issue 16: nothing copied), a scanned
    // one into the arena, where a rename appends the new name. Offsets
    // below index_size_ are in the index's text, the others in the arena,
    // after it.
    struct NameRef {
        std::uint32_t offset = 0;
        std::uint16_t length = 0; // 0 = gone (vanished or removed)
        std::uint16_t base_size = 0;
    };
    [[nodiscard]] bool in_arena(const NameRef& ref) const {
        return ref.offset >= index_size_;
    }
    [[nodiscard]] std::string_view name(std::size_t index) const {
        const NameRef& ref = names_[index];
        return {in_arena(ref) ? arena_.data() + (ref.offset - index_size_)
                              : index_names_ + ref.offset,
                ref.length};
    }
    [[nodiscard]] bool gone(std::size_t index) const { return names_[index].length == 0; }
    [[nodiscard]] std::string_view base(std::size_t index) const {
        return name(index).substr(4, names_[index].base_size);
    }
    void rename_to(std::size_t index, std::string_view rel);
    void forget(std::size_t index);
    // Appends "rel\0" to the arena; false when the arena would pass 4 GiB.
    [[nodiscard]] bool append_name(std::string_view rel, NameRef& ref);

    // The held descriptor of new/ (rel starting "new/") or cur/, opened on
    // first need when it did not exist at open(); -1 (errno set) when it
    // still does not or cannot be opened.
    [[nodiscard]] int subdir_fd(std::string_view rel);
    // The file part of the relative name of message `index`, as the system
    // calls take it (names in the index's text end in a blank, not a NUL).
    [[nodiscard]] std::string c_file(std::size_t index) const {
        return std::string(name(index).substr(4));
    }

    std::string path_;
    UniqueFd dir_;     // the INBOX directory; invalid when it did not exist
    UniqueFd new_dir_; // INBOX/new, opened without following symlinks
    UniqueFd cur_dir_; // INBOX/cur, likewise
    pop3::core::MailboxSnapshot snapshot_;
    std::shared_ptr<IndexText> index_text_; // the names of a listing from the index
    const char* index_names_ = nullptr;     // its text (never written)
    std::size_t index_size_ = 0;            // its size; 0 for a scanned listing
    std::string arena_;
    std::vector<NameRef> names_;            // parallel to *snapshot_
    std::vector<std::uint64_t> file_sizes_; // as listed; k_unknown_size if not known
    std::size_t arena_live_ = 0;            // arena octets of live names
    std::size_t live_ = 0;                  // names not gone
    bool from_index_ = false;
    DirectoryStamps stamps_ = DirectoryStamps::cached;
    UidlScheme uidl_ = UidlScheme::base_name;
    std::string uidl_note_;
    std::vector<std::size_t> changed_in_place_;
    std::vector<std::size_t> pending_vanished_;
    // Change detection (see maildir.cpp).
    // What identifies a state of a directory's entries: any change to them
    // moves the mtime and the ctime; utimensat(2) (tar, rsync -a and cp -a
    // restoring a backup) can put the mtime back but never the ctime; the
    // device and inode tell a directory replaced by another one.
    struct DirStamp {
        dev_t dev = 0;
        ino_t ino = 0; // 0: the directory did not exist
        timespec mtime{};
        timespec ctime{};
    };
    DirStamp new_stamp_;
    DirStamp cur_stamp_;
    timespec scanned_at_{};
    // The stamps were taken right after our own Seen rename (at own_at_,
    // by our clock), not by a scan.
    bool own_stamps_ = false;
    timespec own_at_{};
    bool must_rescan_ = false;
    std::size_t rescans_ = 0;
    UniqueFd notify_; // inotify; invalid when not usable (mtimes only)
    int new_watch_ = -1;
    int cur_watch_ = -1;
    // Relative names our own renames removed and added, not yet seen as
    // events.
    std::vector<std::string> own_events_;
};

// Streams the message in `fd` to `write` in bounded memory (64 KiB reads):
// every line end becomes CRLF, lines starting with '.' are byte-stuffed
// (RFC 1939 section 3), and for TOP (`top_lines`, RFC 1939 section 7) only
// the header, the blank line and that many body lines pass. `write` gets
// wire-ready chunks, the last one ending in ".\r\n". Returns the number of
// message octets read from `fd`, or the read(2) error, or
// std::errc::broken_pipe when `write` returned false. A streamer keeps its
// buffers from one message to the next (issue 6: allocating and freeing
// them per RETR moved the heap top twice per message).
class MessageStreamer {
public:
    // `file_size`, when known (fstat at open), ends the reading without a
    // last read(2) that only finds the end of the file.
    [[nodiscard]] tl::expected<std::uint64_t, std::error_code>
    stream(int fd, std::optional<std::uint64_t> top_lines,
           std::optional<std::uint64_t> file_size,
           const std::function<bool(std::string_view)>& write);

private:
    std::vector<char> in_;
    std::string out_;
};

// One message with a streamer of its own (tests).
[[nodiscard]] tl::expected<std::uint64_t, std::error_code>
stream_message(int fd, std::optional<std::uint64_t> top_lines,
               const std::function<bool(std::string_view)>& write);

} // namespace pop3::shell
