// Reaching the INBOX without symlinks, choosing the mail user, and dropping
// root for good (setgroups, setresgid, setresuid) and checking it. The
// order matters: groups and gid can only be changed while still root, so
// they go first, and uid last.
#include "privileges.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace pop3::shell {
namespace {

std::string errno_text(const char* call) {
    return std::string(call) + ": " + std::strerror(errno);
}

// True when the directory `root` (a descriptor or AT_FDCWD) no longer has a
// name: a removed directory keeps working as a base but has no links.
bool root_removed(int root, struct stat& st) {
    const int got = root == AT_FDCWD ? ::stat(".", &st) : ::fstat(root, &st);
    return (got == 0 && st.st_nlink == 0) || (got != 0 && errno == ENOENT);
}

} // namespace

std::optional<gid_t> primary_group(uid_t uid) {
    // The size sysconf suggests, doubled on ERANGE up to 1 MiB: an entry
    // with a huge gecos field must not make the lookup loop forever.
    const long suggested = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buffer(suggested > 0 ? static_cast<std::size_t>(suggested)
                                           : std::size_t{16384});
    for (;;) {
        passwd entry{};
        passwd* found = nullptr;
        const int error =
            ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found);
        if (error == ERANGE && buffer.size() < (std::size_t{1} << 20)) {
            buffer.resize(buffer.size() * 2);
            continue;
        }
        if (error != 0 || found == nullptr) return std::nullopt;
        return found->pw_gid;
    }
}

tl::expected<MailIdentity, std::string>
choose_identity(const std::optional<pop3::core::PasswdEntry>& entry,
                uid_t owner,
                const std::function<std::optional<gid_t>(uid_t)>& group_of) {
    MailIdentity who;
    who.uid = entry && entry->uid ? static_cast<uid_t>(*entry->uid) : owner;
    if (entry && entry->gid) {
        who.gid = static_cast<gid_t>(*entry->gid);
        return who;
    }
    const auto group = group_of(who.uid);
    if (!group)
        return tl::unexpected(
            "uid " + std::to_string(who.uid) +
            " has no entry in the system user database and the passwd-file "
            "gives no gid; set the gid field of the passwd-file entry");
    who.gid = *group;
    return who;
}

tl::expected<MailboxDir, std::string>
open_mailbox_dir(int root, std::string_view domain, std::string_view user) {
    MailboxDir found;
    const std::string parts[] = {std::string(domain), std::string(user), "INBOX"};
    std::string path;
    UniqueFd parent;
    for (const std::string& part : parts) {
        // The core admits no such login part; refuse rather than trust it.
        if (part.empty() || part == "." || part == ".." ||
            part.find('/') != std::string::npos)
            return tl::unexpected("invalid mailbox path component \"" + part + "\"");
        path += path.empty() ? part : "/" + part;
        const int at = parent ? parent.get() : root;
        // O_PATH: only a base for the next lookup (no read permission
        // needed, as for the path before); O_NOFOLLOW with O_DIRECTORY
        // fails on a symlink instead of following it.
        UniqueFd next{::openat(at, part.c_str(),
                               O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
        if (!next) {
            const int error = errno;
            struct stat st {};
            // ESTALE: removed by another host of a shared store (NFS,
            // FUSE), as gone as ENOENT (issue 12).
            if (error == ENOENT || error == ESTALE) {
                // A mailstore root that was removed (a restore, a remount
                // under a running super-server) would make every mailbox
                // look empty: that is an error, not an account without mail.
                struct stat top {};
                if (root_removed(root, top))
                    return tl::unexpected(std::string(
                        "the working directory (the mailstore root) has been "
                        "removed; restart the super-server in the mailstore root"));
                return found; // an empty mailbox
            }
            if (::fstatat(at, part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(st.st_mode))
                return tl::unexpected(path + " is a symlink; pop3d follows none "
                                             "in the mailstore");
            return tl::unexpected("cannot open " + path + ": " + std::strerror(error));
        }
        struct stat st {};
        if (::fstat(next.get(), &st) != 0)
            return tl::unexpected("cannot stat " + path + ": " + std::strerror(errno));
        found.owner = st.st_uid;
        found.owner_known = true;
        parent = std::move(next);
    }
    found.inbox = std::move(parent);
    return found;
}

bool running_as_root() { return ::geteuid() == 0; }

tl::expected<void, std::string> check_identity(MailIdentity who) {
    if (who.uid == 0)
        return tl::unexpected(std::string("refusing to serve mail as uid 0"));
    // Root's group opens root-group files (a mailbox created by root and
    // chowned to the user keeps group 0); (id_t)-1 means "unchanged" to
    // setres[ug]id and would leave root in place.
    if (who.gid == 0)
        return tl::unexpected(std::string("refusing to serve mail as gid 0 (root's group); "
                                          "set a non-root gid in the passwd-file or give "
                                          "the mail user a non-root primary group"));
    if (who.uid == static_cast<uid_t>(-1) || who.gid == static_cast<gid_t>(-1))
        return tl::unexpected(std::string("refusing uid or gid 4294967295"));
    return {};
}

tl::expected<void, std::string> become(MailIdentity who) {
    if (auto usable = check_identity(who); !usable) return usable;
    if (::setgroups(0, nullptr) != 0) return tl::unexpected(errno_text("setgroups"));
    if (::setresgid(who.gid, who.gid, who.gid) != 0)
        return tl::unexpected(errno_text("setresgid"));
    if (::setresuid(who.uid, who.uid, who.uid) != 0)
        return tl::unexpected(errno_text("setresuid"));
    // Verify rather than trust: every id as asked, no groups left, and no
    // way back. Regaining root would be a kernel or libc defect we must not
    // run past, so that alone aborts.
    if (::setuid(0) == 0 || ::seteuid(0) == 0) std::abort();
    uid_t ruid = 0, euid = 0, suid = 0;
    gid_t rgid = 0, egid = 0, sgid = 0;
    if (::getresuid(&ruid, &euid, &suid) != 0 ||
        ::getresgid(&rgid, &egid, &sgid) != 0)
        return tl::unexpected(errno_text("getresuid"));
    if (ruid != who.uid || euid != who.uid || suid != who.uid ||
        rgid != who.gid || egid != who.gid || sgid != who.gid)
        return tl::unexpected(std::string("ids not changed as asked"));
    if (::getgroups(0, nullptr) != 0)
        return tl::unexpected(std::string("supplementary groups remain"));
    return {};
}

tl::expected<MailAccess, std::string>
become_mail_user_at(const std::string& path, std::optional<std::uint32_t> uid,
                    std::optional<std::uint32_t> gid) {
    MailAccess access;
    access.path = path;
    if (path.empty() || path[0] != '/')
        return tl::unexpected("mail location " + path + " is not an absolute path");
    if (running_as_root()) {
        if (!uid)
            return tl::unexpected("the userdb gives " + path +
                                  " but no uid; pop3d serves it only as a named user");
        MailIdentity who{static_cast<uid_t>(*uid), 0};
        if (gid) {
            who.gid = static_cast<gid_t>(*gid);
        } else if (auto group = primary_group(who.uid)) {
            who.gid = *group;
        } else {
            return tl::unexpected("uid " + std::to_string(who.uid) +
                                  " has no entry in the system user database and the "
                                  "userdb gives no gid");
        }
        auto done = become(who);
        if (!done) return tl::unexpected(done.error());
        access.identity = who;
    }
    UniqueFd inbox{::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
    if (!inbox && errno != ENOENT && errno != ESTALE)
        return tl::unexpected("cannot open " + path + ": " + std::strerror(errno));
    access.inbox = std::move(inbox);
    return access;
}

tl::expected<MailAccess, std::string>
become_mail_user(const std::optional<pop3::core::PasswdEntry>& entry,
                 std::string_view domain, std::string_view user) {
    MailAccess access;
    access.path = std::string(domain) + "/" + std::string(user) + "/INBOX";
    auto dir = open_mailbox_dir(AT_FDCWD, domain, user);
    if (!dir) return tl::unexpected(dir.error());
    access.inbox = std::move(dir->inbox);
    if (!running_as_root()) return access;
    MailIdentity who;
    if (entry && entry->uid && entry->gid) {
        who = {static_cast<uid_t>(*entry->uid), static_cast<gid_t>(*entry->gid)};
    } else if (!dir->owner_known && !(entry && entry->uid)) {
        // Neither domain/ nor anything below it exists to own the mailbox.
        return tl::unexpected("cannot find the owner of " + access.path +
                              ": " + std::strerror(ENOENT));
    } else {
        auto chosen = choose_identity(entry, dir->owner, primary_group);
        if (!chosen) return tl::unexpected(chosen.error());
        who = *chosen;
    }
    auto done = become(who);
    if (!done) return tl::unexpected(done.error());
    access.identity = who;
    return access;
}

} // namespace pop3::shell
