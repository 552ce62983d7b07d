// Plain file-descriptor transport (TLS comes later behind the same calls).
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "transport.hpp"

namespace pop3::shell {

namespace {
constexpr std::size_t k_flush_threshold = 64 * 1024;
}

Transport::ReadResult Transport::read(int timeout_ms) {
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
    out_.append(bytes);
    if (out_.size() >= k_flush_threshold) return flush();
    return true;
}

bool Transport::flush() {
    std::size_t done = 0;
    while (!broken_ && done < out_.size()) {
        auto n = ::write(out_fd_, out_.data() + done, out_.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) { // non-blocking socket: wait until writable
                pollfd p{out_fd_, POLLOUT, 0};
                if (::poll(&p, 1, 60'000) > 0) continue;
            }
            broken_ = true;
            break;
        }
        done += static_cast<std::size_t>(n);
        sent_ += static_cast<std::uint64_t>(n);
    }
    out_.clear();
    return !broken_;
}

} // namespace pop3::shell
