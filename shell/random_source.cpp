#include "random_source.hpp"

#include <sys/random.h>
#include <sys/types.h>

#include "crypto_primitives.hpp"

namespace pop3::shell {

void fill_random(unsigned char* out, std::size_t size) {
    if (::getrandom(out, size, 0) != static_cast<ssize_t>(size))
        random_octets(out, size);
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
