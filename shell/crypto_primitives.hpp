// OpenSSL primitives that the rest of the shell needs, and the point where
// pop3d loads them: in pop3d they come from pop3d-crypto.so (crypto_module.hpp),
// in the tests they are linked in.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace pop3::shell {

// SHA-256 of `data`, 32 raw octets.
[[nodiscard]] std::string sha256(std::string_view data);

// Loads pop3d-crypto.so if it is not loaded yet, so that a process about to
// enter its jail (an empty root directory) can still verify hashed secrets
// and speak TLS; always succeeds where the code is linked in. The error
// names the file and why (an installation error); it is kept, so every
// later call gives the same answer without another dlopen.
[[nodiscard]] tl::expected<void, std::string> load_crypto_module();

} // namespace pop3::shell
