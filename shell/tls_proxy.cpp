// A bounded, non-blocking relay: each direction has at most k_window octets
// in flight, and a side is read only when the other has room, so neither a
// client that does not read nor one that floods can grow memory or wedge
// both processes writing at each other.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "tls_proxy.hpp"

namespace pop3::shell {
namespace {

constexpr std::size_t k_window = 256 * 1024;

short events_for(TlsSession::Want want) {
    return want == TlsSession::Want::write ? POLLOUT : POLLIN;
}

} // namespace

void relay_tls(TlsSession& tls, int client_in_fd, int client_out_fd, int plain_fd,
               int write_timeout_ms) {
    ::fcntl(plain_fd, F_SETFL, ::fcntl(plain_fd, F_GETFL) | O_NONBLOCK);
    std::string up, down;           // client -> mail, mail -> client
    bool client_open = true;        // the client may still send
    bool mail_open = true;          // the mail process may still send
    TlsSession::Want read_want = TlsSession::Want::read;
    TlsSession::Want write_want = TlsSession::Want::write;
    std::vector<char> buffer(64 * 1024); // a TLS record is 16 KiB: four per read
    // Bounded: every round either moves bytes or waits in poll(2), and a
    // wait that moves nothing for the write timeout ends the relay.
    for (long round = 0; round < 100'000'000; ++round) {
        if (!mail_open && down.empty()) break; // all the mail process said is out
        if (!client_open && !mail_open) break;
        bool progressed = false;
        // Client -> mail.
        if (client_open && up.size() < k_window) {
            auto io = tls.read(buffer.data(), buffer.size());
            if (io.bytes > 0) {
                up.append(buffer.data(), static_cast<std::size_t>(io.bytes));
                progressed = true;
            } else if (io.failed || io.want == TlsSession::Want::nothing) {
                client_open = false;
                progressed = true;
            } else {
                read_want = io.want;
            }
        }
        if (!up.empty()) {
            auto n = ::send(plain_fd, up.data(), up.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                up.erase(0, static_cast<std::size_t>(n));
                progressed = true;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                return; // the mail process is gone
            }
        }
        if (!client_open && up.empty()) ::shutdown(plain_fd, SHUT_WR);
        // Mail -> client.
        if (mail_open && down.size() < k_window) {
            auto n = ::recv(plain_fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
            if (n > 0) {
                down.append(buffer.data(), static_cast<std::size_t>(n));
                progressed = true;
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                mail_open = false;
                progressed = true;
            }
        }
        if (!down.empty() && client_open) {
            auto io = tls.write(down.data(), down.size());
            if (io.bytes > 0) {
                down.erase(0, static_cast<std::size_t>(io.bytes));
                progressed = true;
            } else if (io.failed || io.want == TlsSession::Want::nothing) {
                client_open = false;
                down.clear();
                progressed = true;
            } else {
                write_want = io.want;
            }
        } else if (!client_open) {
            down.clear(); // nobody to tell
        }
        if (progressed) continue;
        pollfd fds[3];
        nfds_t count = 0;
        if (client_open && up.size() < k_window)
            fds[count++] = {client_in_fd, events_for(read_want), 0};
        if (client_open && !down.empty())
            fds[count++] = {write_want == TlsSession::Want::write ? client_out_fd : client_in_fd,
                            events_for(write_want), 0};
        short plain_events = 0;
        if (!up.empty()) plain_events |= POLLOUT;
        if (mail_open && down.size() < k_window) plain_events |= POLLIN;
        if (plain_events != 0) fds[count++] = {plain_fd, plain_events, 0};
        if (count == 0) break;
        // Waiting on the client alone, with output pending: that wait is
        // bounded by the write timeout. Otherwise the mail process keeps
        // time (it ends idle sessions and closes its end).
        const bool only_client_output = !down.empty() && up.empty() && !mail_open;
        int ready = ::poll(fds, count, only_client_output ? write_timeout_ms : -1);
        if (ready < 0 && errno != EINTR) break;
        if (ready == 0) break;
    }
    if (client_open) tls.shutdown();
}

} // namespace pop3::shell
