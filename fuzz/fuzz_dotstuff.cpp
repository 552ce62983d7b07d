// The multi-line transformer on arbitrary message bytes cut into arbitrary
// chunks. The un-stuffing law is checked inside: what a client reads back
// (split at CRLF, stop at ".", drop one leading dot) is exactly the
// CRLF-normalised message, the terminator appears only at the end, the
// length is what LIST reports, and TOP gives a line-aligned prefix.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "pop3/core/dotstuff.hpp"

using namespace pop3::core;

namespace {

// The message as a client holds it: every LF not after CR becomes CRLF, a
// missing final line end is added. Written here afresh, not taken from core.
std::string normalised(std::string_view m) {
    std::string out;
    for (std::size_t i = 0; i < m.size(); ++i) {
        if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r')) out += '\r';
        out += m[i];
    }
    if (!out.empty() && out.back() != '\n') out += "\r\n";
    return out;
}

// A client's reading of a multi-line response (RFC 1939 section 3).
// Returns nullopt when the terminator is missing or not at the very end.
std::optional<std::string> client_reads(std::string_view wire) {
    std::string out;
    std::size_t pos = 0;
    while (pos < wire.size()) {
        auto eol = wire.find("\r\n", pos);
        if (eol == std::string_view::npos) return std::nullopt;
        auto line = wire.substr(pos, eol - pos);
        pos = eol + 2;
        if (line == ".") {
            if (pos != wire.size()) return std::nullopt; // early terminator
            return out;
        }
        if (!line.empty() && line[0] == '.') line.remove_prefix(1);
        out.append(line);
        out += "\r\n";
    }
    return std::nullopt;
}

std::string chunked(std::string_view message, const std::vector<std::size_t>& cuts,
                    std::optional<std::uint64_t> top) {
    DotStuffer stuffer;
    std::optional<TopLimiter> limiter;
    if (top) limiter.emplace(*top);
    std::string out;
    std::size_t pos = 0;
    auto emit = [&](std::string_view piece) {
        if (limiter) {
            auto n = limiter->accept(piece);
            FUZZ_CHECK(n <= piece.size());
            piece = piece.substr(0, n);
        }
        stuffer.feed(piece, out);
    };
    for (auto c : cuts) {
        auto len = std::min(c, message.size() - pos);
        emit(message.substr(pos, len));
        pos += len;
    }
    emit(message.substr(pos));
    stuffer.finish(out);
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // Layout: [ncuts][cut lengths...][top lines][message...]
    std::string_view in(reinterpret_cast<const char*>(data), size);
    if (in.empty()) return 0;
    std::size_t ncuts = static_cast<unsigned char>(in[0]) % 8;
    in.remove_prefix(1);
    std::vector<std::size_t> cuts;
    for (std::size_t i = 0; i < ncuts && !in.empty(); ++i) {
        cuts.push_back(static_cast<unsigned char>(in[0]) % 32);
        in.remove_prefix(1);
    }
    std::optional<std::uint64_t> top;
    if (!in.empty()) {
        auto t = static_cast<unsigned char>(in[0]);
        if (t < 128) top = t % 8;
        in.remove_prefix(1);
    }
    const std::string_view message = in;

    auto wire = chunked(message, cuts, std::nullopt);
    FUZZ_CHECK(wire == stuff(message));          // chunking does not matter
    auto held = client_reads(wire);
    FUZZ_CHECK(held.has_value());                // one terminator, at the end
    FUZZ_CHECK(*held == normalised(message));    // the un-stuffing law
    FUZZ_CHECK(unstuff(wire) == *held);          // core's inverse agrees
    FUZZ_CHECK(wire_size(message) == held->size()); // LIST's size is exact
    WireSizeCounter counter;
    std::size_t pos = 0;
    for (auto c : cuts) {
        auto len = std::min(c, message.size() - pos);
        counter.feed(message.substr(pos, len));
        pos += len;
    }
    counter.feed(message.substr(pos));
    FUZZ_CHECK(counter.finish() == held->size());

    if (top) {
        auto top_wire = chunked(message, cuts, top);
        auto top_held = client_reads(top_wire);
        FUZZ_CHECK(top_held.has_value());
        FUZZ_CHECK(held->compare(0, top_held->size(), *top_held) == 0);
        FUZZ_CHECK(top_held->empty() ||
                   top_held->substr(top_held->size() - 2) == "\r\n");
        FUZZ_CHECK(top_wire == chunked(message, {}, top)); // chunking again
    }
    return 0;
}
