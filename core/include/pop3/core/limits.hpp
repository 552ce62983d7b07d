// Every protocol and resource limit of pop3d, in one place (popa3d's params.h).
#pragma once
#include <cstddef>
#include <cstdint>

namespace pop3::core {

// RFC 2449 section 4: a command line is at most 255 octets including CRLF.
inline constexpr std::size_t k_max_command_line = 255;
// RFC 2449 section 4: a response status line is at most 512 octets incl. CRLF.
inline constexpr std::size_t k_max_response_line = 512;
// RFC 1939 UIDL: 1 to 70 characters in the range 0x21 to 0x7E.
inline constexpr std::size_t k_max_uidl = 70;
// RFC 1939 section 3: arguments are up to 40 characters long. We accept more
// (user@domain logins can be longer) but bound them.
inline constexpr std::size_t k_max_argument = 200;
// Failed USER/PASS or APOP attempts before the session is closed.
inline constexpr unsigned k_default_max_auth_failures = 3;
// Consecutive malformed, unknown or misplaced commands before the session is
// closed; any successful command resets the count.
inline constexpr unsigned k_default_max_bad_commands = 10;
// RFC 1939 section 3: the autologout timer must be at least 10 minutes.
inline constexpr unsigned k_default_idle_timeout_seconds = 600;
// A SASL response line (RFC 5034 section 4 lets servers bound it; SCRAM
// and Kerberos-sized responses fit easily), including CRLF.
inline constexpr std::size_t k_max_sasl_line = 12288;
// Largest message number we parse; anything larger cannot exist.
inline constexpr std::uint64_t k_max_message_number = 0xFFFFFFFFu;

// One message between pop3d's processes (core/privsep_wire.hpp): the
// largest holds a SASL response line or the input a client pipelined past
// its login (at most one 4 KiB read plus a line).
inline constexpr std::size_t k_max_privsep_message = 32 * 1024;
// RFC 2449 does not bound the time before login; Dovecot closes clients that
// have not logged in after 180 s, and so does pop3d by default.
inline constexpr unsigned k_default_login_timeout_seconds = 180;

// A balancer sends its PROXY header at once; a peer that has not within
// this time is not one (and holds no process longer than this).
inline constexpr unsigned k_proxy_header_timeout_seconds = 10;

// One line from Dovecot's auth service (core/dovecot_auth.hpp), without its
// LF: Dovecot's own AUTH_CLIENT_MAX_LINE_LENGTH. A longer one is a broken
// or hostile peer, never buffered further.
inline constexpr std::size_t k_max_dovecot_auth_line = 16384;
// Seconds pop3d waits for an answer of Dovecot's auth service by default
// (--auth-timeout): above its 2 s failure delay plus a slow SQL lookup.
inline constexpr unsigned k_default_auth_timeout_seconds = 30;

// A --scenario file (scenario.hpp): its size, one line, the rules, one
// injected -ERR text and one delay. Test files are small; these keep a
// mistaken FILE (a mail spool, say) from being taken as one.
inline constexpr std::size_t k_max_scenario_bytes = 64 * 1024;
inline constexpr std::size_t k_max_scenario_line = 1000;
inline constexpr std::size_t k_max_scenario_rules = 1000;
inline constexpr std::size_t k_max_scenario_error_text = 200;
inline constexpr std::uint32_t k_max_scenario_delay_ms = 60'000;

} // namespace pop3::core
