// Dovecot's authentication protocol (version 1), both sockets pop3d uses:
// auth-client (passdb: the handshake, AUTH, CONT, OK, FAIL) and
// auth-userdb (USER, NOTFOUND, FAIL). Lines are tab-separated fields,
// escaped with Dovecot's tab escaping; everything here is pure text work.
#pragma once
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <tl/expected.hpp>

namespace pop3::core::dovecot {

// Dovecot's tab escaping of one field: 0x01 -> 01 '1', TAB -> 01 't',
// CR -> 01 'r', LF -> 01 'n', NUL -> 01 '0'. The result holds none of
// TAB, CR, LF or NUL, so a field can never split a line or a field.
[[nodiscard]] std::string tab_escape(std::string_view field);
// The inverse, strict: 0x01 followed by anything but 0 1 t r n (or by
// nothing) is an error.
[[nodiscard]] tl::expected<std::string, std::string> tab_unescape(std::string_view field);

// --- lines the service sends --------------------------------------------
struct Version { // VERSION major minor
    std::uint32_t major = 0;
    std::uint32_t minor = 0;
    bool operator==(const Version&) const = default;
};
struct Mech { // MECH name flags...: a SASL mechanism the service offers
    std::string name;
    std::vector<std::string> flags; // plaintext, dictionary, active, ...
    bool operator==(const Mech&) const = default;
};
struct Spid { // SPID pid: the auth server process (APOP challenges name it)
    std::uint64_t pid = 0;
    bool operator==(const Spid&) const = default;
};
struct Cuid { // CUID id: this connection's id (APOP challenges name it)
    std::uint64_t id = 0;
    bool operator==(const Cuid&) const = default;
};
struct Cookie { // COOKIE hex: for master requests; kept, not used
    std::string hex;
    bool operator==(const Cookie&) const = default;
};
struct Done { // DONE: the end of the handshake
    bool operator==(const Done&) const = default;
};
// OK id params...: the credentials are accepted (user=NAME among them).
struct Ok {
    std::uint32_t id = 0;
    std::vector<std::string> params;
    bool operator==(const Ok&) const = default;
};
// CONT id base64: the mechanism's next challenge (SCRAM's server-final too).
struct Cont {
    std::uint32_t id = 0;
    std::string data; // base64 as sent
    bool operator==(const Cont&) const = default;
};
// FAIL id params...: rejected (after the service's own failure delay), or
// on the userdb socket, a lookup that failed (reason=...).
struct Fail {
    std::uint32_t id = 0;
    std::vector<std::string> params;
    bool operator==(const Fail&) const = default;
};
// USER id name params...: the userdb's answer (uid=, gid=, home=, mail=).
struct User {
    std::uint32_t id = 0;
    std::string name;
    std::vector<std::string> params;
    bool operator==(const User&) const = default;
};
struct NotFound { // NOTFOUND id: no such user in the userdb
    std::uint32_t id = 0;
    bool operator==(const NotFound&) const = default;
};
// A verb this client does not know (the protocol lets servers add them to
// the handshake; they are ignored there and refused elsewhere).
struct Unknown {
    std::string verb;
    bool operator==(const Unknown&) const = default;
};

using ServerLine =
    std::variant<Version, Mech, Spid, Cuid, Cookie, Done, Ok, Cont, Fail, User, NotFound, Unknown>;

// One line (without its LF) from either socket. Strict: a known verb has
// exactly its fields, numbers are canonical decimals in range, escapes are
// valid; an unknown verb is `Unknown`. Lines longer than
// k_max_dovecot_auth_line are errors. The text says what was wrong.
[[nodiscard]] tl::expected<ServerLine, std::string> parse_server_line(std::string_view line);
// The wire form of a line, without its LF (what a service would send; the
// parser's inverse: parse_server_line(render(x)) == x).
[[nodiscard]] std::string render(const ServerLine& line);
std::ostream& operator<<(std::ostream& out, const ServerLine& line);

// The value of `key=value` among `params`, or "" for a bare `key` flag;
// nullopt when absent.
[[nodiscard]] std::optional<std::string_view> param(const std::vector<std::string>& params,
                                                    std::string_view key);

// Splits a byte stream into lines at LF. A line longer than
// k_max_dovecot_auth_line (without its LF) is an error, and the reader
// stays in error (the stream cannot be resynchronised).
class LineReader {
public:
    void feed(std::string_view bytes);
    // The next whole line, an error, or nullopt when more bytes are needed.
    [[nodiscard]] std::optional<tl::expected<std::string, std::string>> next();

private:
    std::string buffer_;
    std::size_t start_ = 0;
    bool failed_ = false;
};

// What the handshake told this connection.
struct Handshake {
    std::optional<Version> version;
    std::vector<Mech> mechs;
    std::optional<std::uint64_t> spid;
    std::optional<std::uint64_t> cuid;
    bool done = false;
    // True when the service offers `mechanism` (case-insensitive).
    [[nodiscard]] bool offers(std::string_view mechanism) const;
};
// Adds one handshake line: VERSION first (major 1), then MECH, SPID, CUID,
// COOKIE and unknown lines in any order, up to DONE. Anything else, or a
// second VERSION, is an error.
[[nodiscard]] tl::expected<void, std::string> add(Handshake& handshake, const ServerLine& line);

// --- lines pop3d sends --------------------------------------------------
// The auth-client handshake: VERSION 1 2 and CPID (this process's id).
[[nodiscard]] std::string client_handshake(std::uint64_t pid);
// The auth-userdb handshake: VERSION 1 0.
[[nodiscard]] std::string userdb_handshake();

// One AUTH request. Addresses are text the caller has validated;
// `initial_response` is raw (sent base64-encoded as resp=, the last field).
struct AuthRequest {
    std::uint32_t id = 0;
    std::string mechanism;
    std::string service = "pop3";
    std::string local_ip, remote_ip; // empty: not sent
    std::optional<std::uint16_t> local_port, remote_port;
    bool secured = false; // TLS, or a local connection: only then
    std::string session;  // empty: not sent
    std::optional<std::string> initial_response;
    bool operator==(const AuthRequest&) const = default;
};
[[nodiscard]] std::string encode(const AuthRequest& request);
// CONT id base64: the client's next response (raw octets) in an exchange.
[[nodiscard]] std::string encode_continue(std::uint32_t id, std::string_view response);
// USER id name service=SERVICE: a userdb lookup.
[[nodiscard]] std::string encode_user_lookup(std::uint32_t id, std::string_view user,
                                             std::string_view service = "pop3");

// --- APOP through the service -------------------------------------------
// The greeting's timestamp in the form the service accepts for this
// connection: "<SPID.CUID.TIME.NONCE@HOST>", the numbers in hex. `nonce`
// and `host` may hold only printable ASCII other than '<', '>' and '@'
// (others become 'x').
[[nodiscard]] std::string apop_challenge(std::uint64_t spid, std::uint64_t cuid,
                                         std::uint64_t unix_time, std::string_view nonce,
                                         std::string_view host);
// The APOP mechanism's data: challenge NUL user NUL the 16 digest octets
// (from the client's 32 hex digits); nullopt when the digest is not hex.
[[nodiscard]] std::optional<std::string> apop_response(std::string_view challenge,
                                                       std::string_view user,
                                                       std::string_view digest_hex);

// --- the userdb's mail location ------------------------------------------
// The INBOX Maildir a userdb answer names: from `mail` ("maildir:PATH",
// with Dovecot's ":INBOX=PATH" option if given; other options ignored),
// with "~" at the start as `home` and %u (user), %n (its local part), %d
// (its domain), %Lu %Ln %Ld (lower-cased) and %% expanded. The result is an
// absolute path without "." or ".." components. Any other format, variable
// or a relative result is an error saying so.
[[nodiscard]] tl::expected<std::string, std::string>
maildir_inbox(std::string_view mail, std::string_view home, std::string_view user);

} // namespace pop3::core::dovecot
