// The messages between pop3d's processes: every message round-trips, and no
// mangled datagram is ever accepted as a different message.
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include "pop3/core/conduct.hpp"
#include "pop3/core/framing.hpp"
#include "pop3/core/ip_address.hpp"
#include "pop3/core/privsep_wire.hpp"

using namespace pop3::core;
using namespace pop3::core::privsep;

namespace {

rc::Gen<std::string> bytes() {
    // Arbitrary octets, NUL, ',' and ':' included: netstrings carry anything.
    return rc::gen::oneOf(rc::gen::arbitrary<std::string>(),
                          rc::gen::element<std::string>("", ",", ":", "0:,", "a\0b", "1:x,"));
}

// A conduct part as the login process sends it: none, or the encoding of
// a fold over a few lines (decode_request refuses anything else).
rc::Gen<std::string> conduct_part() {
    return rc::gen::oneOf(
        rc::gen::just(std::string()),
        rc::gen::map(rc::gen::container<std::vector<std::string>>(
                         rc::gen::element<std::string>("CAPA", "USER a", "RETR 0", "XTND", "")),
                     [](const std::vector<std::string>& lines) {
                         auto c = conduct::answered(conduct::start(), ok("<1.2@h> ready"));
                         for (const auto& text : lines) {
                             conduct::Line line;
                             line.text = text;
                             line.octets = text.size() + 2;
                             line.where.phase = conduct::Phase::authorization;
                             c = conduct::observe(std::move(c), line);
                             c = conduct::answered(std::move(c), err("no"));
                         }
                         return conduct::encode(c);
                     }));
}

rc::Gen<Mechanism> scram_mechanism() {
    return rc::gen::element(Mechanism::scram_sha1, Mechanism::scram_sha256);
}

rc::Gen<Request> request() {
    return rc::gen::oneOf(
        rc::gen::map(rc::gen::tuple(bytes(), bytes(), bytes(), rc::gen::arbitrary<bool>()),
                     [](auto t) -> Request {
                         return VerifyPassword{std::get<0>(t), std::get<1>(t), std::get<2>(t),
                                               std::get<3>(t)};
                     }),
        rc::gen::map(rc::gen::tuple(bytes(), bytes(), rc::gen::arbitrary<bool>()),
                     [](auto t) -> Request {
                         return VerifyApop{std::get<0>(t), std::get<1>(t), std::get<2>(t)};
                     }),
        rc::gen::map(rc::gen::tuple(bytes(), bytes(), bytes()),
                     [](auto t) -> Request {
                         return VerifyCram{std::get<0>(t), std::get<1>(t), std::get<2>(t)};
                     }),
        rc::gen::map(rc::gen::tuple(scram_mechanism(), bytes()),
                     [](auto t) -> Request {
                         return FetchScramCredentials{std::get<0>(t), std::get<1>(t)};
                     }),
        rc::gen::map(rc::gen::tuple(scram_mechanism(), bytes(), bytes()),
                     [](auto t) -> Request {
                         return ScramProof{std::get<0>(t), std::get<1>(t), std::get<2>(t)};
                     }),
        rc::gen::map(rc::gen::tuple(rc::gen::nonEmpty(bytes()), rc::gen::arbitrary<bool>(),
                                    bytes(), rc::gen::arbitrary<std::uint64_t>(),
                                    conduct_part()),
                     [](auto t) -> Request {
                         return Handoff{std::get<0>(t), std::get<1>(t), std::get<2>(t),
                                        std::get<3>(t), std::get<4>(t)};
                     }),
        rc::gen::map(rc::gen::tuple(rc::gen::element(Mechanism::plain, Mechanism::cram_md5,
                                                     Mechanism::scram_sha256),
                                    rc::gen::arbitrary<bool>(), bytes(), rc::gen::arbitrary<bool>(),
                                    rc::gen::arbitrary<bool>()),
                     [](auto t) -> Request {
                         std::optional<std::string> response;
                         if (std::get<1>(t)) response = std::get<2>(t);
                         return RelaySasl{std::get<0>(t), response, std::get<3>(t),
                                          std::get<4>(t)};
                     }),
        rc::gen::map(rc::gen::container<std::vector<std::uint8_t>>(16, rc::gen::arbitrary<std::uint8_t>()),
                     [](const std::vector<std::uint8_t>& b) -> Request {
                         // Either family, always in canonical text.
                         auto a = b[0] & 1 ? ipv6_from_bytes(b.data()) : ipv4_from_bytes(b.data());
                         return Origin{to_string(a)};
                     }));
}

rc::Gen<std::optional<std::uint32_t>> id() {
    return rc::gen::oneOf(rc::gen::just(std::optional<std::uint32_t>()),
                          rc::gen::map(rc::gen::arbitrary<std::uint32_t>(), [](std::uint32_t n) {
                              return std::optional<std::uint32_t>(n);
                          }));
}

rc::Gen<Answer> answer() {
    return rc::gen::oneOf(
        rc::gen::just(Answer{HandoffAccepted{}}),
        rc::gen::map(rc::gen::arbitrary<std::uint32_t>(),
                     [](std::uint32_t level) -> Answer { return Access{level}; }),
        rc::gen::map(rc::gen::tuple(bytes(), rc::gen::container<std::vector<Mechanism>>(
                                                 rc::gen::element(Mechanism::plain, Mechanism::login,
                                                                  Mechanism::cram_md5,
                                                                  Mechanism::scram_sha1,
                                                                  Mechanism::scram_sha256))),
                     [](auto t) -> Answer { return Offer{std::get<0>(t), std::get<1>(t)}; }),
        rc::gen::map(rc::gen::tuple(bytes(), rc::gen::arbitrary<bool>()),
                     [](auto t) -> Answer {
                         return Offer{std::get<0>(t), {Mechanism::cram_md5}, std::get<1>(t)};
                     }),
        rc::gen::map(bytes(), [](std::string raw) -> Answer { return SaslRelayChallenge{raw}; }),
        rc::gen::map(rc::gen::tuple(rc::gen::element(AuthResult::Outcome::rejected,
                                                     AuthResult::Outcome::unavailable),
                                    bytes(), id(), id()),
                     [](auto t) -> Answer {
                         return Verdict{{std::get<0>(t), std::get<1>(t)}, std::get<2>(t),
                                        std::get<3>(t)};
                     }),
        rc::gen::map(rc::gen::tuple(rc::gen::nonEmpty(bytes()), id(), id()),
                     [](auto t) -> Answer {
                         return Verdict{{AuthResult::Outcome::accepted, std::get<0>(t)},
                                        std::get<1>(t), std::get<2>(t)};
                     }),
        rc::gen::map(rc::gen::tuple(bytes(), bytes(), rc::gen::arbitrary<std::uint32_t>(),
                                    bytes(), bytes(), rc::gen::arbitrary<bool>()),
                     [](auto t) -> Answer {
                         return ScramCredentials{std::get<0>(t), std::get<1>(t), std::get<2>(t),
                                                 std::get<3>(t), std::get<4>(t), std::get<5>(t)};
                     }),
        rc::gen::map(rc::gen::tuple(bytes(), bytes(), id(), id()), [](auto t) -> Answer {
            return ScramOutcome{{false, std::get<0>(t)},
                                {{AuthResult::Outcome::rejected, std::get<1>(t)}, {}, {}}};
        }),
        rc::gen::map(rc::gen::tuple(bytes(), rc::gen::nonEmpty(bytes()), id(), id()),
                     [](auto t) -> Answer {
                         return ScramOutcome{{true, std::get<0>(t)},
                                             {{AuthResult::Outcome::accepted, std::get<1>(t)},
                                              std::get<2>(t), std::get<3>(t)}};
                     }));
}

} // namespace

TEST_CASE("privsep messages round-trip", "[props]") {
    rc::prop("every request decodes to itself", [] {
        auto r = *request();
        auto back = decode_request(encode(r));
        RC_ASSERT(back.has_value());
        RC_ASSERT(*back == r);
    });
    rc::prop("every answer decodes to itself", [] {
        auto a = *answer();
        auto back = decode_answer(encode(a));
        RC_ASSERT(back.has_value());
        RC_ASSERT(*back == a);
    });
}

TEST_CASE("privsep parsing is strict", "[props]") {
    rc::prop("a request cut short or extended is refused", [] {
        auto wire = encode(*request());
        auto cut = *rc::gen::inRange<std::size_t>(0, wire.size());
        RC_ASSERT(!decode_request(wire.substr(0, cut)).has_value());
        auto extra = *rc::gen::nonEmpty(rc::gen::arbitrary<std::string>());
        // Extra bytes are either not a netstring or one field too many.
        RC_ASSERT(!decode_request(wire + extra).has_value());
    });
    rc::prop("an answer is never read as a request, nor a request as an answer", [] {
        RC_ASSERT(!decode_request(encode(*answer())).has_value());
        RC_ASSERT(!decode_answer(encode(*request())).has_value());
    });
    rc::prop("arbitrary bytes decode to a message that encodes back to them, or to an error",
             [] {
                 auto wire = *rc::gen::arbitrary<std::string>();
                 if (auto r = decode_request(wire)) RC_ASSERT(encode(*r) == wire);
                 if (auto a = decode_answer(wire)) RC_ASSERT(encode(*a) == wire);
             });
}

TEST_CASE("privsep parsing refuses non-canonical numbers and lengths", "[privsep]") {
    CHECK(!decode_request("04:PASS,1:a,1:b,1:c,").has_value());
    CHECK(!decode_request("4:PASS,1:a,1:b,").has_value());
    CHECK(!decode_request("7:HANDOFF,1:a,1:1,0:,2:01,0:,").has_value());
    CHECK(!decode_request("7:HANDOFF,0:,1:1,0:,1:0,0:,").has_value());
    CHECK(!decode_request("7:HANDOFF,1:a,1:2,0:,1:0,0:,").has_value());
    CHECK(decode_request("7:HANDOFF,1:a,1:1,0:,1:0,0:,").has_value());
    CHECK(!decode_request("7:HANDOFF,1:a,1:1,0:,1:0,").has_value()); // no conduct field
    // The conduct part comes from the unprivileged login process: decoded
    // strictly here, before the monitor or the mail process uses it.
    const std::string part = conduct::encode(conduct::start());
    CHECK(decode_request("7:HANDOFF,1:a,1:1,0:,1:0," + std::to_string(part.size()) + ":" +
                         part + ",")
              .has_value());
    auto junk = decode_request("7:HANDOFF,1:a,1:1,0:,1:0,3:2 x,");
    REQUIRE(!junk.has_value());
    CHECK(junk.error().find("HANDOFF: conduct:") == 0);
    CHECK(!decode_answer("7:VERDICT,8:accepted,0:,0:,0:,").has_value());
    CHECK(!decode_answer("7:VERDICT,8:rejected,0:,10:4294967296,0:,").has_value());
    CHECK(!decode_request(std::string(k_max_privsep_message + 1, 'x')).has_value());
    CHECK(!decode_request("12:SCRAM-LOOKUP,5:PLAIN,1:a,").has_value());
    CHECK(decode_request("6:ORIGIN,9:127.0.0.5,").has_value());
    CHECK(!decode_request("6:ORIGIN,9:127.0.0.x,").has_value());
    CHECK(!decode_request("6:ORIGIN,7:0::0:01,").has_value()); // not canonical
    // A proof that failed cannot carry an accepted login, nor the reverse.
    CHECK(!decode_answer("13:SCRAM-VERDICT,1:0,0:,8:accepted,1:a,0:,0:,").has_value());
    CHECK(!decode_answer("13:SCRAM-VERDICT,1:1,0:,8:rejected,1:a,0:,0:,").has_value());
    CHECK(decode_answer("13:SCRAM-VERDICT,1:1,0:,8:accepted,1:a,0:,0:,").has_value());
}

TEST_CASE("the line framer resumes where another stopped", "[props]") {
    rc::prop("framing a stream in two framers split at any point gives the same frames", [] {
        auto chunks = *rc::gen::container<std::vector<std::string>>(
            rc::gen::oneOf(rc::gen::arbitrary<std::string>(),
                           rc::gen::element<std::string>("\n", "\r\n", "CAPA\r\n",
                                                         std::string(300, 'x'))));
        auto split_at = *rc::gen::inRange<std::size_t>(0, chunks.size() + 1);
        auto drain = [](LineFramer& f, std::vector<Frame>& out) {
            while (auto frame = f.next()) out.push_back(*frame);
        };
        LineFramer one;
        std::vector<Frame> expected;
        for (const auto& c : chunks) {
            one.feed(c);
            drain(one, expected);
        }
        LineFramer first, second;
        std::vector<Frame> got;
        for (std::size_t i = 0; i < chunks.size(); ++i) {
            if (i == split_at) second.resume(first.held());
            LineFramer& f = i < split_at ? first : second;
            f.feed(chunks[i]);
            drain(f, got);
        }
        if (split_at == chunks.size()) second.resume(first.held());
        RC_ASSERT(got == expected);
        RC_ASSERT(second.pending() == one.pending());
    });
}
