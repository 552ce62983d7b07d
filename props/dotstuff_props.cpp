// Laws of the multi-line transformer: un-stuffing inverts it, chunking does
// not matter, sizes agree with LIST, and TOP is a prefix of RETR.
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <optional>

#include "pop3/core/dotstuff.hpp"

using namespace pop3::core;

namespace {
// Message-like bytes: lots of line ends, dots and CRs.
rc::Gen<std::string> message_bytes() {
    return rc::gen::map(
        rc::gen::container<std::vector<std::string>>(rc::gen::element<std::string>(
            "a", "From: x", ".", "..", "\n", "\r\n", "\r", " ", "\n.\n", "body",
            std::string(1, '\0'), "\xff")),
        [](const std::vector<std::string>& parts) {
            std::string out;
            for (const auto& p : parts) out += p;
            return out;
        });
}

// The message as a client holds it: CRLF line ends, final line end added.
std::string normalised(std::string_view m) {
    std::string out;
    for (std::size_t i = 0; i < m.size(); ++i) {
        if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r')) out += '\r';
        out += m[i];
    }
    if (!out.empty() && out.back() != '\n') out += "\r\n";
    return out;
}

std::string chunked(std::string_view message, const std::vector<std::size_t>& cuts,
                    std::optional<std::uint64_t> top) {
    DotStuffer stuffer;
    std::optional<TopLimiter> limiter;
    if (top) limiter.emplace(*top);
    std::string out;
    std::size_t pos = 0;
    auto emit = [&](std::string_view piece) {
        if (limiter) piece = piece.substr(0, limiter->accept(piece));
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

TEST_CASE("dot-stuffing laws", "[props]") {
    rc::prop("un-stuffing the output returns the CRLF-normalised message", [] {
        auto m = *message_bytes();
        auto cuts = *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, 8));
        auto wire = chunked(m, cuts, std::nullopt);
        RC_ASSERT(wire.size() >= 3u);
        RC_ASSERT(wire.substr(wire.size() - 3) == ".\r\n");
        RC_ASSERT(unstuff(wire) == normalised(m));
        RC_ASSERT(wire == stuff(m));
    });

    rc::prop("LIST's size equals the octets the client holds after un-stuffing", [] {
        auto m = *message_bytes();
        auto cuts = *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, 8));
        WireSizeCounter counter;
        std::size_t pos = 0;
        for (auto c : cuts) {
            auto len = std::min(c, m.size() - pos);
            counter.feed(std::string_view(m).substr(pos, len));
            pos += len;
        }
        counter.feed(std::string_view(m).substr(pos));
        RC_ASSERT(counter.finish() == unstuff(stuff(m)).size());
    });

    rc::prop("TOP returns a line-aligned prefix of RETR", [] {
        auto m = *message_bytes();
        auto n = *rc::gen::inRange<std::uint64_t>(0, 10);
        auto cuts = *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, 8));
        auto full = unstuff(stuff(m));
        auto top = unstuff(chunked(m, cuts, n));
        RC_ASSERT(full.substr(0, top.size()) == top);
        RC_ASSERT((top.empty() || top.substr(top.size() - 2) == "\r\n"));
        RC_ASSERT(top == unstuff(chunked(m, {}, n)));
    });
}
