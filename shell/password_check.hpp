// Verifying a login password against a passwd-file secret in any of the
// Dovecot password schemes pop3d supports, plus RFC 1939 APOP digests.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pop3/core/passwd_line.hpp"

namespace pop3::shell {

// `unsupported`: the scheme is unknown to pop3d, or the secret cannot be
// decoded for its scheme (a configuration error worth logging, not a wrong
// password).
enum class Verdict { match, mismatch, unsupported };

// Checks `password` against the entry's {SCHEME}secret. Schemes: PLAIN, CLEAR,
// CLEARTEXT (optionally .B64/.HEX encoded); CRYPT, DES-CRYPT, MD5 (= MD5-CRYPT),
// MD5-CRYPT, SHA256-CRYPT, SHA512-CRYPT, BLF-CRYPT and yescrypt via libxcrypt;
// SHA, SHA1, SSHA, SHA256, SSHA256, SHA512, SSHA512, PLAIN-MD5, LDAP-MD5, SMD5
// (base64 or hex, ".HEX"/".B64" suffixes honoured); ARGON2I, ARGON2ID via
// libargon2. All comparisons are constant-time. An empty secret or an empty
// password never matches.
[[nodiscard]] Verdict verify_password(const pop3::core::PasswdEntry& entry,
                                      std::string_view password);

// True when pop3d can verify secrets of `scheme` (as in PasswdEntry:
// upper-case, with any encoding suffix), judged by the name alone; a secret
// of a known scheme can still be malformed.
[[nodiscard]] bool scheme_known(std::string_view scheme);

// A rough cost of verifying a password against {scheme}secret, in about
// microseconds of one core: Argon2 by m (KiB) x t, bcrypt by 2^cost,
// SHA-crypt by rounds, stored SCRAM by iterations; other schemes by a
// constant per family. Only the order matters: it picks the most expensive
// secret in the passwd-file for the dummy verification of unknown users.
[[nodiscard]] std::uint64_t estimated_cost(std::string_view scheme,
                                           std::string_view secret);

// The plaintext password for PLAIN/CLEAR/CLEARTEXT entries, else nullopt.
[[nodiscard]] std::optional<std::string>
plaintext_secret(const pop3::core::PasswdEntry& entry);

// RFC 1939 section 7 APOP: true when `digest_hex` (32 hex digits, either
// case) is MD5(banner + secret), where banner is the timestamp from the
// greeting including its angle brackets. Always false when the entry has no
// plaintext secret or an empty one.
[[nodiscard]] bool verify_apop(const pop3::core::PasswdEntry& entry,
                               std::string_view banner,
                               std::string_view digest_hex);

} // namespace pop3::shell
