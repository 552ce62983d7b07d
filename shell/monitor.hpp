// The process the super-server started (docs/design.md, "Processes"). It
// never reads the passwd-file, the TLS key or a client byte: it starts the
// auth and login processes, relays the login process's requests to the
// auth process (remembering which user the auth process accepted), and,
// on the hand-over of that user's session, becomes the mail process.
#pragma once
#include <string>

#include "log.hpp"
#include "options.hpp"

namespace pop3::shell {

// Serves the whole session of the connection on `in_fd`/`out_fd` from
// `peer` (its address, for the log); returns the process exit status.
[[nodiscard]] int serve_connection(const Options& options, const Log& log, int in_fd,
                                   int out_fd, const std::string& peer);

} // namespace pop3::shell
