// Least privilege (docs/design.md): started as root, pop3d reads the
// passwd-file as root only to authenticate, then becomes the mail user for
// good before it opens the mailbox, and never serves mail as uid 0.
#pragma once
#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <system_error>

#include <tl/expected.hpp>

#include "pop3/core/passwd_line.hpp"

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

// The identity for serving `mailbox_dir` (domain/user/INBOX) to the user of
// `entry`, by choose_identity() with the owner of `mailbox_dir` as lstat(2)
// sees it (a symlink is never followed, so its owner counts), or, when the
// INBOX does not exist yet, of domain/user, else of domain/.
[[nodiscard]] tl::expected<MailIdentity, std::string>
mail_identity(const std::optional<pop3::core::PasswdEntry>& entry,
              const std::string& mailbox_dir);

// True when the process runs with root's effective uid: it must then drop
// privileges before serving mail.
[[nodiscard]] bool running_as_root();

// Becomes `who` irrevocably: clears supplementary groups (setgroups(0)),
// sets real, effective and saved gid, then real, effective and saved uid,
// and checks the result, including that setuid(0) now fails. Refuses uid 0.
// On error the text says what failed (for the log); the caller must not
// serve the mailbox. If root could be regained, the process aborts.
[[nodiscard]] tl::expected<void, std::string> become(MailIdentity who);

// The whole step the session runner takes after authentication: when root,
// finds the identity for the mailbox and becomes it, returning it; when not
// root, does nothing and returns nullopt (pop3d simply runs as itself).
[[nodiscard]] tl::expected<std::optional<MailIdentity>, std::string>
become_mail_user(const std::optional<pop3::core::PasswdEntry>& entry,
                 const std::string& mailbox_dir);

} // namespace pop3::shell
