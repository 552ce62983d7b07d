// A client's reading of server responses from wire bytes (RFC 1939 section 3,
// RFC 2449 section 8), written from the RFCs and independent of render():
// the status line, its response code, then for multi-line responses the
// un-stuffed body up to the terminating ".CRLF".
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pop3/core/response.hpp"

namespace pop3::model {

// The RFC 2449 / RFC 3206 codes as the RFCs spell them.
inline std::string_view rfc_code_name(core::RespCode code) {
    switch (code) {
    case core::RespCode::none: return "";
    case core::RespCode::auth: return "AUTH";
    case core::RespCode::sys_temp: return "SYS/TEMP";
    case core::RespCode::sys_perm: return "SYS/PERM";
    case core::RespCode::in_use: return "IN-USE";
    case core::RespCode::login_delay: return "LOGIN-DELAY";
    }
    return "?";
}

inline std::optional<core::RespCode> rfc_code(std::string_view name) {
    for (auto c : {core::RespCode::auth, core::RespCode::sys_temp,
                   core::RespCode::sys_perm, core::RespCode::in_use,
                   core::RespCode::login_delay})
        if (rfc_code_name(c) == name) return c;
    return std::nullopt;
}

// Reads one response that must span all of `wire`; nullopt if the bytes
// are not exactly one well-formed response. `multiline` says whether the
// client expects a body (it knows from the command it sent); a multi-line
// -ERR has no body.
inline std::optional<core::Response> read_response(std::string_view wire,
                                                   bool multiline) {
    auto eol = wire.find("\r\n");
    if (eol == std::string_view::npos) return std::nullopt;
    auto status = wire.substr(0, eol);
    wire.remove_prefix(eol + 2);
    if (status.size() + 2 > 512) return std::nullopt;
    for (char c : status)
        if (c == '\r' || c == '\n' || c == '\0') return std::nullopt;
    core::Response r;
    if (status.substr(0, 2) == "+ ") {
        r.continuation = true;
        r.text = std::string(status.substr(2));
        return wire.empty() ? std::optional<core::Response>(r) : std::nullopt;
    }
    if (status.substr(0, 3) == "+OK") {
        status.remove_prefix(3);
    } else if (status.substr(0, 4) == "-ERR") {
        r.ok = false;
        status.remove_prefix(4);
    } else {
        return std::nullopt;
    }
    if (!status.empty()) {
        if (status[0] != ' ') return std::nullopt;
        status.remove_prefix(1);
    }
    if (status.substr(0, 1) == "[") {
        auto close = status.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        auto code = rfc_code(status.substr(1, close - 1));
        if (!code) return std::nullopt;
        r.code = *code;
        status.remove_prefix(close + 1);
        if (!status.empty()) {
            if (status[0] != ' ') return std::nullopt;
            status.remove_prefix(1);
        }
    }
    r.text = std::string(status);
    if (!multiline || !r.ok) {
        return wire.empty() ? std::optional<core::Response>(r) : std::nullopt;
    }
    r.multiline = true;
    while (true) {
        eol = wire.find("\r\n");
        if (eol == std::string_view::npos) return std::nullopt; // unterminated
        auto line = wire.substr(0, eol);
        wire.remove_prefix(eol + 2);
        if (line == ".") break;
        if (!line.empty() && line[0] == '.') line.remove_prefix(1);
        r.body.emplace_back(line);
    }
    return wire.empty() ? std::optional<core::Response>(r) : std::nullopt;
}

// What a client must read back from render(r): the status text with any CR,
// LF or NUL as a space and the status line cut to 512 octets with CRLF.
inline core::Response as_read(core::Response r) {
    if (r.continuation) return r;
    for (auto& c : r.text)
        if (c == '\r' || c == '\n' || c == '\0') c = ' ';
    std::size_t prefix = (r.ok ? 3 : 4) +
                         (r.code == core::RespCode::none
                              ? 0
                              : rfc_code_name(r.code).size() + 3) +
                         (r.text.empty() ? 0 : 1);
    if (prefix + r.text.size() > 510) r.text.resize(510 - prefix);
    if (!r.multiline) r.body.clear();
    if (r.listing) { // the lines a listing stands for, as ListCmd checks them
        r.body = core::body_lines(r);
        r.listing.reset();
    }
    return r;
}

} // namespace pop3::model
