// Dropping root for good (setgroups, setresgid, setresuid) and checking it.
// The order matters: groups and gid can only be changed while still root,
// so they go first, and uid last.
#include "privileges.hpp"

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

std::string parent_of(const std::string& path) {
    auto slash = path.find_last_of('/');
    return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
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

tl::expected<MailIdentity, std::string>
mail_identity(const std::optional<pop3::core::PasswdEntry>& entry,
              const std::string& mailbox_dir) {
    if (entry && entry->uid && entry->gid)
        return MailIdentity{static_cast<uid_t>(*entry->uid),
                            static_cast<gid_t>(*entry->gid)};
    // domain/user/INBOX, else domain/user, else domain: the nearest that
    // exists (a store owned by one virtual-mail user has it at every level).
    struct stat st {};
    std::string dir = mailbox_dir;
    for (int level = 0;; ++level) {
        if (::lstat(dir.c_str(), &st) == 0) break;
        if (errno != ENOENT || level == 2 || dir.find('/') == std::string::npos)
            return tl::unexpected("cannot find the owner of " + mailbox_dir +
                                  ": " + std::strerror(errno));
        dir = parent_of(dir);
    }
    return choose_identity(entry, st.st_uid, primary_group);
}

bool running_as_root() { return ::geteuid() == 0; }

tl::expected<void, std::string> become(MailIdentity who) {
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

tl::expected<std::optional<MailIdentity>, std::string>
become_mail_user(const std::optional<pop3::core::PasswdEntry>& entry,
                 const std::string& mailbox_dir) {
    if (!running_as_root()) return std::nullopt;
    auto who = mail_identity(entry, mailbox_dir);
    if (!who) return tl::unexpected(who.error());
    auto done = become(*who);
    if (!done) return tl::unexpected(done.error());
    return std::optional<MailIdentity>(*who);
}

} // namespace pop3::shell
