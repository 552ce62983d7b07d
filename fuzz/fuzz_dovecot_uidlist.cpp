// dovecot-uidlist files and pop3_uidl_format strings from arbitrary bytes:
// the parser never crashes and every record it returns is usable; a format
// check_uidl_format() accepts always expands, and text without '%' is kept.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "pop3/core/dovecot_uidlist.hpp"

using namespace pop3::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto list = parse_dovecot_uidlist(text)) {
        FUZZ_CHECK(text.find('\n') != std::string_view::npos); // a header line
        for (const auto& [name, record] : list->by_name) {
            FUZZ_CHECK(!name.empty());
            FUZZ_CHECK(name.find(':') == std::string::npos);
            FUZZ_CHECK(name.find('\n') == std::string::npos);
            FUZZ_CHECK(record.uid > 0);
        }
    } else {
        FUZZ_CHECK(!list.error().empty());
    }
    // The first line as a format.
    const std::string_view format = text.substr(0, text.find('\n'));
    const UidlVariables vars{static_cast<std::uint32_t>(size), static_cast<std::uint32_t>(size * 7u),
                             text.substr(0, 80), ""};
    if (check_uidl_format(format)) {
        const std::string out = expand_uidl_format(format, vars);
        if (format.find('%') == std::string_view::npos) FUZZ_CHECK(out == format);
    }
    return 0;
}
