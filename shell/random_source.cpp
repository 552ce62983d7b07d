#include "random_source.hpp"

#include <sys/random.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace pop3::shell {

void fill_random(unsigned char* out, std::size_t size) {
    // Blocking getrandom fails only when interrupted (retried, a bounded
    // number of times) or on a kernel without it (before Linux 3.17, which
    // the sandbox's system calls need anyway). No library fallback: it
    // would dlopen pop3d-crypto.so inside a jail that has no files.
    std::size_t done = 0;
    for (int attempt = 0; done < size && attempt < 100; ++attempt) {
        const ssize_t n = ::getrandom(out + done, size - done, 0);
        if (n > 0) done += static_cast<std::size_t>(n);
        else if (n < 0 && errno != EINTR) break;
    }
    if (done < size) {
        std::fputs("pop3d: getrandom failed; this kernel is too old for pop3d\n", stderr);
        std::abort();
    }
}
std::string random_hex(std::size_t octets) {
    unsigned char bytes[64] = {};
    if (octets > sizeof bytes) octets = sizeof bytes;
    fill_random(bytes, octets);
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(octets * 2);
    for (std::size_t i = 0; i < octets; ++i) {
        out += k_hex[bytes[i] >> 4];
        out += k_hex[bytes[i] & 15];
    }
    return out;
}

} // namespace pop3::shell
