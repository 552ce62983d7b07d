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
// derived from a PLAIN/CLEAR secret with salt_for(salt_key, mechanism,
// entry.user).
// nullopt when the entry has neither, when the stored secret is malformed
// (an empty salt included) or the empty password's, and when the plaintext
// secret is empty: no mechanism may accept an empty password.
[[nodiscard]] std::optional<pop3::core::ScramCredentials>
scram_credentials(pop3::core::Mechanism mechanism,
                  const pop3::core::PasswdEntry& entry, std::string_view salt_key);

// The salt for a user without a stored one: HMAC-SHA-256(salt_key,
// mechanism name + ":" + login), 16 octets. `salt_key` is the server secret
// (see Authenticator), so salts are stable per login but cannot be computed
// from outside; the mechanism is in it because a stored secret's salts
// differ per mechanism too (doveadm draws each at random), and equal salts
// would mark a user as one without stored secrets.
[[nodiscard]] std::string salt_for(std::string_view salt_key,
                                   pop3::core::Mechanism mechanism,
                                   std::string_view login);

// Decoy keys for a login that does not exist or cannot use SCRAM: same salt
// rule and the same PBKDF2 work as a real user, so neither the exchange nor
// its timing tells them apart; the proof then fails like a bad password.
[[nodiscard]] pop3::core::ScramCredentials
scram_decoy(pop3::core::Mechanism mechanism, std::string_view login,
            std::string_view salt_key);

// USER/PASS or AUTH PLAIN for a user whose secret is a stored SCRAM key:
// derive StoredKey from the password with the stored salt and compare.
// nullopt when the stored secret is malformed.
[[nodiscard]] std::optional<bool> scram_password_matches(const pop3::core::PasswdEntry& entry,
                                          std::string_view password);

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

// RFC 2195: digest == hex(HMAC-MD5(secret, challenge)), with a PLAIN/CLEAR
// secret or Dovecot's {CRAM-MD5} stored HMAC-MD5 context. Constant-time.
// Always false for an empty plaintext secret and for a stored context that
// is malformed or the empty password's.
[[nodiscard]] bool verify_cram_md5(const pop3::core::PasswdEntry& entry,
                                   std::string_view challenge,
                                   std::string_view digest_hex);
// USER/PASS for a user whose secret is Dovecot's {CRAM-MD5} context: rebuild
// the context from the password and compare. nullopt when malformed.
[[nodiscard]] std::optional<bool> cram_password_matches(const pop3::core::PasswdEntry& entry,
                                                        std::string_view password);
// Whether verify_cram_md5 can work with this entry's secret (see there).
[[nodiscard]] bool cram_md5_usable(const pop3::core::PasswdEntry& entry);

} // namespace pop3::shell
