// Server responses as values, and their rendering to wire bytes.
#pragma once
#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "pop3/core/mailbox.hpp"

namespace pop3::core {

// RFC 2449 section 8 / RFC 3206 extended response codes.
enum class RespCode { none, auth, sys_temp, sys_perm, in_use, login_delay };

// The body of LIST or UIDL without an argument (RFC 1939 section 5): one
// "n size" or "n unique-id" line per visible message of `view`, in message
// order. Kept as the view, not as lines: a listing of 100,000 messages is
// rendered straight to the wire, a piece at a time (issue 16).
struct ScanListing {
    bool uidl = false;
    MailboxView view;
    bool operator==(const ScanListing&) const = default;
};

// A status line, optionally followed by a multi-line body (CAPA, LIST, UIDL).
// Body lines are stored unstuffed; render() byte-stuffs and terminates them.
// A multi-line response has either `body` lines or a `listing`.
struct Response {
    bool ok = true;
    RespCode code = RespCode::none;
    std::string text;
    bool multiline = false;
    std::vector<std::string> body;
    // A SASL continuation "+ text" (RFC 5034 section 4), not +OK/-ERR.
    bool continuation = false;
    std::optional<ScanListing> listing;
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

// The body lines of a multi-line response, unstuffed, whether it holds
// them or a listing (tests, traces); their number without making them.
[[nodiscard]] std::vector<std::string> body_lines(const Response& response);
// One scan listing line, "n size" (LIST) or "n unique-id" (UIDL), of the
// message at `index` (number index + 1), without CRLF: what LIST n and
// UIDL n answer and what each line of a listing says (RFC 1939 section 5).
void append_scan_line(std::string& out, std::size_t index, bool uidl,
                      const MessageRef& message);
[[nodiscard]] std::size_t body_line_count(const Response& response);

// Renders one response in pieces, so that a long listing never sits whole
// in memory: each next() appends at least `chunk` octets (at least one;
// fewer only for the last piece) to `out`, the same bytes render_to()
// gives, in order. `response` must outlive the writer.
class ResponseWriter {
public:
    explicit ResponseWriter(const Response& response) : response_(&response) {}
    ResponseWriter(Response&&) = delete; // would outlive a temporary
    // False once everything was appended (then `out` is left alone).
    bool next(std::string& out, std::size_t chunk);

private:
    const Response* response_;
    enum class Part { status, body, done } part_ = Part::status;
    std::size_t line_ = 0; // next body line, or next message index of a listing
};

std::ostream& operator<<(std::ostream& out, const Response& response);

} // namespace pop3::core
