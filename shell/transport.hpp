// The connection: reads with an idle timeout, buffered writes that are
// flushed before the next read (so pipelined answers go out together).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace pop3::shell {

class Transport {
public:
    Transport(int in_fd, int out_fd) : in_fd_(in_fd), out_fd_(out_fd) {}

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
    [[nodiscard]] std::uint64_t bytes_sent() const { return sent_; }

private:
    int in_fd_;
    int out_fd_;
    std::string out_;
    char in_[4096];
    bool broken_ = false;
    std::uint64_t sent_ = 0;
};

} // namespace pop3::shell
