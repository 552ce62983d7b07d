// HMAC, hash and PBKDF2 from OpenSSL's EVP interface; nothing hand-written.
// Dovecot's {CRAM-MD5} secrets are MD5 chaining states, which only OpenSSL's
// low-level (deprecated in 3.0, still supported) MD5 API can resume.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/md5.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <charconv>
#include <cstring>

#include "password_check.hpp"
#include "pop3/core/ascii.hpp"
#include "sasl_crypto.hpp"

namespace pop3::shell {
namespace core = pop3::core;
using pop3::core::ascii_lower;
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

// Parses Dovecot's "{SCRAM-SHA-*}iterations,salt,StoredKey,ServerKey".
std::optional<core::ScramCredentials> stored_scram(const EVP_MD* md,
                                                   const core::PasswdEntry& entry) {
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
        iterations == 0 || iterations > 10'000'000 || !salt || salt->empty() ||
        !stored || !server || stored->size() != size || server->size() != size)
        return std::nullopt;
    return core::ScramCredentials{entry.user, std::move(*salt), iterations,
                                  std::move(*stored), std::move(*server), true};
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

// The PLAIN/CLEAR secret, unless it is empty: an empty secret must not be
// usable by any mechanism (USER/PASS and APOP refuse it; an HMAC or PBKDF2
// under an empty key would not).
std::optional<std::string> usable_plaintext(const core::PasswdEntry& entry) {
    auto secret = plaintext_secret(entry);
    if (!secret || secret->empty()) return std::nullopt;
    return secret;
}

} // namespace

std::string salt_for(std::string_view salt_key, core::Mechanism mechanism,
                     std::string_view login) {
    auto text = std::string(core::mechanism_name(mechanism)) + ":" + std::string(login);
    return hmac(EVP_sha256(), salt_key, text).substr(0, 16);
}

std::optional<core::ScramCredentials>
scram_credentials(core::Mechanism mechanism, const core::PasswdEntry& entry,
                  std::string_view salt_key) {
    const EVP_MD* md = digest_of(mechanism);
    std::string_view wanted =
        mechanism == core::Mechanism::scram_sha1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
    if (entry.scheme == wanted) {
        // A stored secret of the empty password is as unusable as an empty
        // plaintext one. Checking costs one PBKDF2, like the derivation a
        // plaintext secret needs, so the two kinds also cost the same.
        auto stored = stored_scram(md, entry);
        if (!stored) return std::nullopt;
        auto empty = from_password(md, "", stored->salt, stored->iterations);
        if (equal(empty.stored_key, stored->stored_key)) return std::nullopt;
        return stored;
    }
    auto password = usable_plaintext(entry);
    if (!password) return std::nullopt;
    auto c = from_password(md, *password, salt_for(salt_key, mechanism, entry.user),
                           k_scram_iterations);
    OPENSSL_cleanse(password->data(), password->size());
    c.user = entry.user;
    return c;
}

core::ScramCredentials scram_decoy(core::Mechanism mechanism, std::string_view login,
                                   std::string_view salt_key) {
    const EVP_MD* md = digest_of(mechanism);
    unsigned char noise[32];
    RAND_bytes(noise, sizeof noise);
    auto c = from_password(md, std::string_view(reinterpret_cast<char*>(noise), sizeof noise),
                           salt_for(salt_key, mechanism, login), k_scram_iterations);
    OPENSSL_cleanse(noise, sizeof noise);
    c.known = false;
    return c;
}

std::optional<bool> scram_password_matches(const core::PasswdEntry& entry,
                                           std::string_view password) {
    const EVP_MD* md = entry.scheme == "SCRAM-SHA-1" ? EVP_sha1() : EVP_sha256();
    if (entry.scheme != "SCRAM-SHA-1" && entry.scheme != "SCRAM-SHA-256") return std::nullopt;
    auto stored = stored_scram(md, entry);
    if (!stored) return std::nullopt;
    auto derived = from_password(md, password, stored->salt, stored->iterations);
    return equal(derived.stored_key, stored->stored_key);
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

namespace {

// Dovecot's {CRAM-MD5}: 64 hex digits, the MD5 states after the outer
// (key XOR opad) and inner (key XOR ipad) blocks, each as four 32-bit
// little-endian words (hmac_md5_get_cram_context).
struct CramContext {
    MD5_CTX outer, inner;
};

std::optional<CramContext> cram_context(std::string_view hex) {
    if (hex.size() != 64) return std::nullopt;
    unsigned char bytes[32];
    for (std::size_t i = 0; i < 32; ++i) {
        unsigned value = 0;
        auto [ptr, ec] = std::from_chars(hex.data() + 2 * i, hex.data() + 2 * i + 2, value, 16);
        if (ec != std::errc{} || ptr != hex.data() + 2 * i + 2) return std::nullopt;
        bytes[i] = static_cast<unsigned char>(value);
    }
    auto word = [&](std::size_t at) {
        return static_cast<MD5_LONG>(bytes[at]) | static_cast<MD5_LONG>(bytes[at + 1]) << 8 |
               static_cast<MD5_LONG>(bytes[at + 2]) << 16 | static_cast<MD5_LONG>(bytes[at + 3]) << 24;
    };
    CramContext c;
    for (auto* ctx : {&c.outer, &c.inner}) {
        MD5_Init(ctx);
        std::size_t base = ctx == &c.outer ? 0 : 16;
        ctx->A = word(base);
        ctx->B = word(base + 4);
        ctx->C = word(base + 8);
        ctx->D = word(base + 12);
        ctx->Nl = 512; // one 64-octet block already hashed
    }
    return c;
}

std::string to_hex(std::string_view bytes) {
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string hex;
    for (char c : bytes) {
        auto u = static_cast<unsigned char>(c);
        hex += k_hex[u >> 4];
        hex += k_hex[u & 15];
    }
    return hex;
}

// Dovecot's {CRAM-MD5} form of `password`, in lower-case hex.
std::string cram_context_hex(std::string_view password) {
    // HMAC key: the password, or its MD5 when longer than a block.
    unsigned char key[64] = {};
    if (password.size() > 64)
        MD5(reinterpret_cast<const unsigned char*>(password.data()), password.size(), key);
    else
        std::memcpy(key, password.data(), password.size());
    std::string hex;
    for (unsigned char pad : {static_cast<unsigned char>(0x5c), static_cast<unsigned char>(0x36)}) {
        unsigned char block[64];
        for (std::size_t i = 0; i < 64; ++i) block[i] = static_cast<unsigned char>(key[i] ^ pad);
        MD5_CTX ctx;
        MD5_Init(&ctx);
        MD5_Update(&ctx, block, sizeof block);
        for (MD5_LONG w : {ctx.A, ctx.B, ctx.C, ctx.D})
            for (int shift = 0; shift < 32; shift += 8) {
                unsigned char b = static_cast<unsigned char>((w >> shift) & 0xFF);
                hex += to_hex(std::string_view(reinterpret_cast<char*>(&b), 1));
            }
        OPENSSL_cleanse(block, sizeof block);
        OPENSSL_cleanse(&ctx, sizeof ctx);
    }
    OPENSSL_cleanse(key, sizeof key);
    return hex;
}

// A well-formed {CRAM-MD5} secret that is not the empty password's.
bool stored_cram_usable(const core::PasswdEntry& entry) {
    return entry.scheme == "CRAM-MD5" && cram_context(entry.secret) &&
           !equal(cram_context_hex(""), ascii_lower(entry.secret));
}

} // namespace

std::optional<bool> cram_password_matches(const core::PasswdEntry& entry,
                                          std::string_view password) {
    if (entry.scheme != "CRAM-MD5" || !cram_context(entry.secret)) return std::nullopt;
    auto hex = cram_context_hex(password);
    bool same = equal(hex, ascii_lower(entry.secret));
    OPENSSL_cleanse(hex.data(), hex.size());
    return same;
}

bool cram_md5_usable(const core::PasswdEntry& entry) {
    return usable_plaintext(entry).has_value() || stored_cram_usable(entry);
}

bool verify_cram_md5(const core::PasswdEntry& entry, std::string_view challenge,
                     std::string_view digest_hex) {
    std::string mac;
    if (auto secret = usable_plaintext(entry)) {
        mac = hmac(EVP_md5(), *secret, challenge);
        OPENSSL_cleanse(secret->data(), secret->size());
    } else if (stored_cram_usable(entry)) {
        auto context = cram_context(entry.secret);
        if (!context) return false;
        unsigned char inner[MD5_DIGEST_LENGTH], outer[MD5_DIGEST_LENGTH];
        MD5_Update(&context->inner, challenge.data(), challenge.size());
        MD5_Final(inner, &context->inner);
        MD5_Update(&context->outer, inner, sizeof inner);
        MD5_Final(outer, &context->outer);
        mac.assign(reinterpret_cast<char*>(outer), sizeof outer);
        OPENSSL_cleanse(&*context, sizeof *context);
    } else {
        return false;
    }
    return equal(to_hex(mac), digest_hex);
}

} // namespace pop3::shell
