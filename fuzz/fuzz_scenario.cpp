// A --scenario file from arbitrary bytes: no crash; an error names a line
// of the text; what parses renders to text that parses to the same rules;
// and firing never reports a rule twice.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "pop3/core/scenario.hpp"

using namespace pop3::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = parse_scenario(text);
    if (!parsed) {
        const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) +
                           (!text.empty() && text.back() != '\n' ? 1 : 0);
        FUZZ_CHECK(parsed.error().line >= 1 && parsed.error().line <= lines);
        FUZZ_CHECK(!parsed.error().message.empty());
        return 0;
    }
    auto again = parse_scenario(render(*parsed));
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(again->rules.size() == parsed->rules.size());
    for (std::size_t i = 0; i < parsed->rules.size(); ++i) {
        FUZZ_CHECK(again->rules[i].line == i + 1);
        FUZZ_CHECK(again->rules[i].trigger == parsed->rules[i].trigger);
        FUZZ_CHECK(again->rules[i].action == parsed->rules[i].action);
    }
    // The text's own lines as client commands: no rule fires twice.
    ScenarioProgress progress;
    std::vector<int> times(parsed->rules.size() + 1, 0);
    std::uint64_t command = 0;
    std::size_t at = 0;
    auto note = [&](const ScenarioFiring& f) {
        for (const auto& r : f.rules) {
            auto index = static_cast<std::size_t>(
                std::find(parsed->rules.begin(), parsed->rules.end(), r) - parsed->rules.begin());
            FUZZ_CHECK(index < parsed->rules.size());
            FUZZ_CHECK(++times[index] == 1);
        }
    };
    auto f = fire(*parsed, std::move(progress), {ScenarioMoment::Kind::connect, 0, ""});
    note(f);
    progress = std::move(f.progress);
    while (at < text.size() && command < 64) {
        auto end = std::min(text.find('\n', at), text.size());
        const std::string_view line = text.substr(at, end - at);
        at = end + 1;
        ++command;
        for (auto kind : {ScenarioMoment::Kind::before, ScenarioMoment::Kind::after}) {
            auto g = fire(*parsed, std::move(progress), {kind, command, line});
            note(g);
            progress = std::move(g.progress);
        }
    }
    return 0;
}
