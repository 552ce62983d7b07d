// The unprivileged jail of the login and auth processes (docs/design.md,
// "Processes"): an account with no other use, no groups, an empty root
// directory, no capabilities, no way to gain privileges, not ptrace-able.
#pragma once
#include <sys/types.h>

#include <string>

#include <tl/expected.hpp>

namespace pop3::shell {

// The account that handles client bytes before login.
struct LoginAccount {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
};

// The default --login-user: a dedicated account the admin creates
// (docs/deployment.md), else "nobody".
inline constexpr const char* k_default_login_user = "pop3d";
inline constexpr const char* k_fallback_login_user = "nobody";

// Looks up `name` in the system user database, or, when `name` is empty,
// the default account and then the fallback. Refuses root (uid or gid 0).
// Call it before any chroot: NSS reads files.
[[nodiscard]] tl::expected<LoginAccount, std::string>
find_login_account(const std::string& name);

// As root: chroot into a new, empty, already-removed directory, become
// `account` (groups cleared, real/effective/saved ids), forbid new
// privileges and new processes, and make the process non-dumpable (so a
// process of the same uid cannot ptrace it or read its memory). Checks that
// no capability is left. The process can then open no file.
[[nodiscard]] tl::expected<void, std::string> enter_sandbox(const LoginAccount& account);

// In a child, after its sandbox: be killed when `parent` (the monitor)
// dies; exits at once if it already has. (A change of credentials clears
// this setting, so it comes after the drop.)
void die_with_parent(pid_t parent);

} // namespace pop3::shell
