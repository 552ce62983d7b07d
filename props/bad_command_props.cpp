// The bad-command counter: long runs of refused commands broken by each kind
// of accepted command. Any accepted command resets the count; refusals about
// a message that is not there neither grow nor reset it; the session closes
// exactly at the limit.
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include "pop3/core/session.hpp"

using namespace pop3::core;

namespace {

enum class Kind { bad, good, missing };

// One client input and how the counter must treat it.
struct Op {
    Kind kind;
    Input input;
    std::string shown;
};

constexpr std::size_t k_messages = 40;

// Accepted commands in TRANSACTION, every kind (RETR and TOP answer through
// an effect, not a response). DELE takes a message no run deletes twice.
std::vector<std::string> transaction_good(std::size_t& next_dele) {
    return {"STAT", "LIST", "LIST 2", "UIDL", "UIDL 2", "RETR 2", "TOP 2 0",
            "TOP 2 99999999999999999999", "RSET", "NOOP", "CAPA",
            "DELE " + std::to_string(next_dele++ % (k_messages - 2) + 3)};
}

const std::vector<std::string> k_authorization_good = {"USER a@b", "CAPA", "AUTH",
                                                       "user b@c", "capa"};

// Refused, counted: junk, bad numbers, misplaced verbs.
std::vector<std::string> bad_lines(bool transaction) {
    if (transaction)
        return {"XTND", "RETR 0", "TOP 1 5x", "TOP 1 +5", "RETR 1x", "LIST  1",
                "USER a@b", "STLS", "AUTH", "STAT 1", ""};
    return {"XTND", "STAT", "RETR 1", "NOOP", "TOP 1 2", "LIST", "APOP a b",
            "USER", "", "DELE 1", "RSET"};
}

rc::Gen<Op> bad_op(bool transaction) {
    return rc::gen::oneOf(
        rc::gen::map(rc::gen::elementOf(bad_lines(transaction)),
                     [](const std::string& l) { return Op{Kind::bad, FramedLine{l}, l}; }),
        rc::gen::just(Op{Kind::bad, OverlongLine{400}, "<overlong>"}));
}

} // namespace

TEST_CASE("the bad-command counter", "[props]") {
    rc::prop("runs of bad commands up to the limit, broken by any accepted "
             "command, never close the session; the limit-th in a row does",
             [] {
                 const bool transaction = *rc::gen::arbitrary<bool>();
                 Config config;
                 config.max_bad_commands = *rc::gen::inRange<unsigned>(1, 13);
                 SessionState state = Idle{};
                 auto feed = [&](const Input& in) {
                     auto s = step(std::move(state), in, config);
                     state = std::move(s.state);
                     return s;
                 };
                 feed(Event{Connected{"", false, "seed"}});
                 if (transaction) {
                     feed(FramedLine{"USER a@b"});
                     feed(FramedLine{"PASS x"});
                     feed(Event{AuthResult{AuthResult::Outcome::accepted, "a@b"}});
                     std::vector<MessageInfo> infos(k_messages, {10, "u"});
                     for (std::size_t i = 0; i < k_messages; ++i)
                         infos[i].uidl = "u" + std::to_string(i);
                     feed(Event{MailboxOpened{make_snapshot(infos)}});
                     // Message 1 is gone for good: RSET cannot bring it back.
                     feed(Event{MessagesVanished{{0}}});
                     RC_ASSERT(std::holds_alternative<Transaction>(state));
                 }
                 std::size_t next_dele = 0;
                 unsigned count = 0;
                 // Segments: a run of bad commands (mostly just under the
                 // limit), some refusals about missing messages inside it,
                 // then one accepted command or, last, more bad ones.
                 const auto segments = *rc::gen::inRange<int>(1, 8);
                 for (int seg = 0; seg < segments; ++seg) {
                     const unsigned limit = config.max_bad_commands;
                     const auto run = *rc::gen::oneOf(
                         rc::gen::just(limit - 1), rc::gen::inRange<unsigned>(0, limit));
                     std::vector<Op> ops;
                     for (unsigned i = 0; i < run; ++i) {
                         ops.push_back(*bad_op(transaction));
                         if (transaction && *rc::gen::inRange(0, 4) == 0)
                             ops.push_back(Op{Kind::missing,
                                              FramedLine{*rc::gen::element<std::string>(
                                                  "RETR 1", "LIST 99", "TOP 1 0", "DELE 1",
                                                  "UIDL 41")},
                                              "missing"});
                     }
                     const bool last = seg + 1 == segments;
                     if (last && *rc::gen::arbitrary<bool>()) {
                         ops.push_back(*bad_op(transaction));
                     } else {
                         const auto good = transaction
                                               ? *rc::gen::elementOf(transaction_good(next_dele))
                                               : *rc::gen::elementOf(k_authorization_good);
                         ops.push_back(Op{Kind::good, FramedLine{good}, good});
                     }
                     for (const auto& op : ops) {
                         RC_LOG() << op.shown << '\n';
                         auto s = feed(op.input);
                         if (op.kind == Kind::good) count = 0;
                         if (op.kind == Kind::bad) ++count;
                         const bool closes = count >= limit;
                         RC_ASSERT(std::holds_alternative<Closed>(state) == closes);
                         if (op.kind != Kind::good) {
                             RC_ASSERT(s.responses.size() == 1u);
                             RC_ASSERT(!s.responses[0].ok);
                         }
                         if (closes) {
                             RC_ASSERT(s.effects == std::vector<Effect>{Close{}});
                             return;
                         }
                     }
                 }
             });
}
