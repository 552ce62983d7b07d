// Rendering responses to wire bytes (RFC 1939 section 3, RFC 2449 section 8).

#include "pop3/core/limits.hpp"
#include "pop3/core/response.hpp"

namespace pop3::core {

Response ok(std::string text) { return Response{true, RespCode::none, std::move(text), false, {}}; }

Response err(std::string text, RespCode code) {
    return Response{false, code, std::move(text), false, {}};
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

void render_to(const Response& response, std::string& out) {
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
    if (!response.multiline) return;
    // One allocation for the whole body, not a doubling series of copies.
    std::size_t body = 3;
    for (const auto& line : response.body) body += line.size() + 3;
    out.reserve(out.size() + body);
    for (const auto& line : response.body) {
        if (!line.empty() && line[0] == '.') out += '.';
        out += line;
        out += "\r\n";
    }
    out += ".\r\n";
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
