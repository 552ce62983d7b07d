// The auth process (docs/design.md, "Processes"): the only one that reads
// the passwd-file. It answers credential requests, relayed by the monitor
// from the login process, and never sees the client's connection.
#pragma once
#include <optional>

#include "log.hpp"
#include "options.hpp"
#include "privsep_channel.hpp"
#include "sandbox.hpp"

namespace pop3::shell {

// Runs in the forked auth process and never returns: reads the passwd-file
// (as root when started so), enters the sandbox (as `account`, or the
// unprivileged one when `account` is empty), sends the Offer, then answers
// until the monitor closes the channel (or dies: then it is killed).
// `client` is the peer's address, for the failed-login lines.
[[noreturn]] void run_auth_process(const Options& options, const Log& log,
                                   PrivsepChannel channel,
                                   const std::optional<LoginAccount>& account,
                                   pid_t monitor, const std::string& client);

} // namespace pop3::shell
