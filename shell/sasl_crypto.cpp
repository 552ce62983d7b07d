// HMAC, hash and PBKDF2 from OpenSSL's EVP interface; nothing hand-written.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <charconv>

#include "password_check.hpp"
#include "sasl_crypto.hpp"

namespace pop3::shell {
namespace core = pop3::core;
namespace {

constexpr std::uint32_t k_scram_iterations = 4096; // RFC 7677's minimum

const EVP_MD* digest_of(core::Mechanism m) {
    return m == core::Mechanism::scram_sha1 ? EVP_sha1() : EVP_sha256();
}

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(md, key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
    return std::string(reinterpret_cast<char*>(out), len);
}

std::string hash(const EVP_MD* md, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
    return std::string(reinterpret_cast<char*>(out), len);
}

bool equal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

core::ScramCredentials from_password(const EVP_MD* md, std::string_view password,
                                     std::string salt, std::uint32_t iterations) {
    std::string salted(static_cast<std::size_t>(EVP_MD_get_size(md)), '\0');
    PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                      reinterpret_cast<const unsigned char*>(salt.data()),
                      static_cast<int>(salt.size()), static_cast<int>(iterations), md,
                      static_cast<int>(salted.size()),
                      reinterpret_cast<unsigned char*>(salted.data()));
    core::ScramCredentials c;
    c.salt = std::move(salt);
    c.iterations = iterations;
    c.stored_key = hash(md, hmac(md, salted, "Client Key"));
    c.server_key = hmac(md, salted, "Server Key");
    OPENSSL_cleanse(salted.data(), salted.size());
    c.known = true;
    return c;
}

} // namespace

std::optional<core::ScramCredentials>
scram_credentials(core::Mechanism mechanism, const core::PasswdEntry& entry) {
    const EVP_MD* md = digest_of(mechanism);
    std::string_view wanted =
        mechanism == core::Mechanism::scram_sha1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
    if (entry.scheme == wanted) {
        // Dovecot: "<iterations>,<salt>,<StoredKey>,<ServerKey>", base64.
        std::string_view s = entry.secret;
        std::string_view parts[4];
        for (int i = 0; i < 4; ++i) {
            auto comma = s.find(',');
            if ((comma == std::string_view::npos) != (i == 3)) return std::nullopt;
            parts[i] = s.substr(0, comma);
            s.remove_prefix(comma == std::string_view::npos ? s.size() : comma + 1);
        }
        std::uint32_t iterations = 0;
        auto [ptr, ec] = std::from_chars(parts[0].data(), parts[0].data() + parts[0].size(),
                                         iterations);
        auto salt = core::base64_decode(parts[1]);
        auto stored = core::base64_decode(parts[2]);
        auto server = core::base64_decode(parts[3]);
        auto size = static_cast<std::size_t>(EVP_MD_get_size(md));
        if (ec != std::errc{} || ptr != parts[0].data() + parts[0].size() ||
            iterations == 0 || !salt || !stored || !server || stored->size() != size ||
            server->size() != size)
            return std::nullopt;
        return core::ScramCredentials{entry.user, std::move(*salt), iterations,
                                      std::move(*stored), std::move(*server), true};
    }
    auto password = plaintext_secret(entry);
    if (!password) return std::nullopt;
    // A stable salt per user keeps client-side caching of SaltedPassword
    // useful; it never leaves this server except in server-first messages.
    auto salt = hash(EVP_sha256(), "pop3d scram salt\n" + entry.user).substr(0, 16);
    auto c = from_password(md, *password, std::move(salt), k_scram_iterations);
    OPENSSL_cleanse(password->data(), password->size());
    c.user = entry.user;
    return c;
}

core::ScramCredentials scram_decoy(core::Mechanism mechanism, std::string_view user) {
    const EVP_MD* md = digest_of(mechanism);
    core::ScramCredentials c;
    c.salt = hash(EVP_sha256(), "pop3d scram salt\n" + std::string(user)).substr(0, 16);
    c.iterations = k_scram_iterations;
    c.stored_key.resize(static_cast<std::size_t>(EVP_MD_get_size(md)));
    c.server_key.resize(c.stored_key.size());
    RAND_bytes(reinterpret_cast<unsigned char*>(c.stored_key.data()),
               static_cast<int>(c.stored_key.size()));
    RAND_bytes(reinterpret_cast<unsigned char*>(c.server_key.data()),
               static_cast<int>(c.server_key.size()));
    c.known = false;
    return c;
}

ScramCheck verify_scram(core::Mechanism mechanism, const core::ScramCredentials& keys,
                        std::string_view auth_message, std::string_view proof) {
    const EVP_MD* md = digest_of(mechanism);
    auto client_signature = hmac(md, keys.stored_key, auth_message);
    ScramCheck check{false, hmac(md, keys.server_key, auth_message)};
    if (proof.size() != client_signature.size()) return check;
    std::string client_key(proof);
    for (std::size_t i = 0; i < client_key.size(); ++i)
        client_key[i] = static_cast<char>(client_key[i] ^ client_signature[i]);
    check.proof_ok = equal(hash(md, client_key), keys.stored_key) && keys.known;
    OPENSSL_cleanse(client_key.data(), client_key.size());
    return check;
}

bool verify_cram_md5(const core::PasswdEntry& entry, std::string_view challenge,
                     std::string_view digest_hex) {
    auto secret = plaintext_secret(entry);
    if (!secret) return false;
    auto mac = hmac(EVP_md5(), *secret, challenge);
    OPENSSL_cleanse(secret->data(), secret->size());
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string hex;
    for (char c : mac) {
        auto u = static_cast<unsigned char>(c);
        hex += k_hex[u >> 4];
        hex += k_hex[u & 15];
    }
    return equal(hex, digest_hex);
}

} // namespace pop3::shell
