// Logging to stderr with one write(2) per line, so lines from concurrent
// sessions sharing a log pipe never interleave, and never blocking (issue
// 11, 3.8): a log reader that stalls (multilog stopped, a full pipe, a
// socket nobody reads) once held pop3d in write(2) forever, with SIGTERM
// blocked outside the read wait, so not even a signal ended it.
//
// Standard error is a file description shared with the super-server and
// other sessions, so O_NONBLOCK is never set on it (that would make their
// blocking writes fail with EAGAIN). Instead: a socket gets
// send(MSG_DONTWAIT); a pipe, FIFO or terminal is polled for room for at
// most a few milliseconds and then written at most PIPE_BUF octets, which
// POLLOUT promises room for (another writer filling the pipe completely
// between the poll and the write could still block it; that needs a whole
// pipe page of lines from others within microseconds). A regular file
// never blocks for long and is written as is.
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "log.hpp"

namespace pop3::shell {
namespace {

constexpr std::string_view k_cut = "...";

// systemd names the journal stream it connected as "device:inode" in
// JOURNAL_STREAM; stderr is that stream unless something redirected it.
bool stderr_is_journal() {
    const char* stream = std::getenv("JOURNAL_STREAM");
    if (stream == nullptr) return false;
    char* end = nullptr;
    errno = 0;
    const unsigned long long dev = std::strtoull(stream, &end, 10);
    if (errno != 0 || end == stream || *end != ':') return false;
    const char* ino_text = end + 1;
    const unsigned long long ino = std::strtoull(ino_text, &end, 10);
    if (errno != 0 || end == ino_text || *end != '\0') return false;
    struct stat st {};
    return ::fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

} // namespace

Log::Log() : Log(STDERR_FILENO, stderr_is_journal()) {}

Log::Log(int fd, bool journal) : fd_(fd), kind_(Kind::pollable), journal_(journal) {
    struct stat st {};
    if (::fstat(fd, &st) == 0) {
        if (S_ISSOCK(st.st_mode)) kind_ = Kind::socket;
        else if (S_ISREG(st.st_mode)) kind_ = Kind::file;
    }
    int n = std::snprintf(prefix_, sizeof prefix_, "pop3d[%ld]: ",
                          static_cast<long>(::getpid()));
    prefix_len_ = n > 0 ? static_cast<std::size_t>(n) : 0;
}

void Log::line(std::string_view text, Priority priority) const {
    std::string tail;
    if (dropped_ > 0)
        tail = " (" + std::to_string(dropped_) +
               (dropped_ == 1 ? " log line dropped)" : " log lines dropped)");
    std::string out;
    out.reserve(PIPE_BUF);
    if (torn_) out += '\n';
    if (journal_) {
        out += '<';
        out += static_cast<char>('0' + static_cast<int>(priority));
        out += '>';
    }
    out.append(prefix_, prefix_len_);
    // One write of at most PIPE_BUF octets, the tail and "\n" included.
    const std::size_t room = PIPE_BUF - out.size() - tail.size() - 1;
    const bool cut = text.size() > room;
    if (cut) text = text.substr(0, room - k_cut.size());
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7F) ? '?' : c; // keep it one line
    }
    if (cut) out += k_cut;
    out += tail;
    out += '\n';
    // After a drop the reader is known to be stalled: do not wait again
    // until a line gets through.
    if (write_line(out, dropped_ > 0 ? 0 : k_wait_ms)) {
        dropped_ = 0;
    } else {
        ++dropped_; // logging must never end (or hold up) the session
    }
}

bool Log::write_line(std::string_view data, int wait_ms) const {
    // Bounded: at most k_polls waits of wait_ms for one line, and a few
    // retries after EINTR or a partial write.
    constexpr int k_polls = 3;
    int polls_left = k_polls;
    bool wait_first = kind_ == Kind::pollable; // a socket is tried first
    for (int round = 0; round < 16 && !data.empty(); ++round) {
        if (wait_first) {
            if (polls_left-- == 0) break;
            pollfd p{fd_, POLLOUT, 0};
            const int ready = ::poll(&p, 1, wait_ms);
            if (ready < 0 && errno == EINTR) continue;
            if (ready <= 0) break; // no room within the wait (or poll failed)
        }
        wait_first = kind_ != Kind::file;
        const ssize_t n =
            kind_ == Kind::socket
                ? ::send(fd_, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL)
                : ::write(fd_, data.data(), data.size());
        if (n > 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
            // Part of a line is out: whatever follows must end it first.
            torn_ = !data.empty();
            continue;
        }
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        break; // EPIPE, EBADF, ENOSPC...: nothing more to be done
    }
    return data.empty();
}

} // namespace pop3::shell
