// Netstring messages between pop3d's processes. The parser trusts nothing:
// the login process that sends requests handles attacker bytes, so every
// length, verb, field count and number is checked before use.
#include <charconv>

#include "pop3/core/conduct.hpp"
#include "pop3/core/ip_address.hpp"
#include "pop3/core/limits.hpp"
#include "pop3/core/privsep_wire.hpp"

namespace pop3::core::privsep {
namespace {

using Fields = std::vector<std::string_view>;
using Unexpected = tl::unexpected<std::string>;

void put(std::string& out, std::string_view field) {
    out += std::to_string(field.size());
    out += ':';
    out += field;
    out += ',';
}

std::string message(std::initializer_list<std::string_view> fields) {
    std::string out;
    for (auto f : fields) put(out, f);
    return out;
}

std::string_view flag(bool b) { return b ? "1" : "0"; }

// Splits `wire` into netstrings: "<decimal length>:<bytes>,", the length
// without leading zeros.
tl::expected<Fields, std::string> split(std::string_view wire) {
    if (wire.size() > k_max_privsep_message)
        return Unexpected("message longer than " +
                          std::to_string(k_max_privsep_message) + " octets");
    Fields fields;
    while (!wire.empty()) {
        if (fields.size() >= 8) return Unexpected("too many fields");
        auto colon = wire.find(':');
        if (colon == std::string_view::npos || colon == 0 || colon > 6)
            return Unexpected("bad field length");
        auto digits = wire.substr(0, colon);
        if (digits.size() > 1 && digits[0] == '0')
            return Unexpected("field length with a leading zero");
        std::size_t length = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
        if (ec != std::errc{} || end != digits.data() + digits.size())
            return Unexpected("bad field length");
        wire.remove_prefix(colon + 1);
        if (length >= wire.size() || wire[length] != ',')
            return Unexpected("field not terminated by ','");
        fields.push_back(wire.substr(0, length));
        wire.remove_prefix(length + 1);
    }
    if (fields.empty()) return Unexpected("empty message");
    return fields;
}

template <class Number>
tl::expected<Number, std::string> number(std::string_view text, std::string_view what) {
    Number value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || (text.size() > 1 && text[0] == '0') || ec != std::errc{} ||
        end != text.data() + text.size())
        return Unexpected("bad " + std::string(what) + " \"" +
                          std::string(text.substr(0, 20)) + "\"");
    return value;
}

tl::expected<bool, std::string> boolean(std::string_view text, std::string_view what) {
    if (text == "1") return true;
    if (text == "0") return false;
    return Unexpected("bad " + std::string(what) + " flag");
}

// A mechanism by its exact registered name (the wire has one spelling).
std::optional<Mechanism> canonical_mechanism(std::string_view text) {
    auto m = mechanism_from_name(text);
    if (m && mechanism_name(*m) != text) return std::nullopt;
    return m;
}

tl::expected<Mechanism, std::string> mechanism(std::string_view text) {
    // Only the SCRAM mechanisms have a lookup and a proof.
    auto m = canonical_mechanism(text);
    if (!m || (*m != Mechanism::scram_sha1 && *m != Mechanism::scram_sha256))
        return Unexpected("bad SCRAM mechanism");
    return *m;
}

tl::expected<std::optional<std::uint32_t>, std::string> optional_id(std::string_view text,
                                                                    std::string_view what) {
    if (text.empty()) return std::optional<std::uint32_t>();
    auto n = number<std::uint32_t>(text, what);
    if (!n) return Unexpected(n.error());
    return std::optional<std::uint32_t>(*n);
}

std::string optional_text(const std::optional<std::uint32_t>& id) {
    return id ? std::to_string(*id) : std::string();
}

std::string_view outcome_name(AuthResult::Outcome outcome) {
    switch (outcome) {
    case AuthResult::Outcome::accepted: return "accepted";
    case AuthResult::Outcome::rejected: return "rejected";
    case AuthResult::Outcome::unavailable: break;
    }
    return "unavailable";
}

// The verdict fields shared by VERDICT and SCRAM-VERDICT: outcome, user,
// uid, gid.
tl::expected<Verdict, std::string> verdict(std::string_view outcome, std::string_view user,
                                           std::string_view uid_text,
                                           std::string_view gid_text) {
    Verdict v{{AuthResult::Outcome::rejected, std::string(user)}, {}, {}};
    if (outcome == "accepted") v.result.outcome = AuthResult::Outcome::accepted;
    else if (outcome == "unavailable") v.result.outcome = AuthResult::Outcome::unavailable;
    else if (outcome != "rejected") return Unexpected("bad outcome");
    if (v.result.outcome == AuthResult::Outcome::accepted && user.empty())
        return Unexpected("accepted without a user");
    auto uid = optional_id(uid_text, "uid");
    if (!uid) return Unexpected(uid.error());
    auto gid = optional_id(gid_text, "gid");
    if (!gid) return Unexpected(gid.error());
    v.uid = *uid;
    v.gid = *gid;
    return v;
}

tl::expected<void, std::string> arity(const Fields& f, std::size_t want) {
    if (f.size() != want)
        return Unexpected(std::string(f[0]) + ": " + std::to_string(f.size() - 1) +
                          " fields, expected " + std::to_string(want - 1));
    return {};
}

} // namespace

std::string encode(const Request& request) {
    return std::visit(
        [](const auto& r) -> std::string {
            using T = std::decay_t<decltype(r)>;
            if constexpr (std::is_same_v<T, VerifyPassword>)
                return message({"PASS", r.user, r.secret, r.method, flag(r.tls)});
            else if constexpr (std::is_same_v<T, VerifyApop>)
                return message({"APOP", r.user, r.digest, flag(r.tls)});
            else if constexpr (std::is_same_v<T, VerifyCram>)
                return message({"CRAM", r.user, r.challenge, r.digest_hex});
            else if constexpr (std::is_same_v<T, FetchScramCredentials>)
                return message({"SCRAM-LOOKUP", mechanism_name(r.mechanism), r.user});
            else if constexpr (std::is_same_v<T, ScramProof>)
                return message({"SCRAM-PROOF", mechanism_name(r.mechanism),
                                r.auth_message, r.proof});
            else if constexpr (std::is_same_v<T, Handoff>)
                return message({"HANDOFF", r.user, flag(r.tls), r.pending_input,
                                std::to_string(r.discarding), r.conduct});
            else if constexpr (std::is_same_v<T, RelaySasl>)
                return message({"RELAY", mechanism_name(r.mechanism),
                                flag(r.response.has_value()), r.response.value_or(""),
                                flag(r.first), flag(r.tls)});
            else
                return message({"ORIGIN", r.address});
        },
        request);
}

std::string encode(const Answer& answer) {
    return std::visit(
        [](const auto& a) -> std::string {
            using T = std::decay_t<decltype(a)>;
            if constexpr (std::is_same_v<T, Offer>) {
                std::string names;
                for (auto m : a.sasl) {
                    if (!names.empty()) names += ',';
                    names += mechanism_name(m);
                }
                return message({"OFFER", a.apop_banner, names, flag(a.sasl_relay)});
            } else if constexpr (std::is_same_v<T, Verdict>) {
                return message({"VERDICT", outcome_name(a.result.outcome), a.result.user,
                                optional_text(a.uid), optional_text(a.gid)});
            } else if constexpr (std::is_same_v<T, ScramCredentials>) {
                return message({"SCRAM-CREDS", a.user, a.salt,
                                std::to_string(a.iterations), a.stored_key,
                                a.server_key, flag(a.known)});
            } else if constexpr (std::is_same_v<T, HandoffAccepted>) {
                return message({"HANDED-OVER"});
            } else if constexpr (std::is_same_v<T, Access>) {
                return message({"ACCESS", std::to_string(a.level)});
            } else if constexpr (std::is_same_v<T, SaslRelayChallenge>) {
                return message({"RELAY-CHALLENGE", a.raw});
            } else {
                return message({"SCRAM-VERDICT", flag(a.verdict.proof_ok),
                                a.verdict.server_signature, outcome_name(a.login.result.outcome),
                                a.login.result.user, optional_text(a.login.uid),
                                optional_text(a.login.gid)});
            }
        },
        answer);
}

tl::expected<Request, std::string> decode_request(std::string_view wire) {
    auto split_fields = split(wire);
    if (!split_fields) return Unexpected(split_fields.error());
    const Fields& f = *split_fields;
    auto verb = f[0];
    auto text = [&](std::size_t i) { return std::string(f[i]); };
    if (verb == "PASS") {
        if (auto a = arity(f, 5); !a) return Unexpected(a.error());
        auto tls = boolean(f[4], "TLS");
        if (!tls) return Unexpected(tls.error());
        return VerifyPassword{text(1), text(2), text(3), *tls};
    }
    if (verb == "APOP") {
        if (auto a = arity(f, 4); !a) return Unexpected(a.error());
        auto tls = boolean(f[3], "TLS");
        if (!tls) return Unexpected(tls.error());
        return VerifyApop{text(1), text(2), *tls};
    }
    if (verb == "CRAM") {
        if (auto a = arity(f, 4); !a) return Unexpected(a.error());
        return VerifyCram{text(1), text(2), text(3)};
    }
    if (verb == "RELAY") {
        if (auto a = arity(f, 6); !a) return Unexpected(a.error());
        auto m = canonical_mechanism(f[1]);
        if (!m) return Unexpected(std::string("RELAY: unknown mechanism"));
        auto has = boolean(f[2], "response");
        auto first = boolean(f[4], "first");
        auto tls = boolean(f[5], "TLS");
        if (!has || !first || !tls) return Unexpected(std::string("RELAY: malformed flag"));
        if (!*has && !f[3].empty()) return Unexpected(std::string("RELAY: data without response"));
        return RelaySasl{*m, *has ? std::optional<std::string>(text(3)) : std::nullopt, *first,
                         *tls};
    }
    if (verb == "SCRAM-LOOKUP") {
        if (auto a = arity(f, 3); !a) return Unexpected(a.error());
        auto m = mechanism(f[1]);
        if (!m) return Unexpected(m.error());
        return FetchScramCredentials{*m, text(2)};
    }
    if (verb == "SCRAM-PROOF") {
        if (auto a = arity(f, 4); !a) return Unexpected(a.error());
        auto m = mechanism(f[1]);
        if (!m) return Unexpected(m.error());
        return ScramProof{*m, text(2), text(3)};
    }
    if (verb == "HANDOFF") {
        if (auto a = arity(f, 6); !a) return Unexpected(a.error());
        auto tls = boolean(f[2], "TLS");
        if (!tls) return Unexpected(tls.error());
        auto discarding = number<std::uint64_t>(f[4], "discard count");
        if (!discarding) return Unexpected(discarding.error());
        if (f[1].empty()) return Unexpected("HANDOFF: empty user");
        // The login process is not trusted: its conduct part is decoded here,
        // strictly, before the monitor (root) or the mail process uses it.
        if (!f[5].empty())
            if (auto c = conduct::decode(f[5]); !c)
                return Unexpected("HANDOFF: " + c.error());
        return Handoff{text(1), *tls, text(3), *discarding, text(5)};
    }
    if (verb == "ORIGIN") {
        if (auto a = arity(f, 2); !a) return Unexpected(a.error());
        auto address = parse_ip(f[1]);
        if (!address || to_string(*address) != f[1])
            return Unexpected("ORIGIN: not a canonical IP address");
        return Origin{text(1)};
    }
    return Unexpected("unknown request \"" + std::string(verb.substr(0, 20)) + "\"");
}

tl::expected<Answer, std::string> decode_answer(std::string_view wire) {
    auto split_fields = split(wire);
    if (!split_fields) return Unexpected(split_fields.error());
    const Fields& f = *split_fields;
    auto verb = f[0];
    auto text = [&](std::size_t i) { return std::string(f[i]); };
    if (verb == "RELAY-CHALLENGE") {
        if (auto a = arity(f, 2); !a) return Unexpected(a.error());
        return SaslRelayChallenge{text(1)};
    }
    if (verb == "OFFER") {
        if (auto a = arity(f, 4); !a) return Unexpected(a.error());
        auto relay = boolean(f[3], "relay");
        if (!relay) return Unexpected(relay.error());
        Offer offer{text(1), {}, *relay};
        std::string_view names = f[2];
        while (!names.empty()) {
            auto comma = names.find(',');
            auto m = canonical_mechanism(names.substr(0, comma));
            if (!m) return Unexpected("OFFER: unknown mechanism");
            offer.sasl.push_back(*m);
            if (comma == std::string_view::npos) break;
            names.remove_prefix(comma + 1);
            if (names.empty()) return Unexpected("OFFER: empty mechanism");
        }
        return offer;
    }
    if (verb == "VERDICT") {
        if (auto a = arity(f, 5); !a) return Unexpected(a.error());
        auto v = verdict(f[1], f[2], f[3], f[4]);
        if (!v) return Unexpected("VERDICT: " + v.error());
        return *v;
    }
    if (verb == "SCRAM-CREDS") {
        if (auto a = arity(f, 7); !a) return Unexpected(a.error());
        auto iterations = number<std::uint32_t>(f[3], "iteration count");
        if (!iterations) return Unexpected(iterations.error());
        auto known = boolean(f[6], "known");
        if (!known) return Unexpected(known.error());
        return ScramCredentials{text(1), text(2), *iterations, text(4), text(5), *known};
    }
    if (verb == "SCRAM-VERDICT") {
        if (auto a = arity(f, 7); !a) return Unexpected(a.error());
        auto ok = boolean(f[1], "proof");
        if (!ok) return Unexpected(ok.error());
        auto login = verdict(f[3], f[4], f[5], f[6]);
        if (!login) return Unexpected("SCRAM-VERDICT: " + login.error());
        // Accepted exactly when the proof was: anything else is malformed.
        if (*ok != (login->result.outcome == AuthResult::Outcome::accepted))
            return Unexpected("SCRAM-VERDICT: proof and outcome disagree");
        return ScramOutcome{{*ok, text(2)}, *login};
    }
    if (verb == "ACCESS") {
        if (auto a = arity(f, 2); !a) return Unexpected(a.error());
        auto level = number<std::uint32_t>(f[1], "access level");
        if (!level) return Unexpected(level.error());
        return Access{*level};
    }
    if (verb == "HANDED-OVER") {
        if (auto a = arity(f, 1); !a) return Unexpected(a.error());
        return HandoffAccepted{};
    }
    return Unexpected("unknown answer \"" + std::string(verb.substr(0, 20)) + "\"");
}

} // namespace pop3::core::privsep
