// Scenario files: strict line parser, canonical rendering, and the choice of
// the rules that fire at a moment of the session (scenario.hpp).
#include "pop3/core/scenario.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <ostream>
#include <type_traits>

#include "pop3/core/ascii.hpp"
#include "pop3/core/limits.hpp"

namespace pop3::core {
namespace {

constexpr std::array<std::string_view, 15> k_verbs = {
    "USER", "PASS", "APOP", "AUTH", "STLS", "CAPA", "STAT", "LIST",
    "UIDL", "RETR", "TOP",  "DELE", "NOOP", "RSET", "QUIT"};
// Verbs whose first argument is a message number a trigger may name.
constexpr std::array<std::string_view, 5> k_numbered_verbs = {"LIST", "UIDL", "RETR",
                                                              "TOP", "DELE"};
// Verbs only seen before login: the mailbox is not open at them.
constexpr std::array<std::string_view, 5> k_login_verbs = {"USER", "PASS", "APOP",
                                                           "AUTH", "STLS"};
constexpr std::array<RespCode, 5> k_codes = {RespCode::in_use, RespCode::sys_temp,
                                             RespCode::sys_perm, RespCode::login_delay,
                                             RespCode::auth};

template <std::size_t N>
bool one_of(const std::array<std::string_view, N>& list, std::string_view word) {
    return std::find(list.begin(), list.end(), word) != list.end();
}

bool blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view text) {
    while (!text.empty() && blank(text.front())) text.remove_prefix(1);
    while (!text.empty() && blank(text.back())) text.remove_suffix(1);
    return text;
}

std::vector<std::string_view> words(std::string_view text) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && blank(text[i])) ++i;
        const std::size_t start = i;
        while (i < text.size() && !blank(text[i])) ++i;
        if (i > start) out.push_back(text.substr(start, i - start));
    }
    return out;
}

// A decimal number from `min` to `max`, digits only.
tl::expected<std::uint64_t, std::string> number(std::string_view what, std::string_view text,
                                                std::uint64_t min, std::uint64_t max) {
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    const bool digits = !text.empty() && std::all_of(text.begin(), text.end(), is_ascii_digit);
    if (!digits || ec != std::errc{} || ptr != text.data() + text.size() || value < min ||
        value > max)
        return tl::unexpected(std::string(what) + " must be a number from " +
                              std::to_string(min) + " to " + std::to_string(max) +
                              ", not \"" + std::string(text) + "\"");
    return value;
}

constexpr std::uint64_t k_max_number = 1'000'000'000;
constexpr std::string_view k_triggers =
    "expected \"at connect\", \"at login\", \"before|after command K\" or "
    "\"before|after VERB [N]\"";
constexpr std::string_view k_actions =
    "expected expunge N, rename N, deliver, -ERR [CODE] TEXT, cut K, delay MS or close";

tl::expected<ScenarioTrigger, std::string> parse_trigger(std::string_view text) {
    auto w = words(text);
    ScenarioTrigger t;
    if (w.empty()) return tl::unexpected("the rule has no trigger before ':'; " +
                                         std::string(k_triggers));
    if (w[0] == "at") {
        if (w.size() == 2 && w[1] == "connect") t.kind = ScenarioTrigger::Kind::connect;
        else if (w.size() == 2 && w[1] == "login") t.kind = ScenarioTrigger::Kind::login;
        else return tl::unexpected("unknown trigger \"" + std::string(text) +
                                   "\"; \"at\" takes connect or login");
        return t;
    }
    const bool before = w[0] == "before";
    if (!before && w[0] != "after")
        return tl::unexpected("unknown trigger \"" + std::string(w[0]) + "\"; " +
                              std::string(k_triggers));
    if (w.size() < 2)
        return tl::unexpected("\"" + std::string(w[0]) +
                              "\" needs \"command K\" or a POP3 verb");
    if (w[1] == "command") {
        if (w.size() != 3)
            return tl::unexpected("\"" + std::string(w[0]) +
                                  " command\" takes one number K (the Kth command "
                                  "since login)");
        auto k = number("the command number", w[2], 1, k_max_number);
        if (!k) return tl::unexpected(k.error());
        t.kind = before ? ScenarioTrigger::Kind::before_command
                        : ScenarioTrigger::Kind::after_command;
        t.command = *k;
        return t;
    }
    const std::string verb = ascii_upper(w[1]);
    if (!one_of(k_verbs, verb))
        return tl::unexpected("unknown POP3 verb \"" + std::string(w[1]) +
                              "\" (or \"command K\")");
    t.kind = before ? ScenarioTrigger::Kind::before_verb : ScenarioTrigger::Kind::after_verb;
    t.verb = verb;
    if (w.size() == 3) {
        if (!one_of(k_numbered_verbs, verb))
            return tl::unexpected(verb + " takes no message number in a trigger "
                                         "(only LIST, UIDL, RETR, TOP and DELE do)");
        auto n = number("the message number", w[2], 1, k_max_number);
        if (!n) return tl::unexpected(n.error());
        t.argument = *n;
    } else if (w.size() > 3) {
        return tl::unexpected("unexpected \"" + std::string(w[3]) + "\" after \"" +
                              std::string(w[0]) + " " + verb + " " + std::string(w[2]) +
                              "\"");
    }
    return t;
}

tl::expected<ScenarioAction, std::string> parse_refusal(std::string_view rest) {
    ScenarioRefuse refuse;
    rest = trim(rest);
    if (!rest.empty() && rest.front() == '[') {
        auto close = rest.find(']');
        if (close == std::string_view::npos)
            return tl::unexpected(std::string("the response code has no closing ']'"));
        const std::string_view code = rest.substr(1, close - 1);
        auto known = std::find_if(k_codes.begin(), k_codes.end(),
                                  [&](RespCode c) { return code_text(c) == code; });
        if (known == k_codes.end())
            return tl::unexpected("unknown response code [" + std::string(code) +
                                  "]; known: IN-USE, SYS/TEMP, SYS/PERM, LOGIN-DELAY, AUTH");
        refuse.code = *known;
        rest.remove_prefix(close + 1);
        if (!rest.empty() && !blank(rest.front()))
            return tl::unexpected(std::string("a blank must follow the response code"));
        rest = trim(rest);
    }
    if (rest.empty())
        return tl::unexpected(std::string("-ERR needs a text saying why (RFC 2449 section 8)"));
    if (rest.size() > k_max_scenario_error_text)
        return tl::unexpected("the -ERR text is longer than " +
                              std::to_string(k_max_scenario_error_text) + " octets");
    refuse.text = std::string(rest);
    return ScenarioAction{std::move(refuse)};
}

tl::expected<ScenarioAction, std::string> parse_action(std::string_view text) {
    text = trim(text);
    if (text.substr(0, 4) == "-ERR" && (text.size() == 4 || blank(text[4])))
        return parse_refusal(text.substr(4));
    auto w = words(text);
    if (w.empty()) return tl::unexpected("the rule has no action after ':'; " +
                                         std::string(k_actions));
    const std::string_view name = w[0];
    auto arity = [&](std::size_t n) -> tl::expected<void, std::string> {
        if (w.size() == n + 1) return {};
        if (w.size() > n + 1)
            return tl::unexpected("unexpected \"" + std::string(w[n + 1]) + "\" after " +
                                  std::string(name));
        return tl::unexpected(std::string(name) + " needs a number");
    };
    if (name == "deliver" || name == "close") {
        if (auto ok = arity(0); !ok) return tl::unexpected(ok.error());
        if (name == "deliver") return ScenarioAction{ScenarioDeliver{}};
        return ScenarioAction{ScenarioClose{}};
    }
    if (name == "expunge" || name == "rename" || name == "cut" || name == "delay") {
        if (auto ok = arity(1); !ok) return tl::unexpected(ok.error());
        if (name == "delay") {
            auto ms = number("the delay in ms", w[1], 0, k_max_scenario_delay_ms);
            if (!ms) return tl::unexpected(ms.error());
            return ScenarioAction{ScenarioDelay{static_cast<std::uint32_t>(*ms)}};
        }
        auto n = number(name == "cut" ? "the octet count" : "the message number", w[1],
                        name == "cut" ? 0 : 1, k_max_number);
        if (!n) return tl::unexpected(n.error());
        if (name == "expunge") return ScenarioAction{ScenarioExpunge{*n}};
        if (name == "rename") return ScenarioAction{ScenarioRename{*n}};
        return ScenarioAction{ScenarioCut{*n}};
    }
    return tl::unexpected("unknown action \"" + std::string(name) + "\"; " +
                          std::string(k_actions));
}

bool needs_mailbox(const ScenarioAction& action) {
    return std::holds_alternative<ScenarioExpunge>(action) ||
           std::holds_alternative<ScenarioRename>(action) ||
           std::holds_alternative<ScenarioDeliver>(action);
}

bool before_login(const ScenarioTrigger& t) {
    using K = ScenarioTrigger::Kind;
    return t.kind == K::connect || t.kind == K::login ||
           ((t.kind == K::before_verb || t.kind == K::after_verb) &&
            one_of(k_login_verbs, t.verb));
}

// One non-blank, non-comment line.
tl::expected<ScenarioRule, std::string> parse_rule(std::string_view line) {
    for (char c : line) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u >= 0x7F) {
            static constexpr char k_hex[] = "0123456789ABCDEF";
            return tl::unexpected(std::string("octet 0x") + k_hex[u >> 4] + k_hex[u & 15] +
                                  " in a rule (rules are printable ASCII)");
        }
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
        return tl::unexpected(std::string("a rule is \"TRIGGER: ACTION\" and this line has "
                                          "no ':'"));
    auto trigger = parse_trigger(line.substr(0, colon));
    if (!trigger) return tl::unexpected(trigger.error());
    auto action = parse_action(line.substr(colon + 1));
    if (!action) return tl::unexpected(action.error());
    if (needs_mailbox(*action) && before_login(*trigger))
        return tl::unexpected(
            std::string(words(line.substr(colon + 1)).front()) +
            " needs the mailbox, which is open only after login; use a trigger "
            "such as \"before command 1\" or \"after LIST\"");
    return ScenarioRule{0, std::move(*trigger), std::move(*action)};
}

std::string render_trigger(const ScenarioTrigger& t) {
    using K = ScenarioTrigger::Kind;
    switch (t.kind) {
    case K::connect: return "at connect";
    case K::login: return "at login";
    case K::before_command: return "before command " + std::to_string(t.command);
    case K::after_command: return "after command " + std::to_string(t.command);
    case K::before_verb:
    case K::after_verb: {
        std::string out = t.kind == K::before_verb ? "before " : "after ";
        out += t.verb;
        if (t.argument) out += " " + std::to_string(*t.argument);
        return out;
    }
    }
    return "";
}

std::string render_action(const ScenarioAction& action) {
    return std::visit(
        [](const auto& a) -> std::string {
            using T = std::decay_t<decltype(a)>;
            if constexpr (std::is_same_v<T, ScenarioExpunge>)
                return "expunge " + std::to_string(a.message);
            else if constexpr (std::is_same_v<T, ScenarioRename>)
                return "rename " + std::to_string(a.message);
            else if constexpr (std::is_same_v<T, ScenarioDeliver>)
                return "deliver";
            else if constexpr (std::is_same_v<T, ScenarioRefuse>)
                return a.code == RespCode::none
                           ? "-ERR " + a.text
                           : "-ERR [" + std::string(code_text(a.code)) + "] " + a.text;
            else if constexpr (std::is_same_v<T, ScenarioCut>)
                return "cut " + std::to_string(a.octets);
            else if constexpr (std::is_same_v<T, ScenarioDelay>)
                return "delay " + std::to_string(a.milliseconds);
            else
                return "close";
        },
        action);
}

// The verb of a client's command line, upper case, and its first argument
// when that is a number.
struct CommandWords {
    std::string verb;
    std::optional<std::uint64_t> argument;
};

CommandWords command_words(std::string_view line) {
    auto w = words(line);
    CommandWords out;
    if (w.empty()) return out;
    out.verb = ascii_upper(w[0]);
    if (w.size() > 1) {
        auto n = number("", w[1], 0, std::numeric_limits<std::uint64_t>::max());
        if (n) out.argument = *n;
    }
    return out;
}

bool matches(const ScenarioTrigger& t, const ScenarioMoment& m, const CommandWords& c) {
    using K = ScenarioTrigger::Kind;
    using M = ScenarioMoment::Kind;
    switch (t.kind) {
    case K::connect: return m.kind == M::connect;
    case K::login:
        return m.kind == M::before &&
               (c.verb == "PASS" || c.verb == "APOP" || c.verb == "AUTH");
    case K::before_command: return m.kind == M::before && m.command == t.command;
    case K::after_command: return m.kind == M::after && m.command == t.command;
    case K::before_verb:
    case K::after_verb:
        return m.kind == (t.kind == K::before_verb ? M::before : M::after) &&
               c.verb == t.verb && (!t.argument || c.argument == t.argument);
    }
    return false;
}

} // namespace

tl::expected<Scenario, ScenarioError> parse_scenario(std::string_view text) {
    Scenario scenario;
    std::size_t number_of_line = 0;
    std::size_t consumed = 0;
    while (consumed < text.size()) {
        ++number_of_line;
        auto end = text.find('\n', consumed);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(consumed, end - consumed);
        consumed = end + 1;
        if (end > k_max_scenario_bytes)
            return tl::unexpected(ScenarioError{
                number_of_line, "the file passes " + std::to_string(k_max_scenario_bytes) +
                                    " octets here; a scenario is a few rules"});
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() > k_max_scenario_line)
            return tl::unexpected(ScenarioError{
                number_of_line,
                "the line is longer than " + std::to_string(k_max_scenario_line) + " octets"});
        const std::string_view content = trim(line);
        if (content.empty() || content.front() == '#') continue;
        auto rule = parse_rule(content);
        if (!rule) return tl::unexpected(ScenarioError{number_of_line, rule.error()});
        if (scenario.rules.size() == k_max_scenario_rules)
            return tl::unexpected(ScenarioError{
                number_of_line,
                "more than " + std::to_string(k_max_scenario_rules) + " rules"});
        rule->line = number_of_line;
        scenario.rules.push_back(std::move(*rule));
    }
    return scenario;
}

std::string render(const ScenarioRule& rule) {
    return render_trigger(rule.trigger) + ": " + render_action(rule.action);
}

std::string render(const Scenario& scenario) {
    std::string out;
    for (const auto& rule : scenario.rules) out += render(rule) + "\n";
    return out;
}

std::ostream& operator<<(std::ostream& out, const ScenarioRule& rule) {
    return out << "line " << rule.line << ": " << render(rule);
}

ScenarioFiring fire(const Scenario& scenario, ScenarioProgress progress,
                    const ScenarioMoment& moment) {
    ScenarioFiring out;
    progress.fired.resize(scenario.rules.size(), false);
    const CommandWords words_of_line = command_words(moment.line);
    for (std::size_t i = 0; i < scenario.rules.size(); ++i) {
        if (progress.fired[i] || !matches(scenario.rules[i].trigger, moment, words_of_line))
            continue;
        progress.fired[i] = true;
        out.rules.push_back(scenario.rules[i]);
    }
    out.progress = std::move(progress);
    return out;
}

} // namespace pop3::core
