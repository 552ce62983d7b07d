// Server responses as values, and their rendering to wire bytes.
#pragma once
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace pop3::core {

// RFC 2449 section 8 / RFC 3206 extended response codes.
enum class RespCode { none, auth, sys_temp, sys_perm, in_use, login_delay };

// A status line, optionally followed by a multi-line body (CAPA, LIST, UIDL).
// Body lines are stored unstuffed; render() byte-stuffs and terminates them.
struct Response {
    bool ok = true;
    RespCode code = RespCode::none;
    std::string text;
    bool multiline = false;
    std::vector<std::string> body;
    // A SASL continuation "+ text" (RFC 5034 section 4), not +OK/-ERR.
    bool continuation = false;
    bool operator==(const Response&) const = default;
};
[[nodiscard]] Response continuation(std::string base64_text);

[[nodiscard]] Response ok(std::string text);
[[nodiscard]] Response err(std::string text, RespCode code = RespCode::none);

[[nodiscard]] std::string_view code_text(RespCode code); // "AUTH" etc.

// Wire form: "+OK text\r\n" or "-ERR [CODE] text\r\n", then for multi-line
// responses each body line byte-stuffed and CRLF-terminated, then ".\r\n".
// The status line is cut so that it never exceeds k_max_response_line octets.
[[nodiscard]] std::string render(const Response& response);
void render_to(const Response& response, std::string& out);

std::ostream& operator<<(std::ostream& out, const Response& response);

} // namespace pop3::core
