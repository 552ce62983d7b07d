// Line framing: CRLF or bare LF, bounded buffering, overlong lines discarded.
#include <cstring>

#include "pop3/core/framing.hpp"

namespace pop3::core {

void LineFramer::feed(std::string_view bytes) {
    if (start_ > 0 && start_ == buffer_.size()) {
        buffer_.clear();
        start_ = 0;
    }
    buffer_.append(bytes);
}

std::optional<Frame> LineFramer::next() {
    const char* base = buffer_.data() + start_;
    std::size_t held = buffer_.size() - start_;
    const void* lf = held ? std::memchr(base, '\n', held) : nullptr;
    if (lf == nullptr) {
        if (held >= max_line_) { // cannot become a valid line: drop it now
            overlong_ += held;
            buffer_.clear();
            start_ = 0;
        }
        return std::nullopt;
    }
    auto len = static_cast<std::size_t>(static_cast<const char*>(lf) - base);
    std::size_t content = (len > 0 && base[len - 1] == '\r') ? len - 1 : len;
    last_bare_lf_ = content == len;
    std::string text(base, content);
    start_ += len + 1;
    std::size_t discarded = overlong_;
    overlong_ = 0;
    compact();
    // The limit counts the line as if it ended in CRLF, however it ended.
    if (discarded > 0 || content + 2 > max_line_)
        return Frame{OverlongLine{discarded + len + 1}};
    return Frame{FramedLine{std::move(text)}};
}

void LineFramer::compact() {
    if (start_ == buffer_.size()) {
        buffer_.clear();
        start_ = 0;
    } else if (start_ > 4096) {
        buffer_.erase(0, start_);
        start_ = 0;
    }
}

void LineFramer::clear() {
    buffer_.clear();
    start_ = 0;
    overlong_ = 0;
}

LineFramer::Held LineFramer::held() const {
    return {buffer_.substr(start_), overlong_};
}

void LineFramer::resume(Held held) {
    buffer_ = std::move(held.bytes);
    start_ = 0;
    overlong_ = held.discarding;
}

} // namespace pop3::core
