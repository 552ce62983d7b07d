// One passwd-file line (Dovecot format) from arbitrary bytes: no crash, and
// an accepted entry is well-formed; an error never quotes the line.
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "pop3/core/passwd_line.hpp"

using namespace pop3::core;

namespace {
// Stands for a password: planted in the line, it must never be quoted.
constexpr std::string_view k_marker = "Qz7SecretMarker";
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view raw(reinterpret_cast<const char*>(data), size);
    // The marker goes after the first ':' (where a secret starts), or after
    // the first byte when there is none; so it can land in any field once
    // the fuzzer adds or removes colons around it.
    std::string line(raw);
    auto colon = line.find(':');
    line.insert(colon == std::string::npos ? std::min<std::size_t>(1, line.size())
                                           : colon + 1,
                k_marker);
    auto parsed = parse_passwd_line(line);
    if (!parsed) {
        FUZZ_CHECK(!parsed.error().empty());
        // Error texts name what was wrong, never a field: a secret pushed
        // into a later field by a stray ':' must not reach the log.
        FUZZ_CHECK(parsed.error().find("Qz7") == std::string::npos);
        return 0;
    }
    if (!*parsed) return 0; // blank or comment
    const PasswdEntry& e = **parsed;
    FUZZ_CHECK(!e.user.empty());
    FUZZ_CHECK(e.user.find(':') == std::string::npos);
    FUZZ_CHECK(e.user.size() < line.size());
    for (char c : e.scheme) FUZZ_CHECK(!(c >= 'a' && c <= 'z'));
    // Parsing is a function of the line: the same line, the same entry.
    auto again = parse_passwd_line(line);
    FUZZ_CHECK(again && *again && **again == e);
    return 0;
}
