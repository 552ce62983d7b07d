// Scenario file laws (scenario.hpp): a rendered scenario parses back to its
// rules; any text either parses or fails naming one of its own lines; and a
// rule fires at most once however the moments come.
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <algorithm>

#include "pop3/core/scenario.hpp"

using namespace pop3::core;

namespace {

using Kind = ScenarioTrigger::Kind;

rc::Gen<std::uint64_t> small_number() {
    return rc::gen::oneOf(rc::gen::inRange<std::uint64_t>(1, 10),
                          rc::gen::element<std::uint64_t>(1, 999'999'999, 1'000'000'000));
}

rc::Gen<ScenarioTrigger> trigger() {
    auto verb = rc::gen::element<std::string>("STAT", "LIST", "UIDL", "RETR", "TOP", "DELE",
                                              "NOOP", "RSET", "QUIT", "CAPA");
    auto numbered = rc::gen::element<std::string>("LIST", "UIDL", "RETR", "TOP", "DELE");
    return rc::gen::oneOf(
        rc::gen::just(ScenarioTrigger{Kind::connect, "", std::nullopt, 0}),
        rc::gen::just(ScenarioTrigger{Kind::login, "", std::nullopt, 0}),
        rc::gen::map(rc::gen::pair(rc::gen::arbitrary<bool>(), small_number()),
                     [](const std::pair<bool, std::uint64_t>& p) {
                         return ScenarioTrigger{p.first ? Kind::before_command
                                                        : Kind::after_command,
                                                "", std::nullopt, p.second};
                     }),
        rc::gen::map(rc::gen::pair(rc::gen::arbitrary<bool>(), verb),
                     [](const std::pair<bool, std::string>& p) {
                         return ScenarioTrigger{p.first ? Kind::before_verb : Kind::after_verb,
                                                p.second, std::nullopt, 0};
                     }),
        rc::gen::map(rc::gen::tuple(rc::gen::arbitrary<bool>(), numbered, small_number()),
                     [](const std::tuple<bool, std::string, std::uint64_t>& t) {
                         return ScenarioTrigger{std::get<0>(t) ? Kind::before_verb
                                                               : Kind::after_verb,
                                                std::get<1>(t), std::get<2>(t), 0};
                     }));
}

// Printable text without blanks at either end and not starting with '['.
rc::Gen<std::string> refusal_text() {
    return rc::gen::map(
        rc::gen::pair(rc::gen::inRange<char>('!', '['),
                      rc::gen::container<std::string>(rc::gen::inRange<char>(' ', '\x7F'))),
        [](const std::pair<char, std::string>& p) {
            std::string text = std::string(1, p.first) + p.second.substr(0, 150);
            while (text.back() == ' ') text.pop_back();
            return text;
        });
}

rc::Gen<ScenarioAction> action(bool mailbox_open) {
    auto code = rc::gen::element(RespCode::none, RespCode::in_use, RespCode::sys_temp,
                                 RespCode::sys_perm, RespCode::login_delay, RespCode::auth);
    auto refuse = rc::gen::map(rc::gen::pair(code, refusal_text()),
                               [](const std::pair<RespCode, std::string>& p) {
                                   return ScenarioAction{ScenarioRefuse{p.first, p.second}};
                               });
    auto cut = rc::gen::map(rc::gen::inRange<std::uint64_t>(0, 100'000),
                            [](std::uint64_t k) { return ScenarioAction{ScenarioCut{k}}; });
    auto delay = rc::gen::map(rc::gen::inRange<std::uint32_t>(0, 60'001), [](std::uint32_t ms) {
        return ScenarioAction{ScenarioDelay{ms}};
    });
    auto close = rc::gen::just(ScenarioAction{ScenarioClose{}});
    if (!mailbox_open) return rc::gen::oneOf(refuse, cut, delay, close);
    return rc::gen::oneOf(
        refuse, cut, delay, close,
        rc::gen::map(small_number(),
                     [](std::uint64_t n) { return ScenarioAction{ScenarioExpunge{n}}; }),
        rc::gen::map(small_number(),
                     [](std::uint64_t n) { return ScenarioAction{ScenarioRename{n}}; }),
        rc::gen::just(ScenarioAction{ScenarioDeliver{}}));
}

rc::Gen<ScenarioRule> rule() {
    return rc::gen::mapcat(trigger(), [](const ScenarioTrigger& t) {
        const bool open = t.kind != Kind::connect && t.kind != Kind::login;
        return rc::gen::map(action(open), [t](const ScenarioAction& a) {
            return ScenarioRule{0, t, a};
        });
    });
}

std::size_t line_count(const std::string& text) {
    auto n = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
    return n + (!text.empty() && text.back() != '\n' ? 1 : 0);
}

} // namespace

TEST_CASE("scenario file laws", "[props]") {
    rc::prop("a rendered scenario parses back to the same rules, numbered from 1", [] {
        auto rules = *rc::gen::container<std::vector<ScenarioRule>>(rule());
        Scenario scenario{rules};
        for (std::size_t i = 0; i < scenario.rules.size(); ++i) scenario.rules[i].line = i + 1;
        auto parsed = parse_scenario(render(scenario));
        RC_ASSERT(parsed.has_value());
        RC_ASSERT(*parsed == scenario);
    });

    rc::prop("any text parses, or its error names one of its lines and says why", [] {
        // Rule-like text with random damage: words cut, octets replaced.
        auto rules = *rc::gen::container<std::vector<ScenarioRule>>(rule());
        std::string text = render(Scenario{rules});
        const auto damages = *rc::gen::inRange<std::size_t>(0, 6);
        for (std::size_t d = 0; d < damages && !text.empty(); ++d) {
            const auto at = *rc::gen::inRange<std::size_t>(0, text.size());
            text[at] = *rc::gen::element<char>(':', ' ', '\n', '\r', '#', '[', '\0', 'x',
                                               '9', '\xff', '-');
        }
        if (*rc::gen::arbitrary<bool>()) text += *rc::gen::arbitrary<std::string>();
        auto parsed = parse_scenario(text);
        if (parsed) {
            // What parses renders to text that parses to the same actions.
            auto again = parse_scenario(render(*parsed));
            RC_ASSERT(again.has_value());
            RC_ASSERT(again->rules.size() == parsed->rules.size());
            return;
        }
        RC_ASSERT(parsed.error().line >= 1);
        RC_ASSERT(parsed.error().line <= line_count(text));
        RC_ASSERT(!parsed.error().message.empty());
    });

    rc::prop("each rule fires at most once, whatever the moments", [] {
        auto rules = *rc::gen::container<std::vector<ScenarioRule>>(rule());
        Scenario scenario{rules};
        for (std::size_t i = 0; i < scenario.rules.size(); ++i) scenario.rules[i].line = i + 1;
        auto lines = *rc::gen::container<std::vector<std::string>>(rc::gen::element<std::string>(
            "RETR 1", "RETR 2", "LIST", "UIDL 3", "TOP 1 0", "DELE 2", "PASS x", "STAT", "QUIT"));
        ScenarioProgress progress;
        std::vector<std::size_t> times(scenario.rules.size() + 1, 0);
        std::uint64_t command = 0;
        auto count = [&](const ScenarioMoment& m) {
            auto firing = fire(scenario, std::move(progress), m);
            progress = std::move(firing.progress);
            RC_ASSERT(std::is_sorted(firing.rules.begin(), firing.rules.end(),
                                     [](const auto& a, const auto& b) { return a.line < b.line; }));
            for (const auto& r : firing.rules) ++times[r.line];
        };
        count({ScenarioMoment::Kind::connect, 0, ""});
        for (const auto& line : lines) {
            ++command;
            count({ScenarioMoment::Kind::before, command, line});
            count({ScenarioMoment::Kind::after, command, line});
        }
        count({ScenarioMoment::Kind::connect, 0, ""});
        RC_ASSERT(std::all_of(times.begin(), times.end(), [](std::size_t t) { return t <= 1; }));
        // A connect rule always fires, at the first moment.
        for (const auto& r : scenario.rules)
            if (r.trigger.kind == Kind::connect) RC_ASSERT(times[r.line] == 1U);
    });
}
