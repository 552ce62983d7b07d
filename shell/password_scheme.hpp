// Dovecot password scheme names ("SHA512-CRYPT", "PLAIN.B64") and what can be
// done with a secret without any hashing library: pop3d itself links none
// (they live in pop3d-crypto.so, crypto_module.hpp), so a passwd-file of
// plaintext secrets never loads them.
#pragma once
#include <optional>
#include <string_view>

namespace pop3::shell {

enum class SecretEncoding { none, base64, hex };

struct SchemeName {
    std::string_view base;                 // "PLAIN" of "PLAIN.B64"
    std::optional<SecretEncoding> encoding; // nullopt: an unknown suffix
    bool suffixed = false;
};

// Splits an encoding suffix (".HEX", ".B64", ".BASE64") off a scheme name.
[[nodiscard]] SchemeName split_scheme(std::string_view scheme);

[[nodiscard]] bool is_plaintext_scheme(std::string_view base);
// The crypt(3) family verified through libxcrypt.
[[nodiscard]] bool is_crypt_scheme(std::string_view base);
// The plain and salted digests (SHA, SSHA256, PLAIN-MD5, ...).
[[nodiscard]] bool is_digest_scheme(std::string_view base);

// True for a plaintext scheme without an encoding suffix: the secret is
// compared as it is, with no hashing library.
[[nodiscard]] bool verifiable_without_crypto(std::string_view scheme);

// Equality of a stored secret and a given password in a time that depends
// on the given password's length only: neither where they first differ nor
// the stored one's length shows. False for an empty `stored`.
[[nodiscard]] bool plaintext_equal(std::string_view stored, std::string_view given);

} // namespace pop3::shell
