// The core fed arbitrary streams of client lines and shell events, in any
// order: step() must never crash, and what it says and asks must stay sane —
// every status line well-formed and within 512 octets with no line break
// inside (no response splitting), body lines free of CR/LF, RETR/TOP/UPDATE
// only of messages in the snapshot, and silence once the session is closed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "pop3/core/limits.hpp"
#include "pop3/core/response.hpp"
#include "pop3/core/session.hpp"

using namespace pop3::core;

namespace {

// Consumes the fuzzer's bytes.
struct Bytes {
    std::string_view in;
    bool empty() const { return in.empty(); }
    std::uint8_t byte() {
        if (in.empty()) return 0;
        auto b = static_cast<std::uint8_t>(in[0]);
        in.remove_prefix(1);
        return b;
    }
    std::string take(std::size_t n) {
        n = std::min(n, in.size());
        std::string out(in.substr(0, n));
        in.remove_prefix(n);
        return out;
    }
};

// Well-formed commands reach the deep states; raw bytes test the rest.
const char* const k_commands[] = {
    "USER alice@example.org", "PASS secret", "QUIT", "STAT", "LIST", "LIST ",
    "RETR ", "DELE ", "NOOP", "RSET", "TOP ", "UIDL", "UIDL ", "CAPA", "STLS",
    "AUTH", "AUTH PLAIN", "AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==",
    "AUTH LOGIN", "AUTH CRAM-MD5", "AUTH SCRAM-SHA-256", "AUTH SCRAM-SHA-1 =",
    "*", "APOP alice@example.org 0123456789abcdef0123456789abcdef",
    "USER bob", "LIST 0", "RETR 4294967296", "TOP 1 18446744073709551616",
    "biwsbj1hbGljZUBleGFtcGxlLm9yZyxyPW5vbmNl", "YWxpY2VAZXhhbXBsZS5vcmc=",
};

std::size_t snapshot_size(const SessionState& state) {
    if (auto* t = std::get_if<Transaction>(&state)) return t->mailbox.size();
    return 0;
}

Input next_input(Bytes& b, const SessionState& state) {
    const std::uint8_t op = b.byte();
    switch (op % 16) {
    case 0: case 1: case 2: // raw line
        return FramedLine{b.take(b.byte() % 64)};
    case 3: case 4: case 5: case 6: { // a command with a number
        std::string line = k_commands[b.byte() % std::size(k_commands)];
        if (line.back() == ' ') {
            line += std::to_string(b.byte() % 8);
            if (line.rfind("TOP ", 0) == 0) line += " " + std::to_string(b.byte() % 4);
        }
        return FramedLine{line};
    }
    case 7: return OverlongLine{k_max_command_line + b.byte()};
    case 8: {
        Connected c{};
        c.apop_banner = (b.byte() & 1) ? "<1.2@host>" : "";
        return Event{c};
    }
    case 9: {
        AuthResult r{};
        r.outcome = static_cast<AuthResult::Outcome>(b.byte() % 3);
        r.user = r.outcome == AuthResult::Outcome::accepted ? "alice@example.org" : "";
        return Event{r};
    }
    case 10: {
        std::vector<MessageInfo> messages;
        std::size_t n = b.byte() % 6;
        for (std::size_t i = 0; i < n; ++i)
            messages.push_back({b.byte(), "u" + std::to_string(i)});
        return Event{MailboxOpened{make_snapshot(std::move(messages))}};
    }
    case 11: {
        MailboxFailed f{};
        f.code = static_cast<RespCode>(1 + b.byte() % 3);
        f.reason = "cannot open";
        return Event{f};
    }
    case 12: {
        auto n = snapshot_size(state);
        if (n == 0) return Event{Timeout{}};
        std::vector<std::size_t> gone;
        const unsigned k = b.byte() % 4u;
        for (unsigned i = 0; i < k; ++i) gone.push_back(b.byte() % n);
        return Event{MessagesVanished{std::move(gone)}};
    }
    case 13: {
        auto n = snapshot_size(state);
        if (n == 0) return Event{Hangup{}};
        MessageGone g{};
        g.index = b.byte() % n;
        g.vanished = b.byte() & 1;
        return Event{g};
    }
    case 14: {
        Updated u{};
        u.removed = b.byte() % 4;
        u.already_gone = b.byte() % 4;
        u.failed = b.byte() % 4;
        return Event{u};
    }
    default:
        switch (b.byte() % 7) {
        case 0: return Event{Timeout{}};
        case 1: return Event{Hangup{}};
        case 2: return Event{TlsStarted{}};
        case 3: {
            TlsFailed f{};
            f.reason = "handshake failed";
            return Event{f};
        }
        case 4: {
            ScramVerdict v{};
            v.proof_ok = b.byte() & 1;
            v.server_signature = b.take(32);
            return Event{v};
        }
        case 5: return Event{SaslRelayChallenge{b.take(40)}};
        default: {
            ScramCredentialsFound c{};
            c.credentials.user = "alice@example.org";
            c.credentials.salt = b.take(16);
            c.credentials.iterations = 4096;
            c.credentials.stored_key = b.take(32);
            c.credentials.server_key = b.take(32);
            c.credentials.known = b.byte() & 1;
            return Event{c};
        }
        }
    }
}

void check_response(const Response& r) {
    auto wire = render(r);
    auto eol = wire.find("\r\n");
    FUZZ_CHECK(eol != std::string::npos);
    auto status = std::string_view(wire).substr(0, eol);
    FUZZ_CHECK(eol + 2 <= k_max_response_line);
    FUZZ_CHECK(status.rfind("+OK", 0) == 0 || status.rfind("-ERR", 0) == 0 ||
               status.rfind("+ ", 0) == 0 || status == "+");
    FUZZ_CHECK(status.find('\r') == std::string_view::npos);
    FUZZ_CHECK(status.find('\n') == std::string_view::npos);
    FUZZ_CHECK(status.find('\0') == std::string_view::npos);
    for (const auto& line : body_lines(r)) {
        FUZZ_CHECK(line.find('\r') == std::string::npos);
        FUZZ_CHECK(line.find('\n') == std::string::npos);
    }
    if (r.multiline) FUZZ_CHECK(wire.size() >= 5 && wire.substr(wire.size() - 3) == ".\r\n");
    // Sent in pieces (as the shell sends it), the same bytes.
    std::string pieces;
    ResponseWriter writer(r);
    const std::size_t chunk = 1 + wire.size() % 61;
    while (writer.next(pieces, chunk)) {
    }
    FUZZ_CHECK(pieces == wire);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Bytes b{std::string_view(reinterpret_cast<const char*>(data), size)};
    Config config;
    const std::uint8_t flags = b.byte();
    config.apop = flags & 1;
    config.mark_seen = flags & 2;
    config.allow_plaintext = flags & 4;
    config.tls_available = flags & 8;
    config.max_bad_commands = 1 + (flags >> 4) % 12;
    const std::uint8_t more = b.byte();
    config.max_auth_failures = 1 + more % 4;
    config.sasl_relay = more & 0x10; // CRAM-MD5 and SCRAM relayed (Dovecot)

    // FUZZ_TRACE=1 prints the session a crashing input decodes to.
    static const bool trace = std::getenv("FUZZ_TRACE") != nullptr;
    SessionState state = Idle{};
    for (int steps = 0; steps < 400 && !b.empty(); ++steps) {
        const bool was_closed = std::holds_alternative<Closed>(state);
        const std::size_t messages = snapshot_size(state);
        const Input input = next_input(b, state);
        if (trace) {
            std::cerr << state_name(state) << " <- ";
            if (auto* l = std::get_if<FramedLine>(&input)) std::cerr << "line " << l->text;
            else if (auto* e = std::get_if<Event>(&input)) std::cerr << *e;
            else std::cerr << "overlong";
            std::cerr << "\n";
        }
        Step s = step(std::move(state), input, config);
        state = std::move(s.state);
        if (trace) {
            for (const auto& r : s.responses) std::cerr << "   " << r << "\n";
            for (const auto& e : s.effects) std::cerr << "   effect " << e << "\n";
        }
        if (was_closed) {
            FUZZ_CHECK(s.responses.empty() && s.effects.empty());
            FUZZ_CHECK(std::holds_alternative<Closed>(state));
        }
        for (const auto& r : s.responses) check_response(r);
        for (const auto& e : s.effects) {
            if (auto* send = std::get_if<SendMessage>(&e)) {
                FUZZ_CHECK(send->index < messages);
                check_response(send->status);
                FUZZ_CHECK(send->status.ok);
            } else if (auto* update = std::get_if<Update>(&e)) {
                for (std::size_t i = 0; i < update->indices.size(); ++i) {
                    FUZZ_CHECK(update->indices[i] < messages);
                    if (i > 0)
                        FUZZ_CHECK(update->indices[i - 1] < update->indices[i]);
                }
            }
        }
    }
    return 0;
}
