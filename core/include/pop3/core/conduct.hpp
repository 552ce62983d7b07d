// The client's conduct (pop3d --conduct-report): a fold over a session's
// client lines, the server's answers and how the session ended, judged
// against RFC 1939, 2449, 2595 and 5034, and rendered as log lines.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "pop3/core/response.hpp"
#include "pop3/core/session.hpp"

namespace pop3::core::conduct {

// Where a client line arrived, from the session state it was read in.
enum class Phase : std::uint8_t { authorization, sasl_response, transaction, other };
struct Where {
    Phase phase = Phase::other;
    bool tls = false;            // TLS active (or terminated by a trusted balancer)
    std::uint64_t messages = 0;  // TRANSACTION: messages in the snapshot
};
[[nodiscard]] Where where(const SessionState& state);

// One client line as the shell framed it. `text` is never kept (it may be
// a password or SASL data): only the keyword and message numbers are, and
// a hash of the line while its answer may be a -ERR, to tell a retry.
struct Line {
    std::string_view text;  // without its line end; empty when overlong
    bool overlong = false;  // over line_limit(), discarded unread
    std::size_t octets = 0; // length, its line end included (when seen)
    bool bare_lf = false;   // ended in LF alone, not CRLF
    bool pipelined = false; // was buffered before the previous answer went out
    Where where;
};

// How the session ended, as the shell saw it.
enum class End : std::uint8_t {
    closed_by_server, // after QUIT, or a -ERR that ends the session
    client_disconnected,
    timeout,          // the idle timeout: the client said nothing
    terminated,       // SIGTERM/SIGHUP
    time_limit,       // --session-limit or --login-timeout, however busy
    stopped_reading,  // a write waited the idle timeout: the client read nothing
};

// A command line's keyword and message numbers, safe to log ("RETR 0").
struct Label {
    std::uint8_t keyword = 0; // index into the keyword table (conduct.cpp)
    std::uint8_t arguments = 0; // how many of `numbers` apply
    bool malformed = false;   // arguments that do not parse
    std::array<std::uint64_t, 2> numbers{};
    bool operator==(const Label&) const = default;
};

// What the client did after a -ERR.
enum class Reaction : std::uint8_t {
    continued,     // a different command next
    retried,       // the same line again, octet for octet
    quit,          // QUIT next
    pipelined,     // its next command was already sent before the -ERR
    disconnected,  // closed the connection
    silent,        // said nothing until the timeout
    server_closed, // the -ERR ended the session
    count_
};

// Kinds of finding; each has its RFC clause and a severity in conduct.cpp.
enum class Kind : std::uint8_t {
    message_zero,       // RFC 1939 section 4
    message_out_of_range,
    wrong_state,        // RFC 1939 sections 4 and 5
    pass_without_user,  // RFC 1939 section 7
    apop_without_stamp, // RFC 1939 section 7
    malformed,          // RFC 1939 section 3
    unknown_command,
    empty_line,
    overlong_line,      // RFC 2449 section 4
    overlong_sasl_response, // pop3d's bound (RFC 5034 section 4)
    bare_lf,            // RFC 1939 section 3
    pipelining_unadvertised, // RFC 2449 section 6.6
    pipelined_after_stls,    // RFC 2595 section 4
    no_quit,            // RFC 1939 section 6
    plaintext_before_stls,   // a note: RFC 2595 section 2.3 is site policy
    top_without_capa,   // RFC 2449 section 6.1
    uidl_without_capa,  // RFC 2449 section 6.8
    user_without_capa,  // RFC 2449 section 6.2
    stls_without_capa,  // RFC 2595 section 4
    auth_without_capa,  // RFC 2449 section 6.3
    count_
};

struct Finding {
    std::uint64_t count = 0;
    std::uint64_t first_line = 0; // 1-based line number of the first time
    Label example;                // the line's label then
    bool operator==(const Finding&) const = default;
};

struct Refusal {
    std::uint64_t line = 0;
    Label label;
    Reaction reaction = Reaction::continued;
    bool operator==(const Refusal&) const = default;
};

// Refusals listed one by one in the report; the rest are counted.
inline constexpr std::size_t k_listed_refusals = 20;

// The folded conduct. Bounded in size whatever the session's length.
struct Conduct {
    std::uint64_t lines = 0;
    std::array<std::uint64_t, 24> used{}; // per keyword
    bool greeting_seen = false;
    bool apop_stamp = false;   // the greeting carried a timestamp
    bool capa_asked = false;   // a CAPA was answered +OK
    std::uint32_t advertised = 0; // capabilities CAPA listed (bits), since TLS
    bool tls = false;             // TLS was active at the last line
    bool pipelining_known = false; // PIPELINING known before the last answer
    bool awaiting_answer = false;  // the last line has no answer yet
    Label last;
    bool last_ok = false;
    // FNV-1a of the last line until its answer, kept only to tell a retry
    // (never logged, never handed over: it may be a password's line).
    std::uint64_t last_hash = 0;
    std::optional<Refusal> pending; // a -ERR whose reaction is not yet known
    std::uint64_t pending_hash = 0; // the refused line's hash
    std::array<Finding, static_cast<std::size_t>(Kind::count_)> findings{};
    std::vector<Refusal> refusals; // the first k_listed_refusals
    std::array<std::uint64_t, static_cast<std::size_t>(Reaction::count_)> reactions{};
    bool ended = false;
    End end = End::closed_by_server;
    bool operator==(const Conduct&) const = default;
};

// The fold.
[[nodiscard]] Conduct start();
// A client line, in the state it arrived in.
[[nodiscard]] Conduct observe(Conduct conduct, const Line& line);
// STLS was accepted with more input already buffered: the client sent
// commands before the answer and the handshake, and the server discarded
// them unread (RFC 2595 section 4).
[[nodiscard]] Conduct discarded_after_stls(Conduct conduct);
// A response the server wrote. Only the first after a line answers it; the
// first before any line is the greeting.
[[nodiscard]] Conduct answered(Conduct conduct, const Response& response);
// The session's end.
[[nodiscard]] Conduct ended(Conduct conduct, End end);

// The report: one log line each, all starting "conduct: ", naming the RFC
// clause of every finding; never a line's text beyond keywords and numbers.
[[nodiscard]] std::vector<std::string> report(const Conduct& conduct);

// The conduct so far as one line of decimal numbers, for the hand-over to
// the mail process after login, and its strict inverse (the line hash is
// left out: after a login it is a password's line's).
[[nodiscard]] std::string encode(const Conduct& conduct);
[[nodiscard]] tl::expected<Conduct, std::string> decode(std::string_view text);

} // namespace pop3::core::conduct
