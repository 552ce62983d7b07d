// Random octets for nonces, seeds and the APOP stamp: the kernel's
// getrandom, one source so that no caller keeps its own fallback.
#pragma once
#include <cstddef>
#include <string>

namespace pop3::shell {

// Fills `out` with `size` random octets; aborts on a kernel without
// getrandom (never in a supported system).
void fill_random(unsigned char* out, std::size_t size);

// `octets` random octets (at most 64) as lower-case hex.
[[nodiscard]] std::string random_hex(std::size_t octets);

} // namespace pop3::shell
