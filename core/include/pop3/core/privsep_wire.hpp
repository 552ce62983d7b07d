// The messages between pop3d's three processes (docs/design.md,
// "Processes"): what the unprivileged login process may ask, what the auth
// process answers, and the hand-over after a login. Each message is one
// datagram of netstrings ("4:PASS,5:alice,..."), parsed strictly: a known
// verb, exactly its fields, canonical numbers, nothing left over.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <tl/expected.hpp>

#include "pop3/core/effect.hpp"
#include "pop3/core/sasl.hpp"

namespace pop3::core::privsep {

// Sent by the auth process once it has read the passwd-file: what the
// greeting and CAPA may offer.
struct Offer {
    std::string apop_banner; // empty: no APOP timestamp in the greeting
    std::vector<Mechanism> sasl;
    bool sasl_relay = false; // CRAM-MD5 and SCRAM are relayed (Config::sasl_relay)
    bool operator==(const Offer&) const = default;
};

// SCRAM's last step. The login process never holds StoredKey or ServerKey:
// the auth process kept them from the lookup and checks the proof itself.
struct ScramProof {
    Mechanism mechanism;
    std::string auth_message;
    std::string proof;
    bool operator==(const ScramProof&) const = default;
};

// The login process's last message: the verified user's session moves to
// the mail process, with the client input that was read but not yet framed
// (pipelined commands), how much of an overlong line is being skipped, and
// the client's conduct so far.
struct Handoff {
    std::string user;
    bool tls = false;
    std::string pending_input;
    std::uint64_t discarding = 0;
    std::string conduct; // conduct::encode() with --conduct-report, else empty
    bool operator==(const Handoff&) const = default;
};

// The auth process's verdict. uid and gid (from the passwd-file) go to the
// monitor only: it strips them before answering the login process.
struct Verdict {
    AuthResult result;
    std::optional<std::uint32_t> uid;
    std::optional<std::uint32_t> gid;
    bool operator==(const Verdict&) const = default;
};

// The answer to a ScramProof: the core's verdict, and, for the monitor
// only (stripped like a Verdict's ids), who was accepted.
struct ScramOutcome {
    ScramVerdict verdict;
    Verdict login;
    bool operator==(const ScramOutcome&) const = default;
};

// The monitor's answer to a Handoff it took over (with the connection, for
// a plain one); anything else leaves the client to the login process.
struct HandoffAccepted {
    bool operator==(const HandoffAccepted&) const = default;
};

// Behind a balancer: who the client really is, from the PROXY header the
// login process read (the monitor decides access, the auth process names
// it in failed-login lines).
struct Origin {
    std::string address;
    bool operator==(const Origin&) const = default;
};
// The monitor's answer to an Origin: the client's access level (0: close).
struct Access {
    std::uint32_t level = 1;
    bool operator==(const Access&) const = default;
};

// A relayed SASL exchange's steps are RelaySasl requests; each is answered
// with the backend's next challenge (SaslRelayChallenge) or a Verdict.
using Request = std::variant<VerifyPassword, VerifyApop, VerifyCram,
                             FetchScramCredentials, ScramProof, Handoff, Origin, RelaySasl>;
using Answer = std::variant<Offer, Verdict, ScramCredentials, ScramOutcome, HandoffAccepted,
                            Access, SaslRelayChallenge>;

[[nodiscard]] std::string encode(const Request& request);
[[nodiscard]] std::string encode(const Answer& answer);

// Strict parsers: anything but a well-formed message of a known verb with
// exactly its fields, longer than k_max_privsep_message included, is an
// error whose text says what was wrong (for the log).
[[nodiscard]] tl::expected<Request, std::string> decode_request(std::string_view wire);
[[nodiscard]] tl::expected<Answer, std::string> decode_answer(std::string_view wire);

} // namespace pop3::core::privsep
