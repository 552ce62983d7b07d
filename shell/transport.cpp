// Plain file-descriptor transport (TLS comes later behind the same calls).
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include <cerrno>
#include <cstdint>

#include "tls.hpp"
#include "transport.hpp"

namespace pop3::shell {

namespace {
constexpr std::size_t k_flush_threshold = 64 * 1024;
}

Transport::Transport(int in_fd, int out_fd) : in_fd_(in_fd), out_fd_(out_fd) {
    // Writes happen only at flush(): after a batch of answers or 64 KiB.
    // Nagle's algorithm would hold each batch's last segment back until the
    // client ACKs the one before (a delayed ACK: idle time on both ends,
    // measured at half the wall time of a pipelined RETR run). Fails
    // harmlessly on pipes and non-TCP sockets.
    const int one = 1;
    ::setsockopt(out_fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}
Transport::~Transport() = default;

void Transport::use_tls(std::unique_ptr<TlsSession> tls) { tls_ = std::move(tls); }
std::unique_ptr<TlsSession> Transport::release_tls() { return std::move(tls_); }

void Transport::close_tls() {
    if (tls_ && !broken_) tls_->shutdown();
}

Transport::ReadResult Transport::tls_read(int timeout_ms) {
    // Bounded: each round either returns or waits on poll(2).
    for (int round = 0; round < 64; ++round) {
        auto io = tls_->read(in_, sizeof in_);
        if (io.bytes > 0)
            return {Status::data, std::string_view(in_, static_cast<std::size_t>(io.bytes))};
        if (io.failed) return {Status::error, {}};
        if (io.want == TlsSession::Want::nothing) return {Status::eof, {}};
        pollfd p{io.want == TlsSession::Want::read ? in_fd_ : out_fd_,
                 static_cast<short>(io.want == TlsSession::Want::read ? POLLIN : POLLOUT), 0};
        sigset_t during_wait;
        sigemptyset(&during_wait);
        timeout_ms = capped(timeout_ms);
        timespec limit{timeout_ms / 1000, static_cast<long>(timeout_ms % 1000) * 1'000'000L};
        int ready = ::ppoll(&p, 1, timeout_ms < 0 ? nullptr : &limit, &during_wait);
        if (ready < 0)
            return {errno == EINTR ? Status::interrupted : Status::error, {}};
        if (ready == 0) return {Status::timeout, {}};
    }
    return {Status::interrupted, {}};
}

std::size_t Transport::tls_write_some(std::string_view pending) {
    for (int attempt = 0; attempt < 1000; ++attempt) {
        auto io = tls_->write(pending.data(), pending.size());
        if (io.bytes > 0) return static_cast<std::size_t>(io.bytes);
        if (io.failed || io.want == TlsSession::Want::nothing) break;
        pollfd p{io.want == TlsSession::Want::read ? in_fd_ : out_fd_,
                 static_cast<short>(io.want == TlsSession::Want::read ? POLLIN : POLLOUT), 0};
        int ready = ::poll(&p, 1, capped(write_timeout_ms_));
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) write_timed_out_ = true;
        if (ready <= 0) break;
    }
    broken_ = true;
    return 0;
}

bool Transport::past_deadline() const {
    return std::chrono::steady_clock::now() >= deadline_;
}

int Transport::capped(int ms) const {
    if (deadline_ == std::chrono::steady_clock::time_point::max()) return ms;
    // Rounded up, so a wait that ends at the deadline is past it.
    auto left = std::chrono::ceil<std::chrono::milliseconds>(
                    deadline_ - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return 0;
    if (ms < 0 || left < ms) return static_cast<int>(left);
    return ms;
}

Transport::ReadResult Transport::read(int timeout_ms) {
    if (past_deadline()) return {Status::timeout, {}};
    if (tls_) return tls_read(timeout_ms);
    timeout_ms = capped(timeout_ms);
    pollfd p{in_fd_, POLLIN, 0};
    // SIGTERM and SIGHUP are blocked except while waiting here, so a
    // termination request can never slip in between a check and the wait.
    sigset_t during_wait;
    sigemptyset(&during_wait);
    timespec limit{timeout_ms / 1000, static_cast<long>(timeout_ms % 1000) * 1'000'000L};
    int ready = ::ppoll(&p, 1, timeout_ms < 0 ? nullptr : &limit, &during_wait);
    if (ready < 0)
        return {errno == EINTR ? Status::interrupted : Status::error, {}};
    if (ready == 0) return {Status::timeout, {}};
    auto n = ::read(in_fd_, in_, sizeof in_);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) return {Status::interrupted, {}};
        return {Status::error, {}};
    }
    if (n == 0) return {Status::eof, {}};
    return {Status::data, std::string_view(in_, static_cast<std::size_t>(n))};
}

bool Transport::send(std::string_view bytes) {
    if (broken_) return false;
    if (out_.empty() && bytes.size() >= k_flush_threshold && !tls_) {
        // A whole chunk of a message: written from the caller's buffer,
        // not copied into ours first.
        write_all(bytes);
        return !broken_;
    }
    out_.append(bytes);
    if (out_.size() >= k_flush_threshold) return flush();
    return true;
}

// Hardening (issue 7): never block in write(2). Wait for POLLOUT at most
// the write timeout (capped by the session deadline), then write without
// blocking: send(MSG_DONTWAIT) on a socket, at most PIPE_BUF octets (which
// POLLOUT guarantees room for) on a pipe. A client that reads nothing thus
// costs at most one write timeout, and pop3d buffers at most 64 KiB + one
// chunk for it.
std::size_t Transport::write_some(std::string_view pending) {
    const char* data = pending.data();
    const std::size_t size = pending.size();
    // A socket is tried first and waited for only when full (one system
    // call per write instead of two); a pipe is waited for first, since
    // only POLLOUT promises it room for PIPE_BUF octets.
    bool wait = !out_is_socket_;
    for (int attempt = 0; attempt < 1000; ++attempt) {
        if (wait) {
            pollfd p{out_fd_, POLLOUT, 0};
            int ready = ::poll(&p, 1, capped(write_timeout_ms_));
            if (ready < 0 && errno == EINTR) continue;
            if (ready == 0) write_timed_out_ = true;
            if (ready <= 0) break; // timed out (or poll failed): give up
        }
        wait = true;
        ssize_t n = -1;
        if (out_is_socket_) {
            n = ::send(out_fd_, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0 && errno == ENOTSOCK) {
                out_is_socket_ = false;
                continue; // wait for POLLOUT, then write at most PIPE_BUF
            }
        } else {
            n = ::write(out_fd_, data, std::min<std::size_t>(size, PIPE_BUF));
        }
        if (n > 0) return static_cast<std::size_t>(n);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        break;
    }
    broken_ = true;
    return 0;
}

void Transport::write_all(std::string_view bytes) {
    std::size_t done = 0;
    while (!broken_ && done < bytes.size()) {
        auto n = tls_ ? tls_write_some(bytes.substr(done)) : write_some(bytes.substr(done));
        done += n;
        sent_ += n;
    }
}

bool Transport::flush() {
    write_all(out_);
    out_.clear();
    return !broken_;
}

} // namespace pop3::shell
