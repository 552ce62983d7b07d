// SASL decoders from arbitrary bytes: base64 (round trip and canonical form)
// and every mechanism's exchange fed the input as client responses. Laws:
// no crash, failures say why, and a verified identity is never empty.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "pop3/core/sasl.hpp"

using namespace pop3::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view raw(reinterpret_cast<const char*>(data), size);
    if (auto decoded = base64_decode(raw)) FUZZ_CHECK(base64_encode(*decoded) == raw);
    FUZZ_CHECK(base64_decode(base64_encode(raw)) == std::string(raw));
    if (raw.empty()) return 0;

    // First byte picks the mechanism and whether there is an initial
    // response; the rest, split at '\n', are the client's responses.
    static constexpr Mechanism k_mechs[] = {Mechanism::plain, Mechanism::login,
                                            Mechanism::cram_md5, Mechanism::scram_sha1,
                                            Mechanism::scram_sha256};
    auto mech = k_mechs[static_cast<unsigned char>(raw[0]) % 5];
    bool has_initial = (static_cast<unsigned char>(raw[0]) & 0x80) != 0;
    raw.remove_prefix(1);
    auto next_part = [&raw]() {
        auto eol = raw.find('\n');
        std::string part(raw.substr(0, eol));
        raw.remove_prefix(eol == std::string_view::npos ? raw.size() : eol + 1);
        return part;
    };
    std::optional<std::string> initial;
    if (has_initial) initial = next_part();
    auto step = sasl_start(mech, initial, "srvnonce");
    for (int round = 0; round < 16; ++round) {
        if (auto* f = std::get_if<SaslFailure>(&step.action)) {
            FUZZ_CHECK(!f->reason.empty());
            return 0;
        }
        if (auto* v = std::get_if<SaslVerifyPassword>(&step.action)) {
            FUZZ_CHECK(!v->user.empty() && !v->password.empty());
            return 0;
        }
        if (auto* v = std::get_if<SaslVerifyCram>(&step.action)) {
            FUZZ_CHECK(!v->user.empty() && v->digest_hex.size() == 32);
            return 0;
        }
        if (std::holds_alternative<SaslSucceeded>(step.action)) return 0;
        if (auto* n = std::get_if<SaslNeedScramCredentials>(&step.action)) {
            FUZZ_CHECK(!n->user.empty());
            step = sasl_credentials(step.state, {"u", "salt", 4096, "k", "k", true});
            continue;
        }
        if (auto* v = std::get_if<SaslVerifyScram>(&step.action)) {
            // The AuthMessage always starts with the client-first-bare.
            FUZZ_CHECK(v->auth_message.rfind(step.state.client_first_bare, 0) == 0);
            step = sasl_verdict(step.state, raw.size() % 2 == 0, "sig");
            continue;
        }
        step = sasl_respond(step.state, next_part());
    }
    return 0;
}
