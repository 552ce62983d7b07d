// The cryptography behind SASL (RFC 2195 CRAM-MD5, RFC 5802 SCRAM) through
// OpenSSL: HMACs, PBKDF2, and Dovecot's stored SCRAM keys.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "pop3/core/passwd_line.hpp"
#include "pop3/core/sasl.hpp"

namespace pop3::shell {

// SCRAM keys for this entry and mechanism: from a Dovecot {SCRAM-SHA-1} or
// {SCRAM-SHA-256} secret ("iter,salt,StoredKey,ServerKey" in base64), or
// derived from a PLAIN/CLEAR secret. nullopt when the entry has neither.
[[nodiscard]] std::optional<pop3::core::ScramCredentials>
scram_credentials(pop3::core::Mechanism mechanism,
                  const pop3::core::PasswdEntry& entry);

// Plausible decoy keys for a user who does not exist or cannot use SCRAM,
// stable per name, so the exchange looks the same as for a real user.
[[nodiscard]] pop3::core::ScramCredentials
scram_decoy(pop3::core::Mechanism mechanism, std::string_view user);

struct ScramCheck {
    bool proof_ok;
    std::string server_signature; // raw bytes
};
// RFC 5802 section 3: ClientKey = proof XOR HMAC(StoredKey, AuthMessage);
// valid when H(ClientKey) == StoredKey. Constant-time.
[[nodiscard]] ScramCheck verify_scram(pop3::core::Mechanism mechanism,
                                      const pop3::core::ScramCredentials& keys,
                                      std::string_view auth_message,
                                      std::string_view proof);

// RFC 2195: digest == hex(HMAC-MD5(secret, challenge)); needs a PLAIN/CLEAR
// secret. Constant-time.
[[nodiscard]] bool verify_cram_md5(const pop3::core::PasswdEntry& entry,
                                   std::string_view challenge,
                                   std::string_view digest_hex);

} // namespace pop3::shell
