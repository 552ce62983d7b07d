// Logging to stderr with one write(2) per line, so lines from concurrent
// sessions sharing a log pipe never interleave.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "log.hpp"

namespace pop3::shell {

Log::Log(int fd) : fd_(fd) {
    int n = std::snprintf(prefix_, sizeof prefix_, "pop3d[%ld]: ",
                          static_cast<long>(::getpid()));
    prefix_len_ = n > 0 ? static_cast<std::size_t>(n) : 0;
}

void Log::line(std::string_view text) const {
    std::string out(prefix_, prefix_len_);
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7F) ? '?' : c; // keep it one line
    }
    out += '\n';
    const char* p = out.data();
    std::size_t left = out.size();
    while (left > 0) {
        auto n = ::write(fd_, p, left);
        if (n <= 0) return; // logging must never end the session
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

} // namespace pop3::shell
