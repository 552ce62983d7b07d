// SASL for POP3 (RFC 5034): mechanism names, base64, and the pure exchange
// state machines of PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195) and
// SCRAM-SHA-1/-256 (RFC 5802, RFC 7677). Digests are the shell's job: the
// machines ask for them through effects and get the answers as events.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace pop3::core {

enum class Mechanism { plain, login, cram_md5, scram_sha1, scram_sha256 };

[[nodiscard]] std::optional<Mechanism> mechanism_from_name(std::string_view name);
[[nodiscard]] std::string_view mechanism_name(Mechanism m);
// PLAIN and LOGIN send the password itself (RFC 2595 section 6 policy).
[[nodiscard]] bool sends_password(Mechanism m);

// RFC 4648 base64 with padding; decode is strict (no whitespace, no junk).
[[nodiscard]] std::string base64_encode(std::string_view bytes);
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view text);

// SCRAM credentials for one user, from the shell (RFC 5802 section 3).
struct ScramCredentials {
    std::string user;        // canonical login name when known
    std::string salt;        // raw bytes
    std::uint32_t iterations = 0;
    std::string stored_key;  // raw bytes
    std::string server_key;  // raw bytes
    bool known = false;      // false: decoy values for an unknown user
    bool operator==(const ScramCredentials&) const = default;
};

// Where an exchange stands between two client responses.
struct SaslState {
    enum class Stage {
        plain,               // waiting for PLAIN credentials
        login_user,          // LOGIN: waiting for the user name
        login_password,      // LOGIN: waiting for the password
        cram_response,       // CRAM-MD5: waiting for "user digest"
        scram_client_first,  // SCRAM: waiting for client-first-message
        scram_credentials,   // SCRAM: waiting for the shell's credentials
        scram_client_final,  // SCRAM: waiting for client-final-message
        scram_verdict,       // SCRAM: waiting for the shell's verdict
        scram_done,          // SCRAM: server-final sent, waiting for ""
        relayed,             // run by the credential backend (Dovecot): every
                             // client response goes to it as it is
    };
    Mechanism mechanism;
    Stage stage;
    std::string user;
    std::string challenge;          // CRAM-MD5 challenge (raw)
    std::string server_nonce;       // from the session's seed
    std::string gs2_header;         // SCRAM: "n,," etc., echoed in c=
    std::string client_first_bare;  // SCRAM
    std::string server_first;       // SCRAM
    std::string nonce;              // SCRAM: client nonce + server nonce
    ScramCredentials credentials;   // SCRAM
    bool operator==(const SaslState&) const = default;
};

// What the exchange wants next.
struct SaslChallenge { std::string raw; };  // send "+ base64(raw)"
struct SaslFailure {                        // -ERR, back to AUTHORIZATION
    std::string reason;
    bool credentials = false; // wrong name or password: "[AUTH]"
};
struct SaslVerifyPassword { std::string user, password; };
struct SaslVerifyCram { std::string user, challenge, digest_hex; };
struct SaslNeedScramCredentials { std::string user; };
struct SaslVerifyScram { std::string auth_message, proof; };
struct SaslSucceeded {};                    // SCRAM finished: log in
// A relayed exchange: hand the client's response (none: AUTH without an
// initial response) to the backend; `first` starts the exchange there.
struct SaslRelay {
    std::optional<std::string> response;
    bool first = false;
};
using SaslAction = std::variant<SaslChallenge, SaslFailure, SaslVerifyPassword,
                                SaslVerifyCram, SaslNeedScramCredentials,
                                SaslVerifyScram, SaslSucceeded, SaslRelay>;

struct SaslStep {
    SaslState state;
    SaslAction action;
};

// AUTH mechanism [initial-response] (RFC 5034 section 4). `initial` is the
// decoded initial response, if the client sent one ("=" is the empty one).
// `server_nonce` must be fresh and unpredictable for this attempt.
[[nodiscard]] SaslStep sasl_start(Mechanism m,
                                  const std::optional<std::string>& initial,
                                  std::string server_nonce);
// The same exchange run by the credential backend (Dovecot's auth
// service issues the challenges and checks the answers): the core only
// relays, and the backend's challenges come back as SaslRelayChallenge.
[[nodiscard]] SaslStep sasl_start_relayed(Mechanism m, const std::optional<std::string>& initial);
// A decoded client response to the last challenge.
[[nodiscard]] SaslStep sasl_respond(SaslState state, std::string_view response);
// The shell's SCRAM credentials for state.user.
[[nodiscard]] SaslStep sasl_credentials(SaslState state, ScramCredentials c);
// The shell's SCRAM verdict; `server_signature` is raw bytes.
[[nodiscard]] SaslStep sasl_verdict(SaslState state, bool proof_ok,
                                    const std::string& server_signature);

} // namespace pop3::core
