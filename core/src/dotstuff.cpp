// Multi-line bodies: memchr-driven scanning, whole runs appended at once, so
// the transformer costs little more than a copy.
#include <cstring>

#include "pop3/core/dotstuff.hpp"

namespace pop3::core {

void DotStuffer::feed(std::string_view chunk, std::string& out) {
    const char* p = chunk.data();
    const char* end = p + chunk.size();
    while (p < end) {
        if (at_line_start_ && *p == '.') out += '.';
        const auto* lf = static_cast<const char*>(
            std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
        if (lf == nullptr) {
            out.append(p, end);
            prev_cr_ = end[-1] == '\r';
            at_line_start_ = false;
            return;
        }
        bool had_cr = lf > p ? lf[-1] == '\r' : prev_cr_;
        out.append(p, lf);
        out += had_cr ? "\n" : "\r\n";
        p = lf + 1;
        at_line_start_ = true;
        prev_cr_ = false;
    }
}

void DotStuffer::finish(std::string& out) {
    if (!at_line_start_) out += "\r\n";
    out += ".\r\n";
    at_line_start_ = true;
    prev_cr_ = false;
}

void WireSizeCounter::feed(std::string_view chunk) {
    const char* p = chunk.data();
    const char* end = p + chunk.size();
    octets_ += chunk.size();
    while (p < end) {
        const auto* lf = static_cast<const char*>(
            std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
        if (lf == nullptr) {
            prev_cr_ = end[-1] == '\r';
            at_line_start_ = false;
            return;
        }
        bool had_cr = lf > p ? lf[-1] == '\r' : prev_cr_;
        if (!had_cr) ++octets_; // bare LF is sent as CRLF
        p = lf + 1;
        at_line_start_ = true;
        prev_cr_ = false;
    }
}

std::uint64_t WireSizeCounter::finish() const {
    return octets_ + (at_line_start_ ? 0 : 2);
}

std::size_t TopLimiter::accept(std::string_view chunk) {
    if (done_) return 0;
    std::size_t i = 0;
    while (i < chunk.size()) {
        const auto* lf = static_cast<const char*>(
            std::memchr(chunk.data() + i, '\n', chunk.size() - i));
        std::size_t stop = lf ? static_cast<std::size_t>(lf - chunk.data())
                              : chunk.size();
        // Track whether the current line is empty ("" or a lone "\r").
        for (std::size_t j = i; j < stop; ++j) {
            ++line_len_;
            if (!(line_len_ == 1 && chunk[j] == '\r')) line_empty_ = false;
            if (!line_empty_) break; // rest of the line cannot change that
        }
        if (!lf) return chunk.size();
        i = stop + 1;
        // A line just ended.
        if (in_header_) {
            if (line_empty_) {
                in_header_ = false; // the separator line is sent, then body
                if (body_left_ == 0) { done_ = true; return i; }
            }
        } else {
            if (--body_left_ == 0) { done_ = true; return i; }
        }
        line_empty_ = true;
        line_len_ = 0;
    }
    return chunk.size();
}

std::string stuff(std::string_view message) {
    DotStuffer stuffer;
    std::string out;
    stuffer.feed(message, out);
    stuffer.finish(out);
    return out;
}

std::uint64_t wire_size(std::string_view message) {
    WireSizeCounter counter;
    counter.feed(message);
    return counter.finish();
}

std::string unstuff(std::string_view wire) {
    std::string out;
    std::size_t pos = 0;
    while (pos < wire.size()) {
        auto eol = wire.find("\r\n", pos);
        if (eol == std::string_view::npos) break; // malformed: stop
        auto line = wire.substr(pos, eol - pos);
        pos = eol + 2;
        if (line == ".") break; // termination octet
        if (!line.empty() && line[0] == '.') line.remove_prefix(1);
        out.append(line);
        out += "\r\n";
    }
    return out;
}

} // namespace pop3::core
