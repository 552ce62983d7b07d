// Least privilege (docs/design.md): started as root, pop3d reads the
// passwd-file as root only to authenticate, then opens the INBOX without
// following symlinks, becomes the mail user for good before it reads the
// mailbox, and never serves mail as uid 0.
#pragma once
#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <tl/expected.hpp>

#include "pop3/core/passwd_line.hpp"
#include "unique_fd.hpp"

namespace pop3::shell {

// The user and group a mailbox is served as.
struct MailIdentity {
    uid_t uid = 0;
    gid_t gid = 0;
    bool operator==(const MailIdentity&) const = default;
};

// The primary group of `uid` in the system user database (getpwuid_r(3)),
// or nullopt when it has no entry there (or the lookup failed).
[[nodiscard]] std::optional<gid_t> primary_group(uid_t uid);

// The identity for serving a mailbox whose directory is owned by `owner` to
// the user of `entry`: the passwd-file's uid field, else `owner`; the
// passwd-file's gid field, else the primary group of that uid as
// `group_of` finds it (primary_group() in pop3d). Never the directory's
// group: in a setgid domain directory every new INBOX inherits a group its
// user need not be in. A uid with no group of either kind is refused, with
// the reason for the log.
[[nodiscard]] tl::expected<MailIdentity, std::string>
choose_identity(const std::optional<pop3::core::PasswdEntry>& entry,
                uid_t owner,
                const std::function<std::optional<gid_t>(uid_t)>& group_of);

// The INBOX of a login, reached without following any symlink.
struct MailboxDir {
    UniqueFd inbox;    // domain/user/INBOX; invalid when it does not exist
    uid_t owner = 0;   // of the INBOX, else of the nearest existing parent
    bool owner_known = false; // false: not even domain/ exists
};

// Opens `domain`/`user`/INBOX below the directory `root` (AT_FDCWD: the
// working directory, the mailstore root) one component at a time, each
// with openat(O_PATH | O_DIRECTORY | O_NOFOLLOW), and takes the owner from
// fstat(2) of the deepest one that exists: no symlink in domain/, user/ or
// INBOX can choose whose directory is opened or who pop3d becomes (issue
// 11, 3.2: a domain owner could point hosted.example/postmaster at another
// user's directory). A component that is a symlink or not a directory, an
// empty, "." or ".." part, or a part with '/' is refused with the reason
// for the log; a missing one ends the walk (an empty mailbox).
[[nodiscard]] tl::expected<MailboxDir, std::string>
open_mailbox_dir(int root, std::string_view domain, std::string_view user);

// True when the process runs with root's effective uid: it must then drop
// privileges before serving mail.
[[nodiscard]] bool running_as_root();

// Why `who` must never serve mail (uid 0, root's group, the ids that mean
// "unchanged"), or nothing: become() refuses exactly these.
[[nodiscard]] tl::expected<void, std::string> check_identity(MailIdentity who);

// Becomes `who` irrevocably: clears supplementary groups (setgroups(0)),
// sets real, effective and saved gid, then real, effective and saved uid,
// and checks the result, including that setuid(0) now fails. Refuses uid 0.
// On error the text says what failed (for the log); the caller must not
// serve the mailbox. If root could be regained, the process aborts.
[[nodiscard]] tl::expected<void, std::string> become(MailIdentity who);

// What a login is served from: who pop3d now is, and its INBOX.
struct MailAccess {
    // The identity become; nullopt when not root (pop3d runs as itself).
    std::optional<MailIdentity> identity;
    // domain/user/INBOX, opened before the switch; invalid when it does not
    // exist (an empty mailbox). Opened as root, it stays usable after the
    // switch: it is only a base for openat(2), and permission is checked at
    // each openat with the credentials of that moment, the mail user's.
    UniqueFd inbox;
    std::string path; // "domain/user/INBOX", for logs
};

// The whole step the session runner takes after authentication: opens the
// INBOX of `domain` and `user` (the login's parts) by open_mailbox_dir()
// from the working directory; when root, chooses the identity from `entry`
// and the owner found (choose_identity()) and becomes it. Not root: the
// walk only, as itself. The error text says why, for the log; when root
// and it fails, nothing was served and privileges may be gone.
[[nodiscard]] tl::expected<MailAccess, std::string>
become_mail_user(const std::optional<pop3::core::PasswdEntry>& entry,
                 std::string_view domain, std::string_view user);

// The same for a mailbox the userdb placed (--userdb dovecot:, its mail=):
// when root, becomes `uid` (required) and `gid` (else the uid's primary
// group) first, then opens the absolute Maildir `path` as that user, so no
// symlink on the way leads anywhere the user could not go anyway. A
// missing directory is an empty mailbox. Not root: the open only.
[[nodiscard]] tl::expected<MailAccess, std::string>
become_mail_user_at(const std::string& path, std::optional<std::uint32_t> uid,
                    std::optional<std::uint32_t> gid);

} // namespace pop3::shell
