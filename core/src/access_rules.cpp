// Parsing and matching the access table. Longest prefix wins, as in a
// routing table; the table is small (one line per network), so a linear
// scan is the whole lookup.
#include <charconv>

#include "pop3/core/access_rules.hpp"

namespace pop3::core {

std::optional<unsigned> AccessRules::level_for(const IpAddress& address) const {
    const AccessRule* best = nullptr;
    for (const auto& r : rules)
        if (contains(r.prefix, address) && (!best || r.prefix.bits > best->prefix.bits)) best = &r;
    if (!best) return std::nullopt;
    return best->level;
}

tl::expected<AccessRules, std::string> parse_access_rules(std::string_view text) {
    AccessRules out;
    std::size_t number = 0;
    while (!text.empty()) {
        ++number;
        auto newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        auto is_blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
        while (!line.empty() && is_blank(line.front())) line.remove_prefix(1);
        while (!line.empty() && is_blank(line.back())) line.remove_suffix(1);
        if (line.empty()) continue;
        auto where = "line " + std::to_string(number) + ": ";
        std::size_t gap = 0;
        while (gap < line.size() && !is_blank(line[gap])) ++gap;
        auto prefix = parse_prefix(line.substr(0, gap));
        if (!prefix) return tl::unexpected(where + prefix.error());
        auto rest = line.substr(gap);
        while (!rest.empty() && is_blank(rest.front())) rest.remove_prefix(1);
        unsigned level = 0;
        auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), level);
        if (rest.empty() || (rest.size() > 1 && rest[0] == '0') || ec != std::errc{} ||
            end != rest.data() + rest.size() || level > 1'000'000)
            return tl::unexpected(where + "expected \"PREFIX LEVEL\" with a level from 0 to "
                                          "1000000");
        for (const auto& r : out.rules)
            if (r.prefix == *prefix)
                return tl::unexpected(where + "the prefix is already in the table");
        out.rules.push_back({*prefix, level});
    }
    return out;
}

} // namespace pop3::core
