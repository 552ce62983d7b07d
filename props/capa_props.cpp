// CAPA as a function of the site's configuration and the session's state
// (RFC 2449 section 5, RFC 2595 section 4, RFC 5034 section 3), against a
// model written from the RFCs and the documented plaintext policy.
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <algorithm>
#include <set>

#include "pop3/core/session.hpp"
#include "wire_reader.hpp"

using namespace pop3::core;

namespace {

struct CapaModel {
    bool tls_available, allow_plaintext, tls_required;
    std::vector<Mechanism> sasl;
    std::string expire;
    unsigned login_delay;
    std::string implementation;

    bool login_ok(bool tls) const { return tls || !tls_required; }
    // Passwords in the clear only over TLS, on sites without a certificate,
    // or where the site allows it (RFC 2595 section 6).
    bool plaintext_ok(bool tls) const {
        return login_ok(tls) && (tls || allow_plaintext || !tls_available);
    }
    std::vector<std::string> mechanisms(bool tls) const {
        std::vector<std::string> out;
        if (!login_ok(tls)) return out;
        for (auto m : sasl) {
            bool password = m == Mechanism::plain || m == Mechanism::login;
            if (password && !plaintext_ok(tls)) continue;
            out.emplace_back(mechanism_name(m));
        }
        return out;
    }
    std::set<std::string> capabilities(bool tls, bool authorization) const {
        std::set<std::string> out = {"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE",
                                     "PIPELINING", "EXPIRE " + expire,
                                     "LOGIN-DELAY " + std::to_string(login_delay),
                                     "IMPLEMENTATION " + implementation};
        if (plaintext_ok(tls)) out.insert("USER");
        // STLS exactly in AUTHORIZATION, with a certificate, before TLS.
        if (authorization && tls_available && !tls) out.insert("STLS");
        auto m = mechanisms(tls);
        if (!m.empty()) {
            std::string line = "SASL";
            for (const auto& name : m) line += " " + name;
            out.insert(line);
        }
        return out;
    }
    Config config() const {
        Config c;
        c.tls_available = tls_available;
        c.allow_plaintext = allow_plaintext;
        c.tls_required = tls_required;
        c.sasl = sasl;
        c.expire = expire;
        c.login_delay = login_delay;
        c.implementation = implementation;
        return c;
    }
};

rc::Gen<CapaModel> any_site() {
    return rc::gen::build<CapaModel>(
        rc::gen::set(&CapaModel::tls_available),
        rc::gen::set(&CapaModel::allow_plaintext),
        rc::gen::set(&CapaModel::tls_required),
        rc::gen::set(&CapaModel::sasl,
                     rc::gen::map(rc::gen::container<std::vector<bool>>(
                                      5, rc::gen::arbitrary<bool>()),
                                  [](const std::vector<bool>& pick) {
                                      const Mechanism all[] = {
                                          Mechanism::plain, Mechanism::login,
                                          Mechanism::cram_md5, Mechanism::scram_sha1,
                                          Mechanism::scram_sha256};
                                      std::vector<Mechanism> out;
                                      for (std::size_t i = 0; i < 5; ++i)
                                          if (pick[i]) out.push_back(all[i]);
                                      return out;
                                  })),
        rc::gen::set(&CapaModel::expire, rc::gen::element<std::string>("NEVER", "0", "31 USER")),
        rc::gen::set(&CapaModel::login_delay, rc::gen::inRange<unsigned>(0, 1000)),
        rc::gen::set(&CapaModel::implementation,
                     rc::gen::element<std::string>("pop3d", "pop3d 0.1", "x")));
}

std::set<std::string> capa_of(const Step& s) {
    RC_ASSERT(s.responses.size() == 1u);
    const auto& r = s.responses[0];
    RC_ASSERT(r.ok);
    RC_ASSERT(r.multiline);
    // What a client reads from the wire is the list itself.
    RC_ASSERT(pop3::model::read_response(render(r), true) == std::optional<Response>(r));
    std::set<std::string> out(r.body.begin(), r.body.end());
    RC_ASSERT(out.size() == r.body.size()); // no capability twice
    return out;
}

} // namespace

TEST_CASE("CAPA follows the configuration and the state", "[props]") {
    rc::prop("CAPA lists exactly what the site and the session's state allow, "
             "before and after login",
             [] {
                 const auto site = *any_site();
                 const auto config = site.config();
                 bool tls = *rc::gen::arbitrary<bool>(); // implicit TLS
                 SessionState state = Idle{};
                 auto feed = [&](Input in) {
                     auto s = step(std::move(state), in, config);
                     state = std::move(s.state);
                     return s;
                 };
                 feed(Event{Connected{"<1.2@h>", tls, "seed"}});
                 if (!tls && site.tls_available && *rc::gen::arbitrary<bool>()) {
                     feed(FramedLine{"STLS"});
                     RC_ASSERT(std::holds_alternative<StartingTls>(state));
                     feed(Event{TlsStarted{}});
                     tls = true;
                 }
                 const auto before = capa_of(feed(FramedLine{"CAPA"}));
                 RC_ASSERT(before == site.capabilities(tls, true));
                 RC_ASSERT(capabilities(state, config) ==
                           *pop3::model::read_response(
                               render(capabilities(state, config)), true));
                 // AUTH alone lists what the SASL capability offers.
                 auto listing = feed(FramedLine{"AUTH"});
                 RC_ASSERT(listing.responses.size() == 1u);
                 RC_ASSERT(listing.responses[0].body == site.mechanisms(tls));

                 if (!site.login_ok(tls)) return;
                 feed(FramedLine{"APOP a@b 0123456789abcdef0123456789abcdef"});
                 feed(Event{AuthResult{AuthResult::Outcome::accepted, "a@b"}});
                 feed(Event{MailboxOpened{make_snapshot({{3, "u"}})}});
                 RC_ASSERT(std::holds_alternative<Transaction>(state));
                 const auto after = capa_of(feed(FramedLine{"CAPA"}));
                 RC_ASSERT(after == site.capabilities(tls, false));
                 RC_ASSERT(capa_of(Step{state, {capabilities(state, config)}, {}}) == after);
                 // RFC 2449 lets the list change at login; here only STLS goes.
                 auto without_stls = before;
                 without_stls.erase("STLS");
                 RC_ASSERT(after == without_stls);
             });
}
