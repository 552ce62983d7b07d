// The connection: reads with an idle timeout, buffered writes that are
// flushed before the next read (so pipelined answers go out together).
#pragma once
#include <chrono>
#include <memory>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pop3::shell {

class TlsSession;

class Transport {
public:
    Transport(int in_fd, int out_fd);
    ~Transport();

    enum class Status { data, eof, timeout, error, interrupted };
    struct ReadResult {
        Status status;
        std::string_view data; // valid until the next read
    };
    // Waits at most `timeout_ms` for bytes from the client.
    [[nodiscard]] ReadResult read(int timeout_ms);

    // Queues bytes; writes them out once 64 KiB are pending.
    bool send(std::string_view bytes);
    // Writes everything queued. False once the client has gone.
    bool flush();
    [[nodiscard]] bool broken() const { return broken_; }
    // Broken because a write waited its whole timeout (the client stopped
    // reading), not because the connection failed.
    [[nodiscard]] bool write_timed_out() const { return write_timed_out_; }

    // Hardening (issue 7): a client that stops reading must not hold pop3d
    // forever. Each write waits at most `ms` for the client to make room
    // (no progress in that time = the client is gone), and no wait, read or
    // write, goes past `deadline` (the total session time limit).
    void set_write_timeout(int ms) { write_timeout_ms_ = ms; }
    void set_deadline(std::chrono::steady_clock::time_point deadline) {
        deadline_ = deadline;
    }
    // `ms`, cut to what is left before the session deadline.
    [[nodiscard]] int budget(int ms) const { return capped(ms); }
    // True once the session deadline has passed.
    [[nodiscard]] bool past_deadline() const;
    [[nodiscard]] std::uint64_t bytes_sent() const { return sent_; }

    // From now on all I/O goes through `tls` (after STLS or for POP3S).
    void use_tls(std::unique_ptr<TlsSession> tls);
    // Takes the TLS session out (for the relay after a hand-over).
    [[nodiscard]] std::unique_ptr<TlsSession> release_tls();
    [[nodiscard]] bool tls_active() const { return tls_ != nullptr; }
    [[nodiscard]] int in_fd() const { return in_fd_; }
    [[nodiscard]] int out_fd() const { return out_fd_; }
    // Sends a TLS close_notify if TLS is active (after flushing).
    void close_tls();

private:
    std::unique_ptr<TlsSession> tls_;
    // The TLS counterparts of read(2) and of one non-blocking write.
    ReadResult tls_read(int timeout_ms);
    std::size_t tls_write_some(std::string_view pending);
    int in_fd_;
    int out_fd_;
    std::string out_;
    char in_[4096]{}; // zeroed: cppcheck uninitMemberVar (issue 7)
    bool broken_ = false;
    bool write_timed_out_ = false;
    int write_timeout_ms_ = 600'000;
    std::chrono::steady_clock::time_point deadline_ =
        std::chrono::steady_clock::time_point::max();
    // Milliseconds to wait: `ms`, capped by the session deadline.
    [[nodiscard]] int capped(int ms) const;
    // One bounded write of (a prefix of) `pending`; bytes written, 0 = stop
    // (broken_).
    std::size_t write_some(std::string_view pending);
    // Writes all of `bytes` (through TLS when active) unless broken_.
    void write_all(std::string_view bytes);
    std::uint64_t sent_ = 0;
    bool out_is_socket_ = true; // until send(2) says ENOTSOCK
};

} // namespace pop3::shell
