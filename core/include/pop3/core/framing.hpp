// Splits the client's byte stream into command lines (RFC 1939 section 3).
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "pop3/core/limits.hpp"

namespace pop3::core {

struct FramedLine {
    std::string text; // without CRLF or LF
    bool operator==(const FramedLine&) const = default;
};
// A line longer than the limit; its bytes were discarded up to its end.
struct OverlongLine {
    std::size_t length; // octets seen, including the terminator when seen
    bool operator==(const OverlongLine&) const = default;
};
using Frame = std::variant<FramedLine, OverlongLine>;

// Accepts CRLF and bare LF as line ends (a relaxation popa3d also makes).
// Never buffers more than `max_line` octets: an overlong line is reported
// once, when its end arrives, and never truncated into a command.
class LineFramer {
public:
    explicit LineFramer(std::size_t max_line = k_max_command_line)
        : max_line_(max_line) {}

    // Appends bytes from the client.
    void feed(std::string_view bytes);
    // The next complete frame, if any.
    [[nodiscard]] std::optional<Frame> next();
    // Whether the frame next() returned last ended in a bare LF (the
    // conduct report counts them; RFC 1939 section 3 asks for CRLF).
    [[nodiscard]] bool last_bare_lf() const { return last_bare_lf_; }
    // Octets held that do not yet form a line.
    [[nodiscard]] std::size_t pending() const { return buffer_.size() - start_; }
    // Changes the limit for lines not yet returned (SASL responses may be
    // longer than commands, see line_limit()).
    void set_max_line(std::size_t max_line) { max_line_ = max_line; }
    // Discards everything buffered (used after STLS, RFC 2595 section 4).
    void clear();

    // What the framer holds between lines, so that another process can go
    // on where this one stopped (the hand-over after login): bytes not yet
    // framed, and how many octets of an overlong line were already skipped.
    struct Held {
        std::string bytes;
        std::size_t discarding = 0;
    };
    [[nodiscard]] Held held() const;
    // Continues from `held` (the inverse of held(), into an empty framer).
    void resume(Held held);

private:
    void compact();

    std::size_t max_line_;
    std::string buffer_;
    std::size_t start_ = 0;
    std::size_t overlong_ = 0; // > 0 while discarding an overlong line
    bool last_bare_lf_ = false;
};

} // namespace pop3::core
