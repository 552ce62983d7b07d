// Rendered responses read back by a client: status line, response code,
// un-stuffed body and terminator give exactly the response that was sent.
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include "pop3/core/mailbox.hpp"
#include "pop3/core/response.hpp"
#include "pop3/core/sasl.hpp"
#include "wire_reader.hpp"

using namespace pop3::core;
using pop3::model::as_read;
using pop3::model::read_response;

namespace {

// Body lines as CAPA, LIST and UIDL send them, and the awkward ones: dots
// at the start, a lone dot, empty lines. Never CR or LF (a body line is a
// line).
rc::Gen<std::string> body_line() {
    return rc::gen::oneOf(
        rc::gen::element<std::string>(".", "..", "..x", ".x", "", "x.", ". ",
                                      "...", "1 .", "TOP"),
        rc::gen::container<std::string>(rc::gen::oneOf(
            rc::gen::element('.', ' ', '~'), rc::gen::inRange<char>(0x21, 0x7F))));
}

// Status texts with stray CR, LF and NUL and lengths past 512; never
// starting with '[' (a client would read that as a response code).
rc::Gen<std::string> status_text() {
    return rc::gen::suchThat(
        rc::gen::oneOf(rc::gen::arbitrary<std::string>(),
                       rc::gen::element<std::string>("", "x", "a\r\nb", "\r\n.\r\n"),
                       rc::gen::map(rc::gen::inRange<std::size_t>(480, 700),
                                    [](std::size_t n) { return std::string(n, 'y'); })),
        [](const std::string& t) { return t.empty() || t[0] != '['; });
}

rc::Gen<RespCode> resp_code() {
    return rc::gen::element(RespCode::none, RespCode::auth, RespCode::sys_temp,
                            RespCode::sys_perm, RespCode::in_use,
                            RespCode::login_delay);
}

// LIST or UIDL of a mailbox of 0 to 300 messages (sizes of any width,
// UIDLs of 1 to 70 octets) with some messages deleted or vanished.
Response listing_response() {
    const auto count = *rc::gen::inRange<std::size_t>(0, 300);
    std::vector<MessageInfo> messages;
    for (std::size_t i = 0; i < count; ++i) {
        const auto width = *rc::gen::inRange<std::size_t>(1, 71);
        messages.push_back({*rc::gen::arbitrary<std::uint64_t>(),
                            std::string(width, static_cast<char>('!' + i % 90))});
    }
    MailboxView view(make_snapshot(messages));
    for (std::size_t i = 0; i < count; ++i) {
        const auto fate = *rc::gen::inRange(0, 5);
        if (fate == 0) view.mark_deleted(i);
        if (fate == 1) view.mark_vanished(i);
    }
    Response r = ok(*status_text());
    r.multiline = true;
    r.listing = ScanListing{*rc::gen::arbitrary<bool>(), std::move(view)};
    return r;
}

rc::Gen<Response> any_response() {
    return rc::gen::oneOf(
        rc::gen::map(rc::gen::tuple(resp_code(), status_text()),
                     [](const std::tuple<RespCode, std::string>& t) {
                         return err(std::get<1>(t), std::get<0>(t));
                     }),
        rc::gen::map(status_text(), [](const std::string& t) { return ok(t); }),
        rc::gen::map(
            rc::gen::tuple(status_text(),
                           rc::gen::container<std::vector<std::string>>(body_line())),
            [](const std::tuple<std::string, std::vector<std::string>>& t) {
                Response r = ok(std::get<0>(t));
                r.multiline = true;
                r.body = std::get<1>(t);
                return r;
            }),
        rc::gen::map(rc::gen::arbitrary<std::string>(),
                     [](const std::string& raw) { return continuation(base64_encode(raw)); }),
        rc::gen::exec([] { return listing_response(); }));
}

} // namespace

TEST_CASE("rendered responses read back as sent", "[props]") {
    rc::prop("a client reads back exactly the response rendered", [] {
        const auto r = *any_response();
        const auto wire = render(r);
        const auto back = read_response(wire, r.multiline);
        RC_ASSERT(back.has_value());
        RC_ASSERT(*back == as_read(r));
    });

    rc::prop("multi-line bodies round-trip for any lines, dots and empty "
             "bodies included",
             [] {
                 Response r = ok("follows");
                 r.multiline = true;
                 r.body = *rc::gen::container<std::vector<std::string>>(body_line());
                 const auto wire = render(r);
                 RC_ASSERT(wire.size() >= 3u);
                 RC_ASSERT(wire.substr(wire.size() - 3) == ".\r\n");
                 // Exactly one terminator line, at the end.
                 RC_ASSERT(wire.find("\r\n.\r\n") == wire.size() - 5);
                 const auto back = read_response(wire, true);
                 RC_ASSERT(back.has_value());
                 RC_ASSERT(back->body == r.body);
             });

    rc::prop("render_to appends: responses rendered one after another are "
             "each rendered alone",
             [] {
                 const auto a = *any_response();
                 const auto b = *any_response();
                 std::string out = render(a);
                 render_to(b, out);
                 RC_ASSERT(out == render(a) + render(b));
             });
}

TEST_CASE("responses rendered in pieces", "[props]") {
    rc::prop("pieces of any size join to the rendered response, each at "
             "least the piece size unless it is the last",
             [] {
                 const auto r = *any_response();
                 const auto chunk = *rc::gen::inRange<std::size_t>(1, 4096);
                 ResponseWriter writer(r);
                 std::string joined;
                 std::string piece;
                 std::vector<std::size_t> sizes;
                 while (writer.next(piece, chunk)) {
                     sizes.push_back(piece.size());
                     joined += piece;
                     piece.clear();
                 }
                 RC_ASSERT(joined == render(r));
                 RC_ASSERT(!sizes.empty());
                 for (std::size_t k = 0; k + 1 < sizes.size(); ++k)
                     RC_ASSERT(sizes[k] >= chunk);
                 RC_ASSERT(!writer.next(piece, chunk)); // done stays done
                 RC_ASSERT(piece.empty());
             });

    rc::prop("a listing shows exactly its visible messages, in order",
             [] {
                 const auto r = listing_response();
                 const auto& view = r.listing->view;
                 std::vector<std::string> expected;
                 for (std::size_t i = 0; i < view.size(); ++i) {
                     if (view.fate(i) != Fate::present) continue;
                     const auto m = view.info(i);
                     expected.push_back(std::to_string(i + 1) + ' ' +
                                        (r.listing->uidl ? std::string(m.uidl)
                                                         : std::to_string(m.size)));
                 }
                 RC_ASSERT(body_lines(r) == expected);
                 RC_ASSERT(body_line_count(r) == expected.size());
                 const auto back = read_response(render(r), true);
                 RC_ASSERT(back.has_value());
                 RC_ASSERT(back->body == expected);
             });
}

TEST_CASE("rendered responses: fixed cases", "[response]") {
    Response empty = ok("x");
    empty.multiline = true;
    CHECK(render(empty) == "+OK x\r\n.\r\n");
    Response dots = ok("");
    dots.multiline = true;
    dots.body = {".", "..x", "a.", ""};
    CHECK(render(dots) == "+OK\r\n..\r\n...x\r\na.\r\n\r\n.\r\n");
    CHECK(read_response(render(dots), true) == dots);
    CHECK(render(continuation("")) == "+ \r\n");
    CHECK(render(err("")) == "-ERR\r\n");
}
