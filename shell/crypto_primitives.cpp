// sha256 through OpenSSL (crypto_primitives.hpp); part of
// pop3d-crypto.so, and linked straight into the tests.
#include "crypto_primitives.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

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

tl::expected<void, std::string> load_crypto_module() { return {}; }

} // namespace pop3::shell
