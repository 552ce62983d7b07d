// Scheme names and plaintext comparison, with no hashing library (see
// password_scheme.hpp); scheme_known and estimated_cost of
// password_check.hpp live here for the same reason: pop3d calls them at
// start-up for every passwd-file.
#include "password_scheme.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

#include "password_check.hpp"

namespace pop3::shell {

SchemeName split_scheme(std::string_view scheme)
{
    const auto dot = scheme.rfind('.');
    if (dot == std::string_view::npos)
        return {scheme, SecretEncoding::none, false};
    const auto suffix = scheme.substr(dot + 1);
    std::optional<SecretEncoding> encoding;
    if (suffix == "HEX")
        encoding = SecretEncoding::hex;
    else if (suffix == "B64" || suffix == "BASE64")
        encoding = SecretEncoding::base64;
    return {scheme.substr(0, dot), encoding, true};
}

bool is_plaintext_scheme(std::string_view base)
{
    return base == "PLAIN" || base == "CLEAR" || base == "CLEARTEXT";
}

bool is_crypt_scheme(std::string_view base)
{
    return base == "CRYPT" || base == "DES-CRYPT" || base == "MD5" ||
           base == "MD5-CRYPT" || base == "SHA256-CRYPT" ||
           base == "SHA512-CRYPT" || base == "BLF-CRYPT";
}

bool is_digest_scheme(std::string_view base)
{
    // The names of password_check.cpp's k_digest_schemes table.
    constexpr std::array<std::string_view, 10> k_names{
        "SHA",     "SHA1",   "SSHA",      "SHA256",   "SSHA256",
        "SHA512",  "SSHA512", "PLAIN-MD5", "LDAP-MD5", "SMD5"};
    return std::find(k_names.begin(), k_names.end(), base) != k_names.end();
}

bool verifiable_without_crypto(std::string_view scheme)
{
    const auto name = split_scheme(scheme);
    return !name.suffixed && is_plaintext_scheme(name.base);
}

bool plaintext_equal(std::string_view stored, std::string_view given)
{
    // One pass over `given`, reading stored[i] while i is inside it and
    // stored[0] after (a mask, not a branch); a length difference is folded
    // in once.
    if (stored.empty())
        return false; // nothing to match, and no stored[0] to read
    const auto* s = reinterpret_cast<const unsigned char*>(stored.data());
    const auto* g = reinterpret_cast<const unsigned char*>(given.data());
    const std::size_t n = stored.size();
    unsigned diff = stored.size() == given.size() ? 0U : 1U;
    for (std::size_t i = 0; i < given.size(); ++i) {
        const std::size_t inside = std::size_t{0} - static_cast<std::size_t>(i < n);
        diff |= static_cast<unsigned>(s[i & inside] ^ g[i]);
    }
    return diff == 0;
}

bool scheme_known(std::string_view name)
{
    const auto scheme = split_scheme(name);
    if (!scheme.encoding)
        return false;
    if (is_plaintext_scheme(scheme.base) || is_digest_scheme(scheme.base))
        return true;
    if (scheme.suffixed)
        return false;
    return is_crypt_scheme(scheme.base) || scheme.base == "ARGON2I" ||
           scheme.base == "ARGON2ID" || scheme.base == "SCRAM-SHA-1" ||
           scheme.base == "SCRAM-SHA-256" || scheme.base == "CRAM-MD5";
}

namespace {

// The decimal number after `key` in `text` (e.g. "m=" in an Argon2
// string, "rounds=" in a SHA-crypt one), if any; capped, never overflows.
std::optional<std::uint64_t> number_after(std::string_view text,
                                          std::string_view key)
{
    const auto at = text.find(key);
    if (at == std::string_view::npos)
        return std::nullopt;
    std::uint64_t value = 0;
    std::size_t i = at + key.size();
    bool any = false;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
        value = std::min<std::uint64_t>(value * 10 + static_cast<unsigned>(text[i] - '0'),
                                        std::uint64_t{1} << 40);
        any = true;
    }
    if (!any)
        return std::nullopt;
    return value;
}

} // namespace

std::uint64_t estimated_cost(std::string_view scheme, std::string_view secret)
{
    const auto base = split_scheme(scheme).base;
    if (base == "ARGON2I" || base == "ARGON2ID") {
        const auto m = number_after(secret, "m=").value_or(65536);
        const auto t = number_after(secret, "t=").value_or(3);
        return m * t;
    }
    if (base == "SCRAM-SHA-1" || base == "SCRAM-SHA-256")
        return number_after(secret, "").value_or(4096); // "iterations,..."
    if (!is_crypt_scheme(base))
        return 1; // plaintext and digests: microseconds
    if (secret.starts_with("$2")) { // bcrypt: $2y$NN$
        const auto cost = number_after(secret.substr(secret.find('$', 1) + 1), "")
                              .value_or(10);
        return std::uint64_t{70} << std::min<std::uint64_t>(cost, 31);
    }
    if (secret.starts_with("$5$") || secret.starts_with("$6$"))
        return number_after(secret, "rounds=").value_or(5000);
    if (secret.starts_with("$y$") || secret.starts_with("$gy$") ||
        secret.starts_with("$7$"))
        return 30000; // yescrypt/scrypt at libxcrypt's defaults
    if (secret.starts_with("$1$"))
        return 300;
    return 10; // DES
}

} // namespace pop3::shell
