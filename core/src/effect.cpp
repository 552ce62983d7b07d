// Printing effects and events as wire-like text, for logs and test output.
#include "pop3/core/effect.hpp"

namespace pop3::core {
namespace {
template <class... Ts> struct Overloaded : Ts... { using Ts::operator()...; };
template <class... Ts> Overloaded(Ts...) -> Overloaded<Ts...>;

void print_indices(std::ostream& out, const std::vector<std::size_t>& v) {
    for (auto i : v) out << ' ' << (i + 1);
}
} // namespace

std::ostream& operator<<(std::ostream& out, const Effect& effect) {
    std::visit(Overloaded{
                   [&](const VerifyPassword& e) { out << "verify-password " << e.user; },
                   [&](const VerifyApop& e) { out << "verify-apop " << e.user; },
                   [&](const OpenMailbox& e) { out << "open-mailbox " << e.user; },
                   [&](const SendMessage& e) {
                       out << (e.top_lines ? "send-top " : "send-message ")
                           << (e.index + 1);
                       if (e.top_lines) out << ' ' << *e.top_lines;
                       if (e.mark_seen) out << " +seen";
                   },
                   [&](const Update& e) {
                       out << "update";
                       print_indices(out, e.indices);
                   },
                   [&](const Close&) { out << "close"; },
                   [&](const VerifyCram& e) { out << "verify-cram-md5 " << e.user; },
                   [&](const FetchScramCredentials& e) {
                       out << "fetch-scram-credentials " << mechanism_name(e.mechanism)
                           << ' ' << e.user;
                   },
                   [&](const VerifyScram& e) { out << "verify-scram " << mechanism_name(e.mechanism); },
                   [&](const StartTls&) { out << "start-tls"; },
                   [&](const RelaySasl& e) {
                       out << "relay-sasl " << mechanism_name(e.mechanism)
                           << (e.first ? " first" : "");
                   },
               },
               effect);
    return out;
}

std::ostream& operator<<(std::ostream& out, const Event& event) {
    std::visit(Overloaded{
                   [&](const Connected&) { out << "connected"; },
                   [&](const AuthResult& e) {
                       out << "auth-result "
                           << (e.outcome == AuthResult::Outcome::accepted
                                   ? "accepted"
                                   : e.outcome == AuthResult::Outcome::rejected
                                         ? "rejected"
                                         : "unavailable");
                   },
                   [&](const MailboxOpened& e) {
                       out << "mailbox-opened "
                           << (e.snapshot ? e.snapshot->size() : 0);
                   },
                   [&](const MailboxFailed& e) { out << "mailbox-failed " << e.reason; },
                   [&](const MessagesVanished& e) {
                       out << "vanished";
                       print_indices(out, e.indices);
                   },
                   [&](const MessageGone& e) { out << "message-gone " << (e.index + 1); },
                   [&](const Updated& e) {
                       out << "updated " << e.removed << ' ' << e.already_gone
                           << ' ' << e.failed;
                   },
                   [&](const Timeout&) { out << "timeout"; },
                   [&](const Hangup&) { out << "hangup"; },
                   [&](const ScramCredentialsFound&) { out << "scram-credentials"; },
                   [&](const ScramVerdict& e) { out << "scram-verdict " << e.proof_ok; },
                   [&](const TlsStarted&) { out << "tls-started"; },
                   [&](const TlsFailed& e) { out << "tls-failed " << e.reason; },
                   [&](const SaslRelayChallenge&) { out << "sasl-relay-challenge"; },
               },
               event);
    return out;
}

} // namespace pop3::core
