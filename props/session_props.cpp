// The core against the RFC 1939 model: random command sequences, valid and
// invalid, interleaved with messages expunged by another client.
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>
#include <rapidcheck/state.h>

#include <sstream>

#include "pop3/core/command.hpp"
#include "pop3/core/session.hpp"
#include "rfc1939_model.hpp"
#include "wire_reader.hpp"

using namespace pop3::core;
using pop3::model::Rfc1939Model;

namespace {

struct Sut {
    Config config;
    SessionState state = Idle{};
    std::vector<Response> responses;
    std::vector<Effect> effects;

    void feed(const Input& in) {
        auto s = step(std::move(state), in, config);
        state = std::move(s.state);
        responses = std::move(s.responses);
        effects = std::move(s.effects);
        // Whatever the core answers, a client reads back from the wire.
        for (const auto& r : responses)
            RC_ASSERT(pop3::model::read_response(render(r), r.multiline) ==
                      std::optional<Response>(pop3::model::as_read(r)));
    }
    std::string wire() const {
        std::string out;
        for (const auto& r : responses) render_to(r, out);
        return out;
    }
};

std::string status_line(const Sut& sut) {
    RC_ASSERT(sut.responses.size() == 1u);
    Response status = sut.responses[0];
    status.multiline = false;
    status.body.clear();
    status.listing.reset();
    status.continuation = false;
    auto w = render(status);
    RC_ASSERT(w.size() <= k_max_response_line);
    return w.substr(0, w.size() - 2);
}

// Checks a refusal: a single -ERR line, and the close when the limit is hit.
// `msg` names the message the command was about (0 for other refusals).
void expect_refusal(const Rfc1939Model& m, const Sut& sut,
                    std::optional<std::uint64_t> msg = std::nullopt) {
    Rfc1939Model after = m;
    if (msg) after.about_missing(*msg); else after.refused();
    RC_ASSERT(sut.responses.size() == 1u);
    RC_ASSERT(!sut.responses[0].ok);
    RC_ASSERT(!sut.responses[0].multiline);
    RC_ASSERT(render(sut.responses[0]).size() <= k_max_response_line);
    RC_ASSERT(std::holds_alternative<Closed>(sut.state) == after.closed);
    if (after.closed) RC_ASSERT(sut.effects == std::vector<Effect>{Close{}});
    else RC_ASSERT(sut.effects.empty());
}

using Cmd = rc::state::Command<Rfc1939Model, Sut>;

// Every command is valid in every state of the model; once the session has
// closed, the core must ignore input and say nothing.
struct PopCmd : Cmd {
    void apply(Rfc1939Model& m) const final {
        if (!m.closed) apply_open(m);
    }
    void run(const Rfc1939Model& m, Sut& sut) const final {
        if (!m.closed) return run_open(m, sut);
        sut.feed(FramedLine{"NOOP"});
        RC_ASSERT(sut.responses.empty());
        RC_ASSERT(std::holds_alternative<Closed>(sut.state));
    }
    virtual void apply_open(Rfc1939Model& m) const = 0;
    virtual void run_open(const Rfc1939Model& m, Sut& sut) const = 0;
};

// Any message number, often the last one (where off-by-one bugs live) and
// the numbers just outside the snapshot.
std::uint64_t any_number(const Rfc1939Model& m) {
    return *rc::gen::oneOf(rc::gen::inRange<std::uint64_t>(0, m.sizes.size() + 3),
                           rc::gen::element<std::uint64_t>(m.sizes.size(), m.sizes.size() + 1,
                                                           1, 0));
}

std::string plural(std::uint64_t n, const std::string& noun) {
    return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

struct StatCmd : PopCmd {
    void apply_open(Rfc1939Model& m) const override { m.accepted(); }
    void run_open(const Rfc1939Model& m, Sut& sut) const override {
        sut.feed(FramedLine{"STAT"});
        RC_ASSERT(status_line(sut) == "+OK " + std::to_string(m.count()) + " " +
                                          std::to_string(m.octets()));
    }
    void show(std::ostream& os) const override { os << "STAT"; }
};

struct ListCmd : PopCmd {
    bool uidl = *rc::gen::arbitrary<bool>();
    bool all = *rc::gen::arbitrary<bool>();
    std::uint64_t msg = 0;
    explicit ListCmd(const Rfc1939Model& m) : msg(any_number(m)) {}
    void apply_open(Rfc1939Model& m) const override {
        if (all || m.exists(msg)) m.accepted(); else m.about_missing(msg);
    }
    void run_open(const Rfc1939Model& m, Sut& sut) const override {
        std::string verb = uidl ? "UIDL" : "LIST";
        if (all) {
            sut.feed(FramedLine{verb});
            RC_ASSERT(sut.responses.size() == 1u);
            const auto& r = sut.responses[0];
            RC_ASSERT(r.ok);
            RC_ASSERT(r.multiline);
            std::vector<std::string> expected;
            for (std::size_t i = 0; i < m.sizes.size(); ++i)
                if (m.exists(i + 1))
                    expected.push_back(std::to_string(i + 1) + " " +
                                       (uidl ? m.uidls[i] : std::to_string(m.sizes[i])));
            RC_ASSERT(body_lines(r) == expected);
            return;
        }
        sut.feed(FramedLine{verb + " " + std::to_string(msg)});
        if (!m.exists(msg)) return expect_refusal(m, sut, msg);
        RC_ASSERT(status_line(sut) ==
                  "+OK " + std::to_string(msg) + " " +
                      (uidl ? m.uidls[msg - 1] : std::to_string(m.sizes[msg - 1])));
    }
    void show(std::ostream& os) const override {
        os << (uidl ? "UIDL" : "LIST");
        if (!all) os << ' ' << msg;
    }
};

struct RetrCmd : PopCmd {
    std::uint64_t msg;
    std::optional<std::uint64_t> top;
    explicit RetrCmd(const Rfc1939Model& m)
        : msg(any_number(m)),
          top(pick_top()) {}
    static std::optional<std::uint64_t> pick_top() {
        if (*rc::gen::arbitrary<bool>()) return std::nullopt;
        return *rc::gen::inRange<std::uint64_t>(0, 200);
    }
    void apply_open(Rfc1939Model& m) const override {
        if (m.exists(msg)) m.accepted(); else m.about_missing(msg);
    }
    void run_open(const Rfc1939Model& m, Sut& sut) const override {
        std::string line = top ? "TOP " + std::to_string(msg) + " " + std::to_string(*top)
                               : "RETR " + std::to_string(msg);
        sut.feed(FramedLine{line});
        if (!m.exists(msg)) return expect_refusal(m, sut, msg);
        RC_ASSERT(sut.responses.empty());
        RC_ASSERT(sut.effects.size() == 1u);
        const auto& send = std::get<SendMessage>(sut.effects[0]);
        RC_ASSERT(send.index == msg - 1);
        RC_ASSERT(send.size == m.sizes[msg - 1]);
        RC_ASSERT(send.top_lines == top);
        RC_ASSERT(send.mark_seen == !top.has_value());
        RC_ASSERT(send.status == ok(top ? "top of message " + std::to_string(msg) + " follows"
                                        : plural(m.sizes[msg - 1], "octet")));
    }
    void show(std::ostream& os) const override {
        if (top) os << "TOP " << msg << ' ' << *top; else os << "RETR " << msg;
    }
};

struct DeleCmd : PopCmd {
    std::uint64_t msg;
    explicit DeleCmd(const Rfc1939Model& m) : msg(any_number(m)) {}
    void apply_open(Rfc1939Model& m) const override {
        if (m.exists(msg)) { m.deleted.insert(msg - 1); m.accepted(); }
        else m.about_missing(msg);
    }
    void run_open(const Rfc1939Model& m, Sut& sut) const override {
        sut.feed(FramedLine{"DELE " + std::to_string(msg)});
        if (!m.exists(msg)) return expect_refusal(m, sut, msg);
        RC_ASSERT(status_line(sut) == "+OK message " + std::to_string(msg) + " deleted");
    }
    void show(std::ostream& os) const override { os << "DELE " << msg; }
};

struct RsetCmd : PopCmd {
    void apply_open(Rfc1939Model& m) const override { m.deleted.clear(); m.accepted(); }
    void run_open(const Rfc1939Model& m, Sut& sut) const override {
        sut.feed(FramedLine{"RSET"});
        Rfc1939Model after = m;
        after.deleted.clear();
        RC_ASSERT(status_line(sut) == "+OK maildrop has " + plural(after.count(), "message") +
                                          " (" + plural(after.octets(), "octet") + ")");
    }
    void show(std::ostream& os) const override { os << "RSET"; }
};

struct NoopCmd : PopCmd {
    void apply_open(Rfc1939Model& m) const override { m.accepted(); }
    void run_open(const Rfc1939Model&, Sut& sut) const override {
        sut.feed(FramedLine{"NOOP"});
        RC_ASSERT(status_line(sut) == "+OK");
    }
    void show(std::ostream& os) const override { os << "NOOP"; }
};

// Lines that are not valid in TRANSACTION: junk, bad numbers, login verbs.
struct BadCmd : PopCmd {
    std::string line = *rc::gen::oneOf(
        rc::gen::container<std::string>(rc::gen::inRange<char>(1, 127)),
        rc::gen::element<std::string>("RETR 0", "RETR -1", "RETR 1x",
                                      "RETR 99999999999999999999", "TOP 1",
                                      "TOP 1 5x", "TOP 1 +5", "RETR +1",
                                      "USER bob", "PASS x", "STAT 1", "XTND",
                                      "LIST  1", "DELE", "", "STLS", "AUTH",
                                      "AUTH PLAIN", "APOP a 0123456789abcdef0123456789abcdef"));
    void checkPreconditions(const Rfc1939Model&) const override {
        auto parsed = parse_command(line);
        // Junk that happens to be a valid transaction command is not bad.
        RC_PRE(!parsed || std::holds_alternative<User>(*parsed) ||
               std::holds_alternative<Pass>(*parsed) ||
               std::holds_alternative<Apop>(*parsed) ||
               std::holds_alternative<Stls>(*parsed) ||
               std::holds_alternative<Auth>(*parsed));
    }
    void apply_open(Rfc1939Model& m) const override { m.refused(); }
    void run_open(const Rfc1939Model& m, Sut& sut) const override {
        sut.feed(FramedLine{line});
        expect_refusal(m, sut);
    }
    void show(std::ostream& os) const override { os << "BAD " << '"' << line << '"'; }
};

// A run of bad commands (overlong lines among them) that brings the count
// to one below the limit, so that what comes next decides: any accepted
// command must reset it, one more bad command must end the session.
struct BadRunCmd : PopCmd {
    bool overlong = *rc::gen::arbitrary<bool>();
    void apply_open(Rfc1939Model& m) const override {
        while (m.bad_in_a_row + 1 < m.max_bad) m.refused();
    }
    void run_open(const Rfc1939Model& m, Sut& sut) const override {
        for (unsigned n = m.bad_in_a_row; n + 1 < m.max_bad; ++n) {
            if (overlong && n % 2 == 0) sut.feed(OverlongLine{300});
            else sut.feed(FramedLine{"XTND"});
            RC_ASSERT(sut.responses.size() == 1u);
            RC_ASSERT(!sut.responses[0].ok);
            RC_ASSERT(!std::holds_alternative<Closed>(sut.state));
        }
    }
    void show(std::ostream& os) const override { os << "<bad commands up to the limit>"; }
};

struct CapaCmd : PopCmd {
    void apply_open(Rfc1939Model& m) const override { m.accepted(); }
    void run_open(const Rfc1939Model&, Sut& sut) const override {
        sut.feed(FramedLine{"CAPA"});
        RC_ASSERT(sut.responses.size() == 1u);
        RC_ASSERT(sut.responses[0] == capabilities(sut.state, sut.config));
        RC_ASSERT(sut.responses[0].multiline);
    }
    void show(std::ostream& os) const override { os << "CAPA"; }
};

// Another client expunges snapshot message `msg` (a no-op if already gone).
struct ExpungeCmd : PopCmd {
    std::size_t index;
    explicit ExpungeCmd(const Rfc1939Model& m)
        : index(*rc::gen::inRange<std::size_t>(0, std::max<std::size_t>(m.sizes.size(), 1))) {}
    void checkPreconditions(const Rfc1939Model& m) const override {
        RC_PRE(index < m.sizes.size());
    }
    void apply_open(Rfc1939Model& m) const override { m.expunged.insert(index); }
    void run_open(const Rfc1939Model&, Sut& sut) const override {
        sut.feed(Event{MessagesVanished{{index}}});
        RC_ASSERT(sut.responses.empty());
        RC_ASSERT(sut.effects.empty());
    }
    void show(std::ostream& os) const override { os << "<expunged " << index + 1 << '>'; }
};

// QUIT: the UPDATE effect must hold exactly the model's surviving deletions.
struct QuitCmd : PopCmd {
    void apply_open(Rfc1939Model& m) const override { m.closed = true; }
    void run_open(const Rfc1939Model& m, Sut& sut) const override {
        sut.feed(FramedLine{"QUIT"});
        RC_ASSERT(sut.responses.empty());
        RC_ASSERT(sut.effects.size() == 1u);
        auto expected = m.update_set();
        RC_ASSERT(std::get<Update>(sut.effects[0]).indices == expected);
        sut.feed(Event{Updated{expected.size(), 0, 0}});
        RC_ASSERT(status_line(sut) == "+OK pop3d signing off (" +
                                          std::to_string(expected.size()) +
                                          (expected.size() == 1 ? " message" : " messages") +
                                          " deleted)");
        RC_ASSERT(std::holds_alternative<Closed>(sut.state));
    }
    void show(std::ostream& os) const override { os << "QUIT"; }
};

} // namespace

TEST_CASE("the core agrees with the RFC 1939 model", "[props]") {
    rc::prop("every step answers as the model says, and QUIT removes exactly "
             "the session's surviving deletions",
             [] {
                 Rfc1939Model model;
                 model.max_bad = *rc::gen::inRange<unsigned>(1, 13);
                 model.sizes = *rc::gen::container<std::vector<std::uint64_t>>(
                     rc::gen::inRange<std::uint64_t>(0, 5'000'000));
                 for (std::size_t i = 0; i < model.sizes.size(); ++i)
                     model.uidls.push_back("uid-" + std::to_string(i * 7 + 3));
                 Sut sut;
                 sut.config.max_bad_commands = model.max_bad;
                 sut.feed(Event{Connected{"<1.1@test>"}});
                 sut.feed(FramedLine{"USER alice@example.org"});
                 sut.feed(FramedLine{"PASS secret"});
                 sut.feed(Event{AuthResult{AuthResult::Outcome::accepted, "alice@example.org"}});
                 std::vector<MessageInfo> infos;
                 for (std::size_t i = 0; i < model.sizes.size(); ++i)
                     infos.push_back({model.sizes[i], model.uidls[i]});
                 sut.feed(Event{MailboxOpened{make_snapshot(infos)}});
                 RC_ASSERT(std::holds_alternative<Transaction>(sut.state));

                 rc::state::check(
                     model, sut,
                     rc::state::gen::execOneOfWithArgs<StatCmd, ListCmd, RetrCmd,
                                                       DeleCmd, RsetCmd, NoopCmd,
                                                       BadCmd, BadRunCmd, CapaCmd,
                                                       ExpungeCmd, QuitCmd>());

             });
}
