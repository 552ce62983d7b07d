// `pop3d --check`: what the admin wants to know before the first client
// connects. Run in the mailstore root with the options the super-server
// uses; reads the passwd-file, the TLS files, the access rules and the
// working directory, never changes anything, never prints a secret.
#pragma once
#include <cstdio>

#include "options.hpp"

namespace pop3::shell {

// Writes one line per finding to `out` ("ok: ...", "warning: ...",
// "error: ...", then a summary) and returns the exit status: 0 when no
// error was found (warnings allowed), 1 otherwise.
[[nodiscard]] int check_configuration(const Options& options, std::FILE* out);

} // namespace pop3::shell
