// The log never blocks the session (issue 11, 3.8): a stalled reader costs
// dropped lines, counted in the next line that gets through.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <limits.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "log.hpp"
#include "unique_fd.hpp"

using pop3::shell::Log;
using pop3::shell::UniqueFd;

namespace {

// Fills the pipe or socket written through `fd` until it takes nothing
// more, through a descriptor of its own so `fd` itself stays blocking.
void fill(int fd, bool socket) {
    const int flags = ::fcntl(fd, F_GETFL);
    REQUIRE(::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0);
    const std::string chunk(4096, 'f');
    for (int i = 0; i < 1 << 16; ++i) {
        const ssize_t n = socket ? ::send(fd, chunk.data(), chunk.size(), MSG_DONTWAIT)
                                 : ::write(fd, chunk.data(), chunk.size());
        if (n < 0) break;
    }
    // Smaller writes take the last few octets of room.
    for (int i = 0; i < 1 << 16; ++i) {
        const ssize_t n = socket ? ::send(fd, "f", 1, MSG_DONTWAIT) : ::write(fd, "f", 1);
        if (n < 0) break;
    }
    REQUIRE(::fcntl(fd, F_SETFL, flags) == 0);
}

std::string drain(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    REQUIRE(::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0);
    std::string out;
    char buffer[65536];
    for (int i = 0; i < 1 << 16; ++i) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0) break;
        out.append(buffer, static_cast<std::size_t>(n));
    }
    REQUIRE(::fcntl(fd, F_SETFL, flags) == 0);
    return out;
}

std::string without_filler(const std::string& text) {
    const auto end = text.find_first_not_of('f');
    return end == std::string::npos ? std::string() : text.substr(end);
}

// A blocking write would hang the test: SIGALRM's default action ends it
// instead, a failure rather than a hang.
struct Watchdog {
    Watchdog() { ::alarm(60); }
    ~Watchdog() { ::alarm(0); }
};

const std::string k_prefix = "pop3d[" + std::to_string(::getpid()) + "]: ";

} // namespace

TEST_CASE("a full log pipe drops lines instead of blocking, and the next line counts them",
          "[shell][log]") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    UniqueFd read_end{fds[0]}, write_end{fds[1]};
    fill(write_end.get(), false);
    Log log(write_end.get());
    const Watchdog watchdog;

    log.line("one");
    log.line("two");
    log.line("three");
    CHECK(without_filler(drain(read_end.get())).empty());

    log.line("four");
    log.line("five");
    CHECK(drain(read_end.get()) ==
          k_prefix + "four (3 log lines dropped)\n" + k_prefix + "five\n");
    fill(write_end.get(), false);
    log.line("six");
    (void)drain(read_end.get());
    log.line("seven");
    CHECK(drain(read_end.get()) == k_prefix + "seven (1 log line dropped)\n");
}

TEST_CASE("a full log socket drops lines instead of blocking", "[shell][log]") {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    UniqueFd reader{fds[0]}, writer{fds[1]};
    fill(writer.get(), true);
    Log log(writer.get());
    const Watchdog watchdog;

    log.line("one");
    log.line("two");
    // A stream socket may have taken part of a line; what follows ends it.
    const std::string seen = without_filler(drain(reader.get()));
    log.line("three");
    const std::string after = drain(reader.get());
    const std::string expected = k_prefix + "three (2 log lines dropped)\n";
    CHECK(after.size() >= expected.size());
    CHECK(after.substr(after.size() - expected.size()) == expected);
    if (!seen.empty()) CHECK(after.front() == '\n');
}

TEST_CASE("a log line is one write of at most PIPE_BUF octets", "[shell][log]") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    UniqueFd read_end{fds[0]}, write_end{fds[1]};
    Log log(write_end.get());

    log.line(std::string(10000, 'x') + "\nforged line");
    const std::string got = drain(read_end.get());
    CHECK(got.size() == PIPE_BUF);
    CHECK(got.substr(0, k_prefix.size()) == k_prefix);
    CHECK(got.substr(got.size() - 4) == "...\n");
    CHECK(got.find('\n') == got.size() - 1);

    log.line("short\x01line");
    CHECK(drain(read_end.get()) == k_prefix + "short?line\n");
}
