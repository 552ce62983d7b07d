// SASL properties: base64 is a bijection onto canonical text, and every
// exchange answers any client bytes with a next step, never a crash.
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include "pop3/core/sasl.hpp"

using namespace pop3::core;

TEST_CASE("base64 laws", "[props]") {
    rc::prop("decode(encode(bytes)) == bytes", [] {
        auto bytes = *rc::gen::arbitrary<std::string>();
        auto text = base64_encode(bytes);
        RC_ASSERT(text.size() % 4 == 0u);
        RC_ASSERT(base64_decode(text) == std::optional<std::string>(bytes));
    });
    rc::prop("whatever decodes re-encodes to the same text (canonical only)", [] {
        auto text = *rc::gen::oneOf(
            rc::gen::arbitrary<std::string>(),
            rc::gen::container<std::string>(rc::gen::element(
                'A', 'Q', 'g', 'z', '0', '+', '/', '=')));
        if (auto bytes = base64_decode(text)) RC_ASSERT(base64_encode(*bytes) == text);
    });
}

TEST_CASE("SASL exchanges are total", "[props]") {
    rc::prop("any responses, in any mechanism, lead to a defined next step", [] {
        auto mech = *rc::gen::element(Mechanism::plain, Mechanism::login,
                                      Mechanism::cram_md5, Mechanism::scram_sha1,
                                      Mechanism::scram_sha256);
        auto initial = *rc::gen::maybe(rc::gen::arbitrary<std::string>());
        std::optional<std::string> first;
        if (initial) first = *initial;
        auto step = sasl_start(mech, first, "nonce");
        auto responses = *rc::gen::container<std::vector<std::string>>(
            rc::gen::oneOf(rc::gen::arbitrary<std::string>(),
                           rc::gen::element<std::string>("n,,n=u,r=abc", "c=biws,r=abcnonce,p=AAAA", "",
                                                         "user 0123456789abcdef0123456789abcdef")));
        for (const auto& r : responses) {
            if (std::holds_alternative<SaslFailure>(step.action) ||
                std::holds_alternative<SaslVerifyPassword>(step.action) ||
                std::holds_alternative<SaslVerifyCram>(step.action) ||
                std::holds_alternative<SaslSucceeded>(step.action))
                break; // the exchange has ended
            if (std::holds_alternative<SaslNeedScramCredentials>(step.action)) {
                step = sasl_credentials(step.state, {"u", "salt", 4096, "k", "k", true});
            } else if (std::holds_alternative<SaslVerifyScram>(step.action)) {
                step = sasl_verdict(step.state, *rc::gen::arbitrary<bool>(), "sig");
            } else {
                step = sasl_respond(step.state, r);
            }
            if (const auto* f = std::get_if<SaslFailure>(&step.action))
                RC_ASSERT(!f->reason.empty());
        }
    });
}
