// sha256 and random_octets through OpenSSL (crypto_primitives.hpp); part of
// pop3d-crypto.so, and linked straight into the tests.
#include "crypto_primitives.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace pop3::shell {

std::string sha256(std::string_view data)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
    std::string out(reinterpret_cast<char*>(digest), size);
    OPENSSL_cleanse(digest, sizeof digest);
    return out;
}

void random_octets(unsigned char* out, std::size_t size)
{
    RAND_bytes(out, static_cast<int>(size));
}

void preload_crypto_module() {}

} // namespace pop3::shell
