// OpenSSL primitives that the rest of the shell needs, and the point where
// pop3d loads them: in pop3d they come from pop3d-crypto.so (crypto_module.hpp),
// in the tests they are linked in.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace pop3::shell {

// SHA-256 of `data`, 32 raw octets.
[[nodiscard]] std::string sha256(std::string_view data);

// `size` random octets from OpenSSL's generator (for when getrandom fails).
void random_octets(unsigned char* out, std::size_t size);

// Loads pop3d-crypto.so now, so that a process about to enter its jail (an
// empty root directory) can still verify hashed secrets and speak TLS; a
// no-op where the code is linked in. Ends the process with a log line when
// the module cannot be loaded (an installation error).
void preload_crypto_module();

} // namespace pop3::shell
