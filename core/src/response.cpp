// Rendering responses to wire bytes (RFC 1939 section 3, RFC 2449 section 8).

#include <algorithm>
#include <charconv>
#include <cstdint>

#include <range/v3/view/filter.hpp>
#include <range/v3/view/iota.hpp>

#include "pop3/core/limits.hpp"
#include "pop3/core/response.hpp"

namespace pop3::core {

Response ok(std::string text) {
    Response r;
    r.text = std::move(text);
    return r;
}

Response err(std::string text, RespCode code) {
    Response r;
    r.ok = false;
    r.code = code;
    r.text = std::move(text);
    return r;
}

std::string_view code_text(RespCode code) {
    switch (code) {
    case RespCode::none: return "";
    case RespCode::auth: return "AUTH";
    case RespCode::sys_temp: return "SYS/TEMP";
    case RespCode::sys_perm: return "SYS/PERM";
    case RespCode::in_use: return "IN-USE";
    case RespCode::login_delay: return "LOGIN-DELAY";
    }
    return "";
}

Response continuation(std::string base64_text) {
    Response r = ok(std::move(base64_text));
    r.continuation = true;
    return r;
}

namespace {

// The status line: "+OK text", "-ERR [CODE] text" or "+ text", CRLF.
void render_status(const Response& response, std::string& out) {
    std::size_t line_start = out.size();
    if (response.continuation) {
        out += "+ ";
        out += response.text;
        out += "\r\n";
        return;
    }
    out += response.ok ? "+OK" : "-ERR";
    if (response.code != RespCode::none) {
        out += " [";
        out += code_text(response.code);
        out += ']';
    }
    if (!response.text.empty()) {
        out += ' ';
        out += response.text;
    }
    // Never exceed 512 octets including CRLF, and never let a stray CR or LF
    // in a text split the line.
    for (std::size_t i = line_start; i < out.size(); ++i)
        if (out[i] == '\r' || out[i] == '\n' || out[i] == '\0') out[i] = ' ';
    if (out.size() - line_start > k_max_response_line - 2)
        out.resize(line_start + k_max_response_line - 2);
    out += "\r\n";
}

// The indices of the messages a listing shows, from `from` on, ascending.
auto visible_from(const MailboxView& view, std::size_t from) {
    return ranges::views::iota(from, view.size()) |
           ranges::views::filter([&view](std::size_t i) { return view.visible(i); });
}

// A scan line and CRLF; it starts with a digit, so it is never stuffed.
void append_listing_line(std::string& out, std::size_t index, bool uidl,
                         const MessageRef& message) {
    append_scan_line(out, index, uidl, message);
    out += "\r\n";
}

// Appends listing lines from message index `from` until `out` holds at
// least `limit` octets; the index to go on from, view.size() at the end.
std::size_t render_listing(const ScanListing& listing, std::size_t from,
                           std::size_t limit, std::string& out) {
    for (const std::size_t i : visible_from(listing.view, from)) {
        if (out.size() >= limit) return i;
        append_listing_line(out, i, listing.uidl, listing.view.info(i));
    }
    return listing.view.size();
}

void append_stuffed(std::string& out, std::string_view line) {
    if (!line.empty() && line[0] == '.') out += '.';
    out += line;
    out += "\r\n";
}

// The octets of a whole multi-line body, for one reservation.
std::size_t body_octets(const Response& response) {
    std::size_t octets = 3; // ".\r\n"
    if (response.listing) {
        const MailboxView& view = response.listing->view;
        for (const std::size_t i : visible_from(view, 0)) {
            const MessageRef m = view.info(i);
            octets += 24 + (response.listing->uidl ? m.uidl.size() : 20);
        }
        return octets;
    }
    for (const auto& line : response.body) octets += line.size() + 3;
    return octets;
}

} // namespace

void append_scan_line(std::string& out, std::size_t index, bool uidl,
                      const MessageRef& message) {
    char digits[48];
    char* end = std::to_chars(digits, digits + 20, index + 1).ptr;
    *end++ = ' ';
    if (!uidl) end = std::to_chars(end, end + 20, message.size).ptr;
    out.append(digits, end);
    if (uidl) out.append(message.uidl);
}

bool ResponseWriter::next(std::string& out, std::size_t chunk) {
    const Response& r = *response_;
    if (part_ == Part::done) return false;
    const std::size_t limit = out.size() + std::max<std::size_t>(chunk, 1);
    if (part_ == Part::status) {
        render_status(r, out);
        part_ = r.multiline ? Part::body : Part::done;
    }
    if (part_ == Part::body) {
        bool ended = false;
        if (r.listing) {
            line_ = render_listing(*r.listing, line_, limit, out);
            ended = line_ == r.listing->view.size();
        } else {
            while (line_ < r.body.size() && out.size() < limit)
                append_stuffed(out, r.body[line_++]);
            ended = line_ == r.body.size();
        }
        if (ended) {
            out += ".\r\n";
            part_ = Part::done;
        }
    }
    return true;
}

void render_to(const Response& response, std::string& out) {
    // One allocation for the whole body, not a doubling series of copies.
    if (response.multiline) out.reserve(out.size() + k_max_response_line + body_octets(response));
    ResponseWriter writer(response);
    while (writer.next(out, SIZE_MAX / 2)) {
    }
}

std::vector<std::string> body_lines(const Response& response) {
    if (!response.listing) return response.body;
    std::vector<std::string> lines;
    lines.reserve(body_line_count(response));
    std::string line;
    const MailboxView& view = response.listing->view;
    for (const std::size_t i : visible_from(view, 0)) {
        line.clear();
        append_scan_line(line, i, response.listing->uidl, view.info(i));
        lines.push_back(line);
    }
    return lines;
}

std::size_t body_line_count(const Response& response) {
    if (!response.listing) return response.body.size();
    return static_cast<std::size_t>(response.listing->view.visible_count());
}

std::string render(const Response& response) {
    std::string out;
    render_to(response, out);
    return out;
}

std::ostream& operator<<(std::ostream& out, const Response& response) {
    auto wire = render(response);
    // Show CRLF as line breaks so failing property tests read as transcripts.
    for (std::size_t i = 0; i < wire.size(); ++i) {
        if (wire[i] == '\r') continue;
        out << wire[i];
    }
    return out;
}

} // namespace pop3::core
