// Multi-line bodies. The stuffer looks at 16 octets at a time (SSE2, part
// of every x86-64): a block without a line end or dot to change is copied
// with one store; otherwise the octets to insert (CR before a bare LF, '.'
// before a dot that starts a line) are found as bit masks. Message lines
// are short (~76 octets), so this beats a memchr call per line by about 2x
// (bench/micro.cpp). Other targets and the last <32 octets take the
// octet-at-a-time loop, which defines the behaviour.
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "pop3/core/dotstuff.hpp"

namespace pop3::core {

std::size_t DotStuffer::feed(std::string_view chunk, char* out) {
    const char* p = chunk.data();
    const char* const end = p + chunk.size();
    char* w = out;
#if defined(__SSE2__)
    const __m128i lf = _mm_set1_epi8('\n');
    const __m128i cr = _mm_set1_epi8('\r');
    const __m128i dot = _mm_set1_epi8('.');
    // 32, not 16: a block with insertions reloads from p + from (from < 16),
    // which must stay inside the input (found by fuzz_dotstuff under ASan).
    while (end - p >= 32) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const auto lfs = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf)));
        const auto crs = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, cr)));
        const auto dots = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, dot)));
        // Bit i: octet i follows a CR / starts a line.
        const unsigned after_cr = (crs << 1) | (prev_cr_ ? 1u : 0u);
        const unsigned line_start = (lfs << 1) | (at_line_start_ ? 1u : 0u);
        unsigned insert = ((lfs & ~after_cr) | (dots & line_start)) & 0xFFFFu;
        if (insert == 0) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(w), v);
            w += 16;
        } else {
            unsigned from = 0;
            while (insert != 0) {
                const auto at = static_cast<unsigned>(__builtin_ctz(insert));
                // Store the rest of the block; only [from, at) is kept.
                _mm_storeu_si128(reinterpret_cast<__m128i*>(w),
                                 _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + from)));
                w += at - from;
                *w++ = p[at] == '\n' ? '\r' : '.';
                from = at;
                insert &= insert - 1;
            }
            _mm_storeu_si128(reinterpret_cast<__m128i*>(w),
                             _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + from)));
            w += 16 - from;
        }
        prev_cr_ = p[15] == '\r';
        at_line_start_ = p[15] == '\n';
        p += 16;
    }
#endif
    for (; p < end; ++p) {
        const char c = *p;
        if (c == '\n' && !prev_cr_) *w++ = '\r';
        if (c == '.' && at_line_start_) *w++ = '.';
        *w++ = c;
        prev_cr_ = c == '\r';
        at_line_start_ = c == '\n';
    }
    return static_cast<std::size_t>(w - out);
}

void DotStuffer::feed(std::string_view chunk, std::string& out) {
    const std::size_t start = out.size();
    out.resize(start + max_output(chunk.size()));
    out.resize(start + feed(chunk, out.data() + start));
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
