// One line per event on standard error, prefixed "pop3d[pid]: ". Never a
// password: callers pass only redacted text. Never blocks the session: a
// line the log reader has no room for is dropped and counted. Under
// systemd (stderr is the journal stream named by JOURNAL_STREAM) each line
// starts with its syslog priority, "<3>" error, "<4>" warning, "<6>" info,
// which journald takes as the entry's priority (journalctl -p err).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pop3::shell {

// Syslog priorities (RFC 5424 severities) of the lines.
enum class Priority { error = 3, warning = 4, info = 6 };

class Log {
public:
    // Logs to standard error, with priorities when it is the journal.
    Log();
    // Logs to `fd`, which the caller keeps open (tests); `journal`: start
    // each line with its priority.
    explicit Log(int fd, bool journal = false);

    // Writes "pop3d[pid]: text\n" with one write(2) of at most PIPE_BUF
    // octets (longer text is cut and ends in "..."), so lines of sessions
    // sharing a log pipe never interleave. If the reader is stalled (a
    // full pipe or socket), waits at most k_wait_ms for room, then drops
    // the line; after a drop, lines are tried without waiting until one
    // gets through, which ends in "(N log lines dropped)".
    void line(std::string_view text, Priority priority = Priority::info) const;
    // Something failed: the session or a part of it could not be served.
    void error(std::string_view text) const { line(text, Priority::error); }
    // Served, but something needs the administrator's attention.
    void warning(std::string_view text) const { line(text, Priority::warning); }

    static constexpr int k_wait_ms = 20;

private:
    enum class Kind { socket, pollable, file };
    // True when `data` went out whole within the wait.
    [[nodiscard]] bool write_line(std::string_view data, int wait_ms) const;

    int fd_;
    Kind kind_;
    char prefix_[32];
    std::size_t prefix_len_;
    mutable std::uint64_t dropped_ = 0;
    // A socket took only part of a line: the next one starts with a line
    // end, so a reader never sees two events glued together.
    mutable bool torn_ = false;
    bool journal_;
};

} // namespace pop3::shell
