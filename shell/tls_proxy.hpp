// After a login over TLS, the login process stays as the TLS end of the
// connection: it relays plaintext between the client's TLS session and the
// mail process over a socketpair, so the TLS state (and the certificate's
// key) never enters the process that serves mail (docs/design.md).
#pragma once
#include <memory>

#include "tls.hpp"

namespace pop3::shell {

// Relays until the mail process closes `plain_fd` (then flushes what it
// sent, sends close_notify and returns) or the client goes away (then
// closes `plain_fd`'s write side, so the mail process sees a hangup, and
// returns once the mail process closes too). Waits at most `write_timeout_ms`
// for a client that reads nothing.
void relay_tls(TlsSession& tls, int client_in_fd, int client_out_fd, int plain_fd,
               int write_timeout_ms);

} // namespace pop3::shell
