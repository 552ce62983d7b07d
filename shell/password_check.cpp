// Password verification. Hashing is left to well-kept libraries: libxcrypt's
// crypt_rn for the crypt(3) family, libargon2 for Argon2, OpenSSL for digests
// and base64. Secret decoding follows Dovecot's password-scheme.c: a scheme
// name may carry an encoding suffix (".HEX", ".B64", ".BASE64"); unsalted
// digests stored in base64 are also accepted as hex when the length fits.
#include "password_check.hpp"
#include "password_scheme.hpp"
#include "sasl_crypto.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>
#include <vector>

#include <argon2.h>
#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace pop3::shell {
namespace {

using Bytes = std::vector<unsigned char>;

using Encoding = SecretEncoding;

// Wipes a buffer that held a password or derived material.
template <typename Container> void wipe(Container& c)
{
    if (!c.empty())
        OPENSSL_cleanse(c.data(), c.size());
}

int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

std::optional<Bytes> decode_hex(std::string_view text)
{
    if (text.size() % 2 != 0)
        return std::nullopt;
    Bytes out;
    out.reserve(text.size() / 2);
    for (std::size_t i = 0; i < text.size(); i += 2) {
        const int high = hex_value(text[i]);
        const int low = hex_value(text[i + 1]);
        if (high < 0 || low < 0)
            return std::nullopt;
        out.push_back(static_cast<unsigned char>(high * 16 + low));
    }
    return out;
}

bool is_base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// Standard base64; the '=' padding may be present or left out.
// EVP_DecodeBlock wants whole quanta and counts padding as zero bytes, so we
// pad to a multiple of 4 ourselves and drop the padding bytes afterwards.
std::optional<Bytes> decode_base64(std::string_view text)
{
    std::size_t padding = 0;
    while (!text.empty() && text.back() == '=' && padding < 2) {
        text.remove_suffix(1);
        ++padding;
    }
    if (text.empty() || text.size() % 4 == 1)
        return std::nullopt;
    for (const char c : text) {
        if (!is_base64_char(c))
            return std::nullopt;
    }
    if (padding != 0 && (text.size() + padding) % 4 != 0)
        return std::nullopt;
    std::string padded(text);
    const std::size_t missing = (4 - padded.size() % 4) % 4;
    padded.append(missing, '=');
    Bytes out(padded.size() / 4 * 3);
    const int got = EVP_DecodeBlock(
        out.data(), reinterpret_cast<const unsigned char*>(padded.data()),
        static_cast<int>(padded.size()));
    if (got < 0 || static_cast<std::size_t>(got) != out.size())
        return std::nullopt;
    out.resize(out.size() - missing);
    return out;
}

// Decodes a stored digest. `raw_size` is the digest length for unsalted
// schemes (0 for salted ones), used to recognise hex in a base64 scheme.
std::optional<Bytes> decode_secret(std::string_view secret, Encoding stored,
                                   Encoding default_encoding,
                                   std::size_t raw_size)
{
    switch (stored) {
    case Encoding::hex:
        return decode_hex(secret);
    case Encoding::base64:
        return decode_base64(secret);
    case Encoding::none:
        break;
    }
    if (default_encoding == Encoding::hex) {
        if (auto bytes = decode_hex(secret))
            return bytes;
        return decode_base64(secret);
    }
    if (raw_size != 0 && secret.size() == raw_size * 2) {
        if (auto bytes = decode_hex(secret))
            return bytes;
    }
    return decode_base64(secret);
}

// Digest of the concatenation of `parts`; nullopt only if OpenSSL fails.
std::optional<Bytes> digest(const EVP_MD* md,
                            std::initializer_list<std::string_view> parts)
{
    const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(
        EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1)
        return std::nullopt;
    for (const auto part : parts) {
        if (EVP_DigestUpdate(ctx.get(), part.data(), part.size()) != 1)
            return std::nullopt;
    }
    std::array<unsigned char, EVP_MAX_MD_SIZE> buffer{};
    unsigned int size = 0;
    if (EVP_DigestFinal_ex(ctx.get(), buffer.data(), &size) != 1)
        return std::nullopt;
    Bytes out(buffer.begin(), buffer.begin() + size);
    wipe(buffer);
    return out;
}

bool constant_time_equal(const unsigned char* a, const unsigned char* b,
                         std::size_t size)
{
    return CRYPTO_memcmp(a, b, size) == 0;
}

// Equal strings, without leaking where they first differ or how long the
// stored one is (plaintext_equal; pop3d compares unencoded plaintext
// secrets the same way without this library, crypto_module.hpp).
Verdict plaintext_verdict(std::string_view stored, std::string_view given)
{
    return plaintext_equal(stored, given) ? Verdict::match : Verdict::mismatch;
}

std::optional<std::string> decoded_plaintext(const SchemeName& scheme,
                                             const std::string& secret)
{
    if (!scheme.encoding)
        return std::nullopt;
    if (*scheme.encoding == Encoding::none)
        return secret;
    auto bytes = *scheme.encoding == Encoding::hex ? decode_hex(secret)
                                                   : decode_base64(secret);
    if (!bytes)
        return std::nullopt;
    std::string text(bytes->begin(), bytes->end());
    wipe(*bytes);
    return text;
}


// crypt(3) family: the stored hash is its own setting; hashing the password
// with it must reproduce it exactly.
Verdict verify_crypt(const std::string& hash, std::string_view password)
{
    if (password.find('\0') != std::string_view::npos)
        return Verdict::mismatch; // crypt cannot see past a NUL
    std::string phrase(password);
    auto data = std::make_unique<crypt_data>(); // zeroed, as crypt_rn wants
    const char* out =
        crypt_rn(phrase.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
    Verdict verdict = Verdict::unsupported;
    if (out != nullptr) {
        const std::string_view result(out);
        verdict = result.size() == hash.size() &&
                          constant_time_equal(
                              reinterpret_cast<const unsigned char*>(out),
                              reinterpret_cast<const unsigned char*>(
                                  hash.data()),
                              hash.size())
                      ? Verdict::match
                      : Verdict::mismatch;
    }
    OPENSSL_cleanse(data.get(), sizeof(crypt_data));
    wipe(phrase);
    return verdict;
}

// The encoded "$argon2id$v=19$m=...,t=...,p=...$salt$hash" string carries
// all parameters; libargon2 compares in constant time.
Verdict verify_argon2(const std::string& encoded, std::string_view password)
{
    argon2_type type;
    if (encoded.starts_with("$argon2id$"))
        type = Argon2_id;
    else if (encoded.starts_with("$argon2i$"))
        type = Argon2_i;
    else
        return Verdict::unsupported;
    const int rc =
        argon2_verify(encoded.c_str(), password.data(), password.size(), type);
    if (rc == ARGON2_OK)
        return Verdict::match;
    if (rc == ARGON2_VERIFY_MISMATCH)
        return Verdict::mismatch;
    return Verdict::unsupported;
}

struct DigestScheme {
    std::string_view name;
    const EVP_MD* (*md)();
    bool salted;
    Encoding default_encoding;
};

constexpr std::array k_digest_schemes{
    DigestScheme{"SHA", &EVP_sha1, false, Encoding::base64},
    DigestScheme{"SHA1", &EVP_sha1, false, Encoding::base64},
    DigestScheme{"SSHA", &EVP_sha1, true, Encoding::base64},
    DigestScheme{"SHA256", &EVP_sha256, false, Encoding::base64},
    DigestScheme{"SSHA256", &EVP_sha256, true, Encoding::base64},
    DigestScheme{"SHA512", &EVP_sha512, false, Encoding::base64},
    DigestScheme{"SSHA512", &EVP_sha512, true, Encoding::base64},
    DigestScheme{"PLAIN-MD5", &EVP_md5, false, Encoding::hex},
    DigestScheme{"LDAP-MD5", &EVP_md5, false, Encoding::base64},
    DigestScheme{"SMD5", &EVP_md5, true, Encoding::base64},
};

// Unsalted: stored = digest(password). Salted (Dovecot, RFC 2307 style):
// stored = digest(password + salt) + salt.
Verdict verify_digest(const DigestScheme& scheme, Encoding stored,
                      const std::string& secret, std::string_view password)
{
    const EVP_MD* md = scheme.md();
    const auto size = static_cast<std::size_t>(EVP_MD_get_size(md));
    const auto decoded = decode_secret(secret, stored, scheme.default_encoding,
                                       scheme.salted ? 0 : size);
    if (!decoded)
        return Verdict::unsupported;
    if (scheme.salted ? decoded->size() <= size : decoded->size() != size)
        return Verdict::unsupported;
    const std::string_view salt(
        reinterpret_cast<const char*>(decoded->data()) + size,
        decoded->size() - size);
    auto computed = digest(md, {password, salt});
    if (!computed || computed->size() != size)
        return Verdict::unsupported;
    const bool same =
        constant_time_equal(computed->data(), decoded->data(), size);
    wipe(*computed);
    return same ? Verdict::match : Verdict::mismatch;
}

std::string to_lower_hex(const Bytes& bytes)
{
    static constexpr char k_digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const unsigned char b : bytes) {
        out.push_back(k_digits[b >> 4]);
        out.push_back(k_digits[b & 0x0F]);
    }
    return out;
}

} // namespace


Verdict verify_password(const pop3::core::PasswdEntry& entry,
                        std::string_view password)
{
    // The core never asks with an empty password; refusing it here too keeps
    // "no mechanism accepts an empty password" true whatever the scheme.
    if (entry.secret.empty() || password.empty())
        return Verdict::mismatch;
    const auto scheme = split_scheme(entry.scheme);
    if (!scheme.encoding)
        return Verdict::unsupported;

    if (is_plaintext_scheme(scheme.base)) {
        auto stored = decoded_plaintext(scheme, entry.secret);
        if (!stored)
            return Verdict::unsupported;
        const auto verdict = plaintext_verdict(*stored, password);
        wipe(*stored);
        return verdict;
    }
    for (const auto& digest_scheme : k_digest_schemes) {
        if (digest_scheme.name == scheme.base)
            return verify_digest(digest_scheme, *scheme.encoding,
                                 entry.secret, password);
    }
    if (scheme.suffixed)
        return Verdict::unsupported; // crypt and Argon2 strings are encoded
    if (is_crypt_scheme(scheme.base))
        return verify_crypt(entry.secret, password);
    if (scheme.base == "ARGON2I" || scheme.base == "ARGON2ID")
        return verify_argon2(entry.secret, password);
    if (scheme.base == "SCRAM-SHA-1" || scheme.base == "SCRAM-SHA-256" ||
        scheme.base == "CRAM-MD5") {
        auto matches = scheme.base == "CRAM-MD5"
                           ? cram_password_matches(entry, password)
                           : scram_password_matches(entry, password);
        if (!matches)
            return Verdict::unsupported;
        return *matches ? Verdict::match : Verdict::mismatch;
    }
    return Verdict::unsupported;
}


std::optional<std::string>
plaintext_secret(const pop3::core::PasswdEntry& entry)
{
    const auto scheme = split_scheme(entry.scheme);
    if (!is_plaintext_scheme(scheme.base))
        return std::nullopt;
    return decoded_plaintext(scheme, entry.secret);
}

bool verify_apop(const pop3::core::PasswdEntry& entry, std::string_view banner,
                 std::string_view digest_hex)
{
    if (digest_hex.size() != 32)
        return false;
    auto secret = plaintext_secret(entry);
    if (!secret || secret->empty())
        return false;
    auto computed = digest(EVP_md5(), {banner, *secret});
    wipe(*secret);
    if (!computed)
        return false;
    std::string expected = to_lower_hex(*computed);
    wipe(*computed);
    std::string given(digest_hex);
    for (char& c : given) {
        if (c >= 'A' && c <= 'F')
            c = static_cast<char>(c - 'A' + 'a');
    }
    const bool same = constant_time_equal(
        reinterpret_cast<const unsigned char*>(expected.data()),
        reinterpret_cast<const unsigned char*>(given.data()), expected.size());
    wipe(expected);
    return same;
}

} // namespace pop3::shell
