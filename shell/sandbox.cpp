// Entering the login/auth jail. Order matters: the empty root is made and
// entered while root, groups and gid change before uid, and the checks come
// last, when nothing can be undone any more.
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "sandbox.hpp"

namespace pop3::shell {
namespace {

std::string errno_text(const std::string& call) {
    return call + ": " + std::strerror(errno);
}

tl::expected<LoginAccount, std::string> lookup(const std::string& name) {
    std::vector<char> buffer(16384);
    passwd entry{};
    passwd* found = nullptr;
    int rc = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (rc != 0) return tl::unexpected("cannot look up user " + name + ": " + std::strerror(rc));
    if (found == nullptr) return tl::unexpected("no such user: " + name);
    return LoginAccount{name, entry.pw_uid, entry.pw_gid};
}

// The effective capability set, read with capget(2) (no file needed, so it
// also works inside the empty root).
tl::expected<bool, std::string> any_effective_capability() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capget, &header, data) != 0) return tl::unexpected(errno_text("capget"));
    for (const auto& d : data)
        if (d.effective != 0 || d.permitted != 0) return true;
    return false;
}

// chroot into a fresh directory that is removed before anything runs in
// it: an empty root in which no file can be created either.
tl::expected<void, std::string> enter_empty_root() {
    char dir[] = "/tmp/pop3d-empty-XXXXXX";
    if (::mkdtemp(dir) == nullptr) return tl::unexpected(errno_text("mkdtemp /tmp"));
    if (::chdir(dir) != 0) {
        auto why = errno_text(std::string("chdir ") + dir);
        ::rmdir(dir);
        return tl::unexpected(why);
    }
    if (::rmdir(dir) != 0) return tl::unexpected(errno_text(std::string("rmdir ") + dir));
    if (::chroot(".") != 0) return tl::unexpected(errno_text("chroot"));
    if (::chdir("/") != 0) return tl::unexpected(errno_text("chdir /"));
    return {};
}

tl::expected<void, std::string> no_new_privileges() {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return tl::unexpected(errno_text("prctl(PR_SET_NO_NEW_PRIVS)"));
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return tl::unexpected(errno_text("prctl(PR_SET_DUMPABLE)"));
    return {};
}

} // namespace

tl::expected<LoginAccount, std::string> find_login_account(const std::string& name) {
    auto account = lookup(name.empty() ? k_default_login_user : name);
    if (!account && name.empty()) account = lookup(k_fallback_login_user);
    if (!account) return account;
    if (account->uid == 0 || account->gid == 0)
        return tl::unexpected("login user " + account->name +
                              " is root or in root's group; choose an unprivileged account");
    return account;
}

tl::expected<void, std::string> enter_sandbox(const LoginAccount& account) {
    if (auto root = enter_empty_root(); !root) return root;
    if (::setgroups(0, nullptr) != 0) return tl::unexpected(errno_text("setgroups"));
    if (::setresgid(account.gid, account.gid, account.gid) != 0)
        return tl::unexpected(errno_text("setresgid"));
    if (::setresuid(account.uid, account.uid, account.uid) != 0)
        return tl::unexpected(errno_text("setresuid"));
    if (::setuid(0) == 0 || ::seteuid(0) == 0) std::abort(); // never run on as root
    // No process of this account may fork: the login and auth processes
    // never do, and an exploit should not either.
    const rlimit none{0, 0};
    if (::setrlimit(RLIMIT_NPROC, &none) != 0) return tl::unexpected(errno_text("setrlimit"));
    if (auto done = no_new_privileges(); !done) return done;
    auto caps = any_effective_capability();
    if (!caps) return tl::unexpected(caps.error());
    if (*caps) return tl::unexpected(std::string("capabilities remain after the drop"));
    if (::getgroups(0, nullptr) != 0)
        return tl::unexpected(std::string("supplementary groups remain"));
    return {};
}

void die_with_parent(pid_t parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (::getppid() != parent) std::_Exit(1);
}


} // namespace pop3::shell
