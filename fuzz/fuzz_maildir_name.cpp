// Maildir file names and UIDLs: the name parser, the base-name rule, the
// Seen flag, and the UIDL encoder on arbitrary names.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "pop3/core/limits.hpp"
#include "pop3/core/maildir_name.hpp"
#include "pop3/core/uidl.hpp"

using namespace pop3::core;

namespace {

void check_uidl(std::string_view base) {
    auto uidl = uidl_for(base);
    // RFC 1939 section 7: 1 to 70 characters in the range 0x21 to 0x7E.
    FUZZ_CHECK(!uidl.empty() && uidl.size() <= k_max_uidl);
    for (char c : uidl) FUZZ_CHECK(c >= 0x21 && c <= 0x7e);
    FUZZ_CHECK(uidl_for(base) == uidl); // stable across sessions
    // A base name that is already a valid UIDL is used as it is, so UIDLs
    // agree with other servers reading the same Maildir.
    bool printable = !base.empty() && base.size() <= k_max_uidl &&
                     std::all_of(base.begin(), base.end(), [](unsigned char c) {
                         return c >= 0x21 && c <= 0x7e;
                     });
    // Except a name shaped like an encoded UIDL ('~' and 16 lowercase hex
    // digits at the end): it is encoded too, so it cannot take another
    // name's encoded form.
    const bool encoded_shape =
        base.size() >= 17 && base[base.size() - 17] == '~' &&
        std::all_of(base.end() - 16, base.end(), [](char c) {
            return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        });
    if (printable && !encoded_shape) FUZZ_CHECK(uidl == base);
    if (encoded_shape) FUZZ_CHECK(uidl != base);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view name(reinterpret_cast<const char*>(data), size);
    auto base = maildir_base_name(name);
    FUZZ_CHECK(name.substr(0, base.size()) == base);
    FUZZ_CHECK(base.find(':') == std::string_view::npos);
    FUZZ_CHECK(base.find(',') == std::string_view::npos);
    check_uidl(base);
    auto parsed = parse_maildir_name(name);
    if (!parsed) return 0;
    FUZZ_CHECK(!name.empty() && name.front() != '.');
    FUZZ_CHECK(name.find('/') == std::string_view::npos);
    FUZZ_CHECK(name.find('\0') == std::string_view::npos);
    FUZZ_CHECK(parsed->base == base);
    // Marking Seen keeps the message's identity (its base name, hence its
    // UIDL), puts 'S' among the flags, keeps them sorted, and is idempotent.
    auto seen = with_flag(name, 'S');
    FUZZ_CHECK(maildir_base_name(seen) == base);
    auto reparsed = parse_maildir_name(seen);
    FUZZ_CHECK(reparsed && reparsed->flags);
    FUZZ_CHECK(reparsed->flags->find('S') != std::string_view::npos);
    if (!parsed->flags ||
        std::is_sorted(parsed->flags->begin(), parsed->flags->end()))
        FUZZ_CHECK(std::is_sorted(reparsed->flags->begin(),
                                  reparsed->flags->end()));
    FUZZ_CHECK(with_flag(seen, 'S') == seen);
    return 0;
}
