// Multi-line message bodies (RFC 1939 section 3): a chunk-at-a-time
// transformer from stored bytes (LF or CRLF line ends) to the wire form, the
// TOP limiter, and the exact-size counter that agrees with both.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace pop3::core {

// Turns message bytes into wire bytes: every line end becomes CRLF, a line
// starting with '.' gets one more '.', a missing final line end is added, and
// finish() appends the terminating ".\r\n". A CR not followed by LF is data.
class DotStuffer {
public:
    // Appends the wire form of `chunk` to `out`.
    void feed(std::string_view chunk, std::string& out);
    // Writes the wire form of `chunk` to `out`, which must have room for
    // max_output(chunk.size()) octets; returns the octets written. For
    // callers that keep their own buffer (no zero-filling, no growth).
    [[nodiscard]] std::size_t feed(std::string_view chunk, char* out);
    [[nodiscard]] static constexpr std::size_t max_output(std::size_t input) {
        return 2 * input + k_slack; // each octet at most doubles
    }
    // Completes the last line and appends the termination octet line.
    void finish(std::string& out);

private:
    // The block scanner stores 16 octets at a time and may write up to 16
    // past the last octet it keeps.
    static constexpr std::size_t k_slack = 16;
    bool at_line_start_ = true;
    bool prev_cr_ = false; // last input byte was CR
};

// Counts the octets a client holds after un-stuffing: what LIST reports.
class WireSizeCounter {
public:
    void feed(std::string_view chunk);
    [[nodiscard]] std::uint64_t finish() const;

private:
    std::uint64_t octets_ = 0;
    bool at_line_start_ = true;
    bool prev_cr_ = false;
};

// TOP n m (RFC 1939 section 7): passes the header, the blank line after it,
// and at most m body lines; feed() says how much of each chunk to pass on.
class TopLimiter {
public:
    explicit TopLimiter(std::uint64_t body_lines) : body_left_(body_lines) {}
    // Length of the prefix of `chunk` to send; once done(), always 0.
    [[nodiscard]] std::size_t accept(std::string_view chunk);
    [[nodiscard]] bool done() const { return done_; }

private:
    std::uint64_t body_left_;
    bool in_header_ = true;
    bool line_empty_ = true; // current line so far is "" or "\r"
    std::size_t line_len_ = 0;
    bool done_ = false;
};

// Whole-buffer conveniences for tests and small messages.
[[nodiscard]] std::string stuff(std::string_view message);
[[nodiscard]] std::uint64_t wire_size(std::string_view message);
// Reverses stuff(): the octets a client holds (RFC 1939 section 3).
[[nodiscard]] std::string unstuff(std::string_view wire);

} // namespace pop3::core
