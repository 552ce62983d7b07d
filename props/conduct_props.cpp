// The conduct report over random sessions: it blames only what happened
// (each count checked against the generated lines), tells a reaction for
// every refusal, never shows a secret, and survives the hand-over form.
#include <algorithm>

#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include "pop3/core/ascii.hpp"
#include "pop3/core/conduct.hpp"

using namespace pop3::core;
using namespace pop3::core::conduct;

namespace {

constexpr std::uint64_t k_messages = 5;

struct Op {
    std::string text;
    bool overlong = false;
    bool bare_lf = false;
    bool pipelined = false;
    Phase phase = Phase::authorization;
    bool tls = false;
    bool ok = true;
    bool capa_pipelining = false;
    bool capa_stls = false;
};

// Secrets never appear in a report: "qx" and eight letters, no English word.
rc::Gen<std::string> secret() {
    return rc::gen::map(rc::gen::container<std::string>(8, rc::gen::inRange('a', 'z')),
                        [](std::string s) { return "qx" + s; });
}

rc::Gen<std::string> command_text() {
    auto n = rc::gen::map(rc::gen::inRange<int>(0, 9), [](int i) { return std::to_string(i); });
    return rc::gen::oneOf(
        rc::gen::element<std::string>("STAT", "LIST", "NOOP", "RSET", "QUIT", "CAPA", "UIDL",
                                      "STLS", "AUTH", "XTND", "", "LAST", "retr x",
                                      "TOP 1 +5", "AUTH CRAM-MD5"),
        rc::gen::map(rc::gen::tuple(rc::gen::element<std::string>("LIST", "RETR", "DELE",
                                                                  "UIDL", "TOP", "retr"),
                                    n, n),
                     [](auto t) {
                         auto [verb, a, b] = t;
                         return verb + " " + a + (verb == "TOP" ? " " + b : "");
                     }),
        rc::gen::map(secret(), [](std::string s) { return "USER " + s; }),
        rc::gen::map(secret(), [](std::string s) { return "PASS " + s; }),
        rc::gen::map(secret(), [](std::string s) { return "AUTH PLAIN " + s; }),
        rc::gen::map(secret(), [](std::string s) { return "APOP " + s + " " + s + s; }),
        secret()); // a password typed as a command
}

rc::Gen<Op> op() {
    return rc::gen::map(
        rc::gen::tuple(command_text(), rc::gen::inRange(0, 20), rc::gen::arbitrary<bool>(),
                       rc::gen::inRange(0, 4), rc::gen::element(Phase::authorization,
                                                                Phase::transaction,
                                                                Phase::sasl_response),
                       rc::gen::arbitrary<bool>(), rc::gen::inRange(0, 3),
                       rc::gen::inRange(0, 4)),
        [](auto t) {
            Op o;
            o.text = std::get<0>(t);
            o.overlong = std::get<1>(t) == 0;
            o.bare_lf = std::get<2>(t);
            o.pipelined = std::get<3>(t) == 0;
            o.phase = std::get<4>(t);
            if (o.phase == Phase::sasl_response && std::get<1>(t) % 2 == 0) o.text = "qxsasldata";
            o.tls = std::get<5>(t) && std::get<1>(t) % 3 == 0; // TLS in a third
            o.ok = std::get<6>(t) != 0;
            o.capa_pipelining = (std::get<7>(t) & 1) != 0;
            o.capa_stls = (std::get<7>(t) & 2) != 0;
            return o;
        });
}

bool numbered(const Op& o) {
    static const std::string verbs[] = {"LIST ", "RETR ", "DELE ", "UIDL ", "TOP "};
    if (o.overlong || o.phase != Phase::transaction) return false;
    const std::string text = ascii_upper(o.text);
    return std::any_of(std::begin(verbs), std::end(verbs), [&](const std::string& v) {
        return text.size() > v.size() && text.compare(0, v.size(), v) == 0 &&
               text[v.size()] >= '0' && text[v.size()] <= '9';
    });
}
std::uint64_t first_number(const Op& o) {
    return std::stoull(o.text.substr(o.text.find(' ') + 1));
}

// A CAPA the fold reads: a whole command line, answered +OK.
bool capa_answer(const Op& o) {
    return o.ok && !o.overlong && o.phase != Phase::sasl_response && o.text == "CAPA";
}
bool sends_plaintext(const Op& o) {
    const std::string text = ascii_upper(o.text);
    return text.rfind("USER ", 0) == 0 || text.rfind("PASS ", 0) == 0 ||
           text.rfind("AUTH PLAIN ", 0) == 0;
}

// The expected counts of the rules that depend on what CAPA listed, from
// an independent walk over the ops: CAPA before TLS stops counting once
// TLS is active, and an answer justifies only the lines sent after it.
struct Expected {
    std::uint64_t pipelining_unadvertised = 0;
    std::uint64_t plaintext_before_stls = 0;
};
Expected expected(const std::vector<Op>& ops) {
    Expected e;
    bool tls = false, pipelining = false, stls = false, known = false;
    for (const auto& o : ops) {
        if (o.tls && !tls) {
            tls = true;
            pipelining = stls = known = false;
        }
        if (o.pipelined && !known) ++e.pipelining_unadvertised;
        if (stls && !o.tls && !o.overlong && o.phase == Phase::authorization &&
            sends_plaintext(o))
            ++e.plaintext_before_stls;
        known = pipelining; // what was listed before this line's answer
        if (capa_answer(o)) {
            pipelining = pipelining || o.capa_pipelining;
            stls = stls || o.capa_stls;
        }
    }
    return e;
}

std::uint64_t count(const Conduct& c, Kind k) {
    return c.findings[static_cast<std::size_t>(k)].count;
}

} // namespace

TEST_CASE("the conduct report", "[props]") {
    rc::prop("a report blames only what happened, answers every refusal and shows no secret",
             [] {
                 const auto ops = *rc::gen::container<std::vector<Op>>(
                     *rc::gen::inRange<std::size_t>(0, 40), op());
                 const End end = *rc::gen::element(End::closed_by_server,
                                                   End::client_disconnected, End::timeout,
                                                   End::terminated, End::time_limit,
                                                   End::stopped_reading);
                 Conduct c = start();
                 c = answered(std::move(c), ok("<1.2@h>"));
                 std::uint64_t refused = 0;
                 for (const auto& o : ops) {
                     Line line;
                     line.overlong = o.overlong;
                     if (!o.overlong) line.text = o.text;
                     line.octets = o.overlong ? 300 : o.text.size() + 2;
                     line.bare_lf = o.bare_lf;
                     line.pipelined = o.pipelined;
                     line.where = {o.phase, o.tls, k_messages};
                     c = observe(std::move(c), line);
                     Response r = o.ok ? ok("fine") : err("no");
                     if (o.ok && o.text == "CAPA" && !o.overlong) {
                         r.multiline = true;
                         r.body = {"TOP", "USER"};
                         if (o.capa_pipelining) r.body.push_back("PIPELINING");
                         if (o.capa_stls) r.body.push_back("STLS");
                     }
                     if (!o.ok) ++refused;
                     c = answered(std::move(c), r);
                     auto back = decode(encode(c));
                     RC_ASSERT(back.has_value());
                     RC_ASSERT(*back == c);
                 }
                 c = ended(std::move(c), end);

                 auto n = [&](auto pred) {
                     return static_cast<std::uint64_t>(std::count_if(ops.begin(), ops.end(), pred));
                 };
                 RC_ASSERT(c.lines == ops.size());
                 RC_ASSERT(count(c, Kind::bare_lf) == n([](const Op& o) { return o.bare_lf; }));
                 RC_ASSERT(count(c, Kind::overlong_line) ==
                           n([](const Op& o) {
                               return o.overlong && o.phase != Phase::sasl_response;
                           }));
                 RC_ASSERT(count(c, Kind::overlong_sasl_response) ==
                           n([](const Op& o) {
                               return o.overlong && o.phase == Phase::sasl_response;
                           }));
                 RC_ASSERT(count(c, Kind::message_zero) ==
                           n([](const Op& o) { return numbered(o) && first_number(o) == 0; }));
                 RC_ASSERT(count(c, Kind::message_out_of_range) ==
                           n([](const Op& o) {
                               return numbered(o) && first_number(o) > k_messages;
                           }));
                 const Expected e = expected(ops);
                 RC_ASSERT(count(c, Kind::pipelining_unadvertised) ==
                           e.pipelining_unadvertised);
                 RC_ASSERT(count(c, Kind::plaintext_before_stls) == e.plaintext_before_stls);
                 const bool quit_last = !ops.empty() && !ops.back().overlong &&
                                        ops.back().phase != Phase::sasl_response &&
                                        ops.back().text == "QUIT";
                 const bool blames_no_quit =
                     !quit_last && (end == End::client_disconnected || end == End::timeout ||
                                    end == End::stopped_reading);
                 RC_ASSERT(count(c, Kind::no_quit) == (blames_no_quit ? 1u : 0u));
                 std::uint64_t reactions = 0;
                 for (auto r : c.reactions) reactions += r;
                 RC_ASSERT(reactions == refused);
                 RC_ASSERT(c.refusals.size() == std::min<std::uint64_t>(refused, k_listed_refusals));
                 RC_ASSERT(!c.pending.has_value());
                 bool any = false;
                 for (const auto& f : c.findings) {
                     any = any || f.count > 0;
                     if (f.count > 0) RC_ASSERT(f.first_line <= c.lines);
                 }
                 const auto lines = report(c);
                 RC_ASSERT(!lines.empty());
                 RC_ASSERT((lines.back() == "conduct: summary: clean") == !any);
                 for (const auto& l : lines) {
                     RC_ASSERT(l.rfind("conduct: ", 0) == 0u);
                     RC_ASSERT(l.find("qx") == std::string::npos);
                     RC_ASSERT(l.find('\n') == std::string::npos);
                 }
             });
}
