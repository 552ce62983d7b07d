// The process the super-server started (docs/design.md, "Processes"). It
// never reads the passwd-file, the TLS key or a client byte: it starts the
// auth and login processes, relays the login process's requests to the
// auth process (remembering which user the auth process accepted), and,
// on the hand-over of that user's session, becomes the mail process.
#pragma once
#include <string>

#include "log.hpp"
#include "options.hpp"
#include "pop3/core/access_rules.hpp"

namespace pop3::shell {

// How the client is found: `peer` is the direct peer's address; when
// `proxied` (a --proxy-from peer), the client is named by the PROXY header
// the process that talks to the client reads first, and only then are the
// access `rules` applied and the session start logged.
struct ClientContext {
    std::string peer;
    bool proxied = false;
    std::optional<pop3::core::AccessRules> rules;
};

// Serves the whole session of the connection on `in_fd`/`out_fd`; returns
// the process exit status.
[[nodiscard]] int serve_connection(const Options& options, const Log& log, int in_fd,
                                   int out_fd, const ClientContext& client);

} // namespace pop3::shell
