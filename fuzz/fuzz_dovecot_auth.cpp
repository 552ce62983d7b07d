// Lines from Dovecot's auth service from arbitrary bytes (what a broken or
// impostor service could send pop3d): split into lines, parsed, the
// handshake accumulated, userdb mail locations resolved. No crash; a line
// accepted renders to a line that parses to the same; a resolved mail
// location is absolute and has no . or .. component.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "pop3/core/dovecot_auth.hpp"

using namespace pop3::core::dovecot;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    LineReader reader;
    Handshake handshake;
    // Fed in two pieces, split where the first octet says.
    const std::size_t cut = size == 0 ? 0 : data[0] % (size + 1);
    reader.feed(bytes.substr(0, cut));
    for (int round = 0; round < 2; ++round) {
        while (auto line = reader.next()) {
            if (!*line) {
                FUZZ_CHECK(!line->error().empty());
                break;
            }
            auto parsed = parse_server_line(**line);
            if (!parsed) {
                FUZZ_CHECK(!parsed.error().empty());
                continue;
            }
            FUZZ_CHECK(parse_server_line(render(*parsed)) == parsed);
            (void)add(handshake, *parsed);
            if (const auto* user = std::get_if<User>(&*parsed)) {
                auto mail = param(user->params, "mail");
                auto home = param(user->params, "home");
                if (mail) {
                    auto path = maildir_inbox(*mail, home.value_or(""), user->name);
                    if (path) {
                        FUZZ_CHECK(!path->empty() && (*path)[0] == '/');
                        FUZZ_CHECK((*path + "/").find("/../") == std::string::npos);
                        FUZZ_CHECK((*path + "/").find("/./") == std::string::npos);
                    }
                }
            }
        }
        if (round == 0) reader.feed(bytes.substr(cut));
    }
    return 0;
}
