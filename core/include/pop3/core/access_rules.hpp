// The --access-rules table: the access level per client address, in the
// prefix-table form of the original suite's TCPRULE ("127.0.0.0/8 2"),
// applied to the real client behind a balancer, where tcpserver's own
// rules see only the balancer.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "pop3/core/ip_address.hpp"

namespace pop3::core {

struct AccessRule {
    IpPrefix prefix;
    unsigned level = 0; // 0 = denied
    bool operator==(const AccessRule&) const = default;
};

struct AccessRules {
    std::vector<AccessRule> rules;
    // The level of the longest prefix that holds `address`, nullopt when
    // none does (the caller falls back to /ACCESSLEVEL, ACCESSLEVEL or 1).
    [[nodiscard]] std::optional<unsigned> level_for(const IpAddress& address) const;
};

// One rule per line: a prefix (or a bare address), blanks, a level 0 to
// 1000000; '#' starts a comment; blank lines are skipped. The same prefix
// twice is an error (which should win?). The error names the line.
[[nodiscard]] tl::expected<AccessRules, std::string> parse_access_rules(std::string_view text);

} // namespace pop3::core
