// The command parser and the line framer on arbitrary client bytes: no
// crash, a command or a clean error for every line, nothing longer than the
// limit ever framed as a command, and log redaction that hides secrets.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "pop3/core/command.hpp"
#include "pop3/core/framing.hpp"
#include "pop3/core/limits.hpp"

using namespace pop3::core;

namespace {

void check_line(std::string_view line) {
    auto command = parse_command(line);
    if (command) {
        std::ostringstream printed;
        printed << *command;
        FUZZ_CHECK(!keyword(*command).empty());
        // A command line is never longer than RFC 2449's limit.
        FUZZ_CHECK(line.size() + 2 <= k_max_command_line);
        FUZZ_CHECK(line.find('\0') == std::string_view::npos);
        // Secrets are never printed (logs, shrunk counterexamples).
        if (std::holds_alternative<Pass>(*command) ||
            std::holds_alternative<Apop>(*command))
            FUZZ_CHECK(printed.str().find("********") != std::string::npos);
    } else {
        FUZZ_CHECK(!command.error().message.empty());
        FUZZ_CHECK(command.error().message.find('\n') == std::string::npos);
        FUZZ_CHECK(command.error().message.find('\r') == std::string::npos);
    }
    auto shown = redacted_line(line);
    FUZZ_CHECK(shown.size() <= 120);
    for (char c : shown) {
        auto u = static_cast<unsigned char>(c);
        FUZZ_CHECK(u >= 0x20 && u != 0x7f);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    check_line(bytes);
    // The same bytes as a stream, cut into chunks at every 7th octet.
    LineFramer framer;
    std::size_t framed = 0;
    for (std::size_t pos = 0; pos < bytes.size(); pos += 7) {
        framer.feed(bytes.substr(pos, 7));
        while (auto frame = framer.next()) {
            if (auto* line = std::get_if<FramedLine>(&*frame)) {
                FUZZ_CHECK(line->text.size() + 1 <= k_max_command_line);
                FUZZ_CHECK(line->text.find('\n') == std::string::npos);
                check_line(line->text);
            } else {
                FUZZ_CHECK(std::get<OverlongLine>(*frame).length >=
                           k_max_command_line);
            }
            ++framed;
        }
        // Bounded buffering: once drained, less than one line is held.
        FUZZ_CHECK(framer.pending() < k_max_command_line);
    }
    FUZZ_CHECK(framed <= bytes.size());
    return 0;
}
