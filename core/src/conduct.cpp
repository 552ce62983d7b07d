// The conduct rules. Each client line is judged when it arrives, from its
// keyword, its message numbers and the state it arrived in; its answer and
// the line after it (or the session's end) say how a refusal was taken.
// Only keywords and numbers are kept, so a report cannot leak a secret.
#include <charconv>

#include "pop3/core/ascii.hpp"
#include "pop3/core/command.hpp"
#include "pop3/core/conduct.hpp"
#include "pop3/core/limits.hpp"

namespace pop3::core::conduct {
namespace {

// Keyword table: 0 is a line that names no known command.
constexpr std::string_view k_keywords[] = {
    "", "USER", "PASS", "APOP", "QUIT", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET",
    "TOP", "UIDL", "CAPA", "STLS", "AUTH",
    "LAST", "RPOP", // RFC 1725's and RFC 1081's, which pop3d does not offer
    "", ""};        // a SASL response line, an overlong line
enum Keyword : std::uint8_t {
    k_unknown = 0, k_user, k_pass, k_apop, k_quit, k_stat, k_list, k_retr, k_dele,
    k_noop, k_rset, k_top, k_uidl, k_capa, k_stls, k_auth, k_last, k_rpop,
    k_sasl_response, k_overlong, k_keyword_count
};
static_assert(std::size(k_keywords) == k_keyword_count);
static_assert(k_keyword_count <= std::tuple_size_v<decltype(Conduct::used)>);

// Capabilities a CAPA answer may list (RFC 2449 section 6, RFC 2595 section 4).
enum Capability : std::uint32_t {
    cap_top = 1, cap_uidl = 2, cap_user = 4, cap_sasl = 8, cap_stls = 16,
    cap_pipelining = 32, cap_resp_codes = 64,
};
struct CapabilityName {
    std::string_view name;
    Capability bit;
};
constexpr CapabilityName k_capabilities[] = {
    {"TOP", cap_top},     {"UIDL", cap_uidl},
    {"USER", cap_user},   {"SASL", cap_sasl},
    {"STLS", cap_stls},   {"PIPELINING", cap_pipelining},
    {"RESP-CODES", cap_resp_codes},
};

struct Rule {
    bool error; // false: a note (the client relied on something unlisted)
    std::string_view text;
};
// Indexed by Kind.
constexpr Rule k_rules[] = {
    {true, "message number 0: messages are numbered from 1 (RFC 1939 section 4)"},
    {true, "message number beyond the mailbox's messages, numbered 1 to n "
           "(RFC 1939 section 4)"},
    {true, "command in the wrong state: STAT, LIST, RETR, DELE, NOOP, RSET, TOP, UIDL "
           "only in TRANSACTION, USER, PASS, APOP, AUTH, STLS only in AUTHORIZATION "
           "(RFC 1939 sections 4 and 5, RFC 2595 section 4, RFC 5034 section 4)"},
    {true, "PASS not right after a successful USER (RFC 1939 section 7)"},
    {true, "APOP though the greeting carried no timestamp (RFC 1939 section 7)"},
    {true, "arguments that do not parse (RFC 1939 section 3)"},
    {true, "unknown command, its text not logged (RFC 1939 section 3; LAST and RPOP, "
           "named, are obsolete: RFC 1725, RFC 1081)"},
    {true, "empty line (RFC 1939 section 3: a keyword, then arguments)"},
    {true, "line over 255 octets with its CRLF (RFC 2449 section 4)"},
    {false, "SASL response line over 12288 octets with its CRLF, pop3d's bound "
            "(RFC 5034 section 4 lets a server bound it)"},
    {true, "line ended by a bare LF, not CRLF (RFC 1939 section 3)"},
    {true, "command sent before the previous answer, without PIPELINING in CAPA "
           "(RFC 2449 section 6.6)"},
    {true, "commands sent after STLS before its answer and the TLS negotiation, "
           "discarded unread (RFC 2595 section 4: the client \"MUST NOT issue "
           "further commands until a server response is seen and the TLS "
           "negotiation is complete\")"},
    {true, "the session ended without QUIT, so nothing marked deleted was removed "
           "(RFC 1939 section 6)"},
    {false, "plaintext credentials (USER/PASS, AUTH PLAIN/LOGIN) in the clear after "
            "CAPA listed STLS; allowed here, a site may refuse them (RFC 2595 "
            "section 2.3, RFC 5034 section 6)"},
    {false, "TOP used without CAPA listing it (RFC 2449 section 6.1; optional in "
            "RFC 1939 section 7)"},
    {false, "UIDL used without CAPA listing it (RFC 2449 section 6.8; optional in "
            "RFC 1939 section 7)"},
    {false, "USER used without CAPA listing it (RFC 2449 section 6.2)"},
    {false, "STLS used without CAPA listing it (RFC 2595 section 4)"},
    {false, "AUTH used without CAPA listing SASL (RFC 2449 section 6.3, RFC 5034 "
            "section 4)"},
};
static_assert(std::size(k_rules) == static_cast<std::size_t>(Kind::count_));
static_assert(k_max_command_line == 255 && k_max_sasl_line == 12288,
              "the rule texts name these limits");

constexpr std::string_view k_reactions[] = {
    "continued with another command",
    "retried the same line",
    "sent QUIT",
    "had already sent its next command (pipelined)",
    "disconnected",
    "went silent until the timeout",
    "none: the server closed the session",
};
static_assert(std::size(k_reactions) == static_cast<std::size_t>(Reaction::count_));

constexpr std::string_view k_ends[] = {
    "closed by the server", "client disconnected", "idle timeout", "server stopped",
    "time limit (--session-limit or --login-timeout)",
    "client stopped reading (a write waited the idle timeout)"};

bool takes_message(std::uint8_t keyword) {
    return keyword == k_list || keyword == k_retr || keyword == k_dele ||
           keyword == k_top || keyword == k_uidl;
}
bool transaction_only(std::uint8_t keyword) {
    return takes_message(keyword) || keyword == k_stat || keyword == k_noop ||
           keyword == k_rset;
}
bool authorization_only(std::uint8_t keyword) {
    return keyword == k_user || keyword == k_pass || keyword == k_apop ||
           keyword == k_auth || keyword == k_stls;
}

// A decimal number, saturating; nullopt when not all digits.
std::optional<std::uint64_t> decimal(std::string_view text) {
    if (text.empty() || text.size() > 40) return std::nullopt;
    std::uint64_t value = 0;
    for (char ch : text) {
        if (ch < '0' || ch > '9') return std::nullopt;
        auto digit = static_cast<std::uint64_t>(ch - '0');
        value = value > (UINT64_MAX - digit) / 10 ? UINT64_MAX : value * 10 + digit;
    }
    return value;
}

// FNV-1a over the line and its length: equal only for the same line (an
// overlong line's text is not kept, its length is).
std::uint64_t line_hash(const Line& line) {
    std::uint64_t h = 14695981039346656037ULL;
    auto mix = [&h](unsigned char octet) {
        h ^= octet;
        h *= 1099511628211ULL;
    };
    for (char ch : line.text) mix(static_cast<unsigned char>(ch));
    for (std::size_t i = 0; i < sizeof line.octets; ++i)
        mix(static_cast<unsigned char>(line.octets >> (i * 8)));
    return h;
}

Label label_of(std::string_view text) {
    Label label;
    auto space = text.find(' ');
    std::string upper = ascii_upper(text.substr(0, space));
    for (std::uint8_t k = 1; k < k_sasl_response; ++k)
        if (upper == k_keywords[k]) label.keyword = k;
    if (label.keyword == k_unknown || label.keyword >= k_last) return label;
    label.malformed = !parse_command(text).has_value();
    if (takes_message(label.keyword) && space != std::string_view::npos) {
        auto rest = text.substr(space + 1);
        for (std::size_t i = 0; i < label.numbers.size() && !rest.empty(); ++i) {
            auto gap = rest.find(' ');
            auto number = decimal(rest.substr(0, gap));
            if (!number) break;
            label.numbers[i] = *number;
            label.arguments = static_cast<std::uint8_t>(i + 1);
            rest = gap == std::string_view::npos ? std::string_view() : rest.substr(gap + 1);
        }
    }
    // Message 0 is its own finding: malformed only if it is not the sole fault.
    if (label.malformed && label.arguments > 0 && label.numbers[0] == 0) {
        auto first = text.substr(space + 1);
        auto gap = first.find(' ');
        std::string one = std::string(text.substr(0, space)) + " 1" +
                          std::string(gap == std::string_view::npos ? "" : first.substr(gap));
        label.malformed = !parse_command(one).has_value();
    }
    return label;
}

bool sends_plaintext(std::uint8_t keyword, std::string_view text) {
    if (keyword == k_user || keyword == k_pass) return true;
    if (keyword != k_auth) return false;
    auto command = parse_command(text);
    if (!command) return false;
    const auto& auth = std::get<Auth>(*command);
    if (!auth.mechanism) return false;
    auto m = mechanism_from_name(*auth.mechanism);
    return m && sends_password(*m);
}

void note(Conduct& c, Kind kind, const Label& label) {
    auto& f = c.findings[static_cast<std::size_t>(kind)];
    if (f.count++ == 0) {
        f.first_line = c.lines;
        f.example = label;
    }
}

void resolve(Conduct& c, Reaction reaction) {
    if (!c.pending) return;
    Refusal r = *c.pending;
    r.reaction = reaction;
    ++c.reactions[static_cast<std::size_t>(reaction)];
    if (c.refusals.size() < k_listed_refusals) c.refusals.push_back(r);
    c.pending.reset();
    c.pending_hash = 0;
}

bool listed(const Conduct& c, Capability cap) { return (c.advertised & cap) != 0; }

void judge_command(Conduct& c, const Line& line, const Label& label) {
    const auto k = label.keyword;
    const Phase phase = line.where.phase;
    if (k == k_unknown || k == k_last || k == k_rpop) {
        note(c, Kind::unknown_command, label);
        return;
    }
    bool wrong = (phase == Phase::authorization && transaction_only(k)) ||
                 (phase == Phase::transaction && authorization_only(k));
    if (wrong) note(c, Kind::wrong_state, label);
    if (phase == Phase::authorization && k == k_pass && !(c.last.keyword == k_user && c.last_ok))
        note(c, Kind::pass_without_user, label);
    if (phase == Phase::authorization && k == k_apop && c.greeting_seen && !c.apop_stamp)
        note(c, Kind::apop_without_stamp, label);
    bool numbered = false;
    if (phase == Phase::transaction && takes_message(k) && label.arguments > 0) {
        const auto n = label.numbers[0];
        if (n == 0) note(c, Kind::message_zero, label);
        else if (n > line.where.messages) note(c, Kind::message_out_of_range, label);
        numbered = n == 0 || n > line.where.messages;
    }
    if (label.malformed && !numbered) note(c, Kind::malformed, label);
    // Only after the client saw STLS offered: RFC 2595 section 2.3 is about
    // what implementations can refuse, not something a client must do.
    if (phase == Phase::authorization && !line.where.tls && listed(c, cap_stls) &&
        sends_plaintext(k, line.text))
        note(c, Kind::plaintext_before_stls, label);
    if (wrong) return; // reliance on a capability is judged where it applies
    if (k == k_top && !listed(c, cap_top)) note(c, Kind::top_without_capa, label);
    if (k == k_uidl && !listed(c, cap_uidl)) note(c, Kind::uidl_without_capa, label);
    if (k == k_user && !listed(c, cap_user)) note(c, Kind::user_without_capa, label);
    if (k == k_stls && !listed(c, cap_stls)) note(c, Kind::stls_without_capa, label);
    if (k == k_auth && line.text.size() > 4 && !listed(c, cap_sasl))
        note(c, Kind::auth_without_capa, label); // a bare AUTH only asks
}

std::string render(const Label& label) {
    if (label.keyword == k_sasl_response) return "a SASL response";
    if (label.keyword == k_overlong)
        return "an overlong line" + (label.arguments > 0
                                         ? " of " + std::to_string(label.numbers[0]) + " octets"
                                         : std::string());
    if (label.keyword == k_unknown) return "an unknown command";
    std::string out(k_keywords[label.keyword]);
    for (std::size_t i = 0; i < label.arguments && i < label.numbers.size(); ++i)
        out += " " + std::to_string(label.numbers[i]);
    if (label.malformed) out += " (malformed)";
    return out;
}

std::string times(std::uint64_t n) {
    return std::to_string(n) + (n == 1 ? " time" : " times");
}

} // namespace

Where where(const SessionState& state) {
    Where w;
    if (const auto* a = std::get_if<Authorization>(&state)) {
        w.phase = Phase::authorization;
        w.tls = a->tls;
    } else if (const auto* s = std::get_if<SaslAuthenticating>(&state)) {
        w.phase = Phase::sasl_response;
        w.tls = s->previous.tls;
    } else if (const auto* t = std::get_if<Transaction>(&state)) {
        w.phase = Phase::transaction;
        w.tls = t->tls;
        w.messages = t->mailbox.size();
    }
    return w;
}

Conduct start() { return Conduct{}; }

Conduct observe(Conduct c, const Line& line) {
    if (c.ended) return c;
    ++c.lines;
    if (line.where.tls && !c.tls) {
        // RFC 2595 section 4: once TLS has started the client must discard
        // what CAPA said before it; only a CAPA over TLS counts from here.
        c.tls = true;
        c.advertised = 0;
        c.pipelining_known = false;
    }
    Label label;
    if (line.overlong) {
        label.keyword = k_overlong;
        label.numbers[0] = line.octets;
        label.arguments = 1;
    } else if (line.where.phase == Phase::sasl_response) {
        label.keyword = k_sasl_response;
    } else {
        label = label_of(line.text);
    }
    const std::uint64_t hash = line_hash(line);
    if (c.pending) {
        Reaction r = line.pipelined              ? Reaction::pipelined
                     : hash == c.pending_hash    ? Reaction::retried
                     : label.keyword == k_quit   ? Reaction::quit
                                                 : Reaction::continued;
        resolve(c, r);
    }
    if (line.pipelined && !c.pipelining_known)
        note(c, Kind::pipelining_unadvertised, label);
    if (line.bare_lf) note(c, Kind::bare_lf, label);
    if (line.overlong)
        note(c, line.where.phase == Phase::sasl_response ? Kind::overlong_sasl_response
                                                         : Kind::overlong_line,
             label);
    else if (line.where.phase != Phase::sasl_response) {
        if (line.text.empty()) note(c, Kind::empty_line, label);
        else judge_command(c, line, label);
    }
    ++c.used[label.keyword];
    c.last = label;
    c.last_ok = false;
    c.last_hash = hash;
    c.awaiting_answer = true;
    return c;
}

Conduct discarded_after_stls(Conduct c) {
    if (!c.ended) note(c, Kind::pipelined_after_stls, c.last);
    return c;
}

Conduct answered(Conduct c, const Response& response) {
    if (c.ended) return c;
    if (!c.greeting_seen && c.lines == 0) {
        c.greeting_seen = true;
        c.apop_stamp = response.ok && !response.text.empty() && response.text[0] == '<';
        return c;
    }
    if (!c.awaiting_answer) return c;
    c.awaiting_answer = false;
    c.pipelining_known = listed(c, cap_pipelining);
    c.last_ok = response.ok || response.continuation;
    if (c.last.keyword == k_capa && response.ok && response.multiline) {
        c.capa_asked = true;
        for (const auto& body_line : response.body) {
            auto name = ascii_upper(std::string_view(body_line).substr(0, body_line.find(' ')));
            for (const auto& cap : k_capabilities)
                if (name == cap.name) c.advertised |= cap.bit;
        }
    }
    if (!c.last_ok) {
        c.pending = Refusal{c.lines, c.last, Reaction::continued};
        c.pending_hash = c.last_hash;
    }
    c.last_hash = 0; // answered: not needed any longer
    return c;
}

Conduct ended(Conduct c, End end) {
    if (c.ended) return c;
    c.ended = true;
    c.end = end;
    // A time limit or a stop ends a session however the client behaves: no
    // blame for the missing QUIT, and a pending -ERR was not met by silence.
    resolve(c, end == End::client_disconnected ? Reaction::disconnected
               : end == End::timeout           ? Reaction::silent
                                               : Reaction::server_closed);
    bool quit = c.last.keyword == k_quit && c.lines > 0;
    if (!quit && (end == End::client_disconnected || end == End::timeout ||
                  end == End::stopped_reading))
        note(c, Kind::no_quit, c.last);
    return c;
}

std::vector<std::string> report(const Conduct& c) {
    const std::string p = "conduct: ";
    std::vector<std::string> out;
    std::string used;
    for (std::size_t k = 0; k < k_keyword_count; ++k) {
        if (c.used[k] == 0) continue;
        std::string name = k == k_unknown         ? "unknown"
                           : k == k_sasl_response ? "SASL responses"
                           : k == k_overlong      ? "overlong"
                                                  : std::string(k_keywords[k]);
        used += (used.empty() ? "" : ", ") + name + " " + std::to_string(c.used[k]);
    }
    out.push_back(p + "lines " + std::to_string(c.lines) + (used.empty() ? "" : ": " + used));
    if (!c.capa_asked) {
        out.push_back(p + "CAPA never asked (RFC 2449 section 5)");
    } else {
        std::string caps;
        for (const auto& cap : k_capabilities)
            if (listed(c, cap.bit)) caps += " " + std::string(cap.name);
        out.push_back(p + "CAPA asked; relied on what it listed:" + caps);
    }
    std::uint64_t errors = 0, notes = 0;
    for (std::size_t i = 0; i < c.findings.size(); ++i) {
        const auto& f = c.findings[i];
        if (f.count == 0) continue;
        (k_rules[i].error ? errors : notes) += 1;
        std::string line = p + (k_rules[i].error ? "error: " : "note: ");
        line += k_rules[i].text;
        line += ": " + times(f.count);
        if (static_cast<Kind>(i) != Kind::no_quit) {
            line += ", first at line " + std::to_string(f.first_line);
            line += " (" + render(f.example) + ")";
        }
        out.push_back(std::move(line));
    }
    std::uint64_t refused = 0;
    for (auto n : c.reactions) refused += n;
    for (const auto& r : c.refusals)
        out.push_back(p + "refusal: line " + std::to_string(r.line) + " (" + render(r.label) +
                      ") got -ERR; the client " +
                      std::string(k_reactions[static_cast<std::size_t>(r.reaction)]));
    if (refused > c.refusals.size())
        out.push_back(p + "refusal: " + std::to_string(refused - c.refusals.size()) +
                      " more not listed");
    if (refused > 0) {
        std::string counts;
        for (std::size_t i = 0; i < c.reactions.size(); ++i)
            if (c.reactions[i] > 0)
                counts += (counts.empty() ? "" : ", ") + std::string(k_reactions[i]) + " " +
                          std::to_string(c.reactions[i]);
        out.push_back(p + "refusals " + std::to_string(refused) + ": " + counts);
    }
    std::string end = c.ended ? std::string(k_ends[static_cast<std::size_t>(c.end)])
                              : std::string("not ended");
    if (c.ended && c.last.keyword == k_quit && c.lines > 0) end = "QUIT";
    out.push_back(p + "end: " + end);
    out.push_back(p + "summary: " +
                  (errors + notes == 0 ? std::string("clean")
                                       : std::to_string(errors) + " error(s), " +
                                             std::to_string(notes) + " note(s)"));
    return out;
}

// --- the hand-over form ------------------------------------------------------
namespace {

struct Writer {
    std::string out;
    void put(std::uint64_t n) {
        if (!out.empty()) out += ' ';
        out += std::to_string(n);
    }
    void put(const Label& l) {
        put(l.keyword);
        put(l.arguments);
        put(l.malformed ? 1 : 0);
        for (auto n : l.numbers) put(n);
    }
};

struct Reader {
    std::string_view rest;
    std::string error;
    std::uint64_t get(std::uint64_t max, std::string_view what) {
        if (!error.empty()) return 0;
        auto gap = rest.find(' ');
        auto token = rest.substr(0, gap);
        rest = gap == std::string_view::npos ? std::string_view() : rest.substr(gap + 1);
        std::uint64_t value = 0;
        auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
        bool canonical = !token.empty() && (token.size() == 1 || token[0] != '0');
        if (ec != std::errc() || end != token.data() + token.size() || !canonical)
            error = "conduct: bad number for " + std::string(what);
        else if (value > max)
            error = "conduct: " + std::string(what) + " out of range";
        return value;
    }
    bool flag(std::string_view what) { return get(1, what) == 1; }
    Label label() {
        Label l;
        l.keyword = static_cast<std::uint8_t>(get(k_keyword_count - 1, "keyword"));
        l.arguments = static_cast<std::uint8_t>(get(l.numbers.size(), "argument count"));
        l.malformed = flag("malformed");
        for (auto& n : l.numbers) n = get(UINT64_MAX, "number");
        return l;
    }
    Refusal refusal() {
        Refusal r;
        r.line = get(UINT64_MAX, "refusal line");
        r.label = label();
        r.reaction = static_cast<Reaction>(
            get(static_cast<std::uint64_t>(Reaction::count_) - 1, "reaction"));
        return r;
    }
};

constexpr std::uint64_t k_form = 2; // the hand-over form's version

} // namespace

std::string encode(const Conduct& c) {
    Writer w;
    w.put(k_form);
    w.put(c.lines);
    for (auto n : c.used) w.put(n);
    for (bool b : {c.greeting_seen, c.apop_stamp, c.capa_asked}) w.put(b);
    w.put(c.advertised);
    for (bool b : {c.tls, c.pipelining_known, c.awaiting_answer}) w.put(b);
    w.put(c.last);
    w.put(c.last_ok);
    w.put(c.pending.has_value());
    if (c.pending) {
        w.put(c.pending->line);
        w.put(c.pending->label);
        w.put(static_cast<std::uint64_t>(c.pending->reaction));
        w.put(c.pending_hash);
    }
    for (const auto& f : c.findings) {
        w.put(f.count);
        w.put(f.first_line);
        w.put(f.example);
    }
    w.put(c.refusals.size());
    for (const auto& r : c.refusals) {
        w.put(r.line);
        w.put(r.label);
        w.put(static_cast<std::uint64_t>(r.reaction));
    }
    for (auto n : c.reactions) w.put(n);
    w.put(c.ended);
    w.put(static_cast<std::uint64_t>(c.end));
    return w.out;
}

tl::expected<Conduct, std::string> decode(std::string_view text) {
    if (!text.empty() && text.back() == ' ') // one canonical form only
        return tl::unexpected(std::string("conduct: trailing space"));
    Reader r{text, {}};
    Conduct c;
    if (r.get(UINT64_MAX, "form") != k_form && r.error.empty())
        return tl::unexpected(std::string("conduct: unknown form"));
    c.lines = r.get(UINT64_MAX, "line count");
    for (auto& n : c.used) n = r.get(UINT64_MAX, "command count");
    c.greeting_seen = r.flag("greeting");
    c.apop_stamp = r.flag("timestamp");
    c.capa_asked = r.flag("CAPA");
    c.advertised = static_cast<std::uint32_t>(r.get(127, "capabilities"));
    c.tls = r.flag("TLS");
    c.pipelining_known = r.flag("PIPELINING");
    c.awaiting_answer = r.flag("awaiting");
    c.last = r.label();
    c.last_ok = r.flag("last answer");
    if (r.flag("pending")) {
        c.pending = r.refusal();
        c.pending_hash = r.get(UINT64_MAX, "refused line's hash");
    }
    for (auto& f : c.findings) {
        f.count = r.get(UINT64_MAX, "finding count");
        f.first_line = r.get(UINT64_MAX, "finding line");
        f.example = r.label();
    }
    auto listed_count = r.get(k_listed_refusals, "refusal count");
    for (std::uint64_t i = 0; i < listed_count && r.error.empty(); ++i)
        c.refusals.push_back(r.refusal());
    for (auto& n : c.reactions) n = r.get(UINT64_MAX, "reaction count");
    c.ended = r.flag("ended");
    c.end = static_cast<End>(r.get(std::size(k_ends) - 1, "end"));
    if (!r.error.empty()) return tl::unexpected(r.error);
    if (!r.rest.empty()) return tl::unexpected(std::string("conduct: trailing data"));
    return c;
}

} // namespace pop3::core::conduct
