// Dovecot's authentication service as pop3d's password database (--auth
// dovecot:SOCKET, its auth-client socket) and user database (--userdb
// dovecot:SOCKET, its auth-userdb socket): the connections, with every
// wait bounded by --auth-timeout, and the credential backend built on them.
// The lines themselves are the core's (pop3/core/dovecot_auth.hpp).
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <tl/expected.hpp>

#include "credentials.hpp"
#include "log.hpp"
#include "options.hpp"
#include "pop3/core/dovecot_auth.hpp"
#include "pop3/core/privsep_wire.hpp"
#include "unique_fd.hpp"

namespace pop3::shell {

// The connection's ends as Dovecot wants them (rip/rport, lip/lport):
// only IP addresses, never "local" or "unknown".
struct ClientEndpoints {
    std::string remote_ip, local_ip;
    std::optional<std::uint16_t> remote_port, local_port;
};
// The ends of the client connection `fd`: $TCPREMOTEIP/$TCPREMOTEPORT and
// $TCPLOCALIP/$TCPLOCALPORT when tcpserver set them, else getpeername(2)
// and getsockname(2).
[[nodiscard]] ClientEndpoints client_endpoints(int fd);

// One connection to a socket of Dovecot's auth service.
class DovecotConnection {
public:
    using Clock = std::chrono::steady_clock;
    // Connects to the auth-client socket `path` and reads the handshake up
    // to DONE, all within `timeout`. The error is one log line's text.
    [[nodiscard]] static tl::expected<DovecotConnection, std::string>
    open_client(const std::string& path, std::chrono::milliseconds timeout);
    // Connects to the auth-userdb (or auth-master) socket `path` and sends
    // its handshake; the service's VERSION is checked with the first answer.
    [[nodiscard]] static tl::expected<DovecotConnection, std::string>
    open_userdb(const std::string& path);

    [[nodiscard]] const pop3::core::dovecot::Handshake& handshake() const { return handshake_; }
    [[nodiscard]] std::uint32_t next_id() { return ++last_id_; }
    // Sends one line (with its LF) by `deadline`.
    [[nodiscard]] tl::expected<void, std::string> send(const std::string& line,
                                                       Clock::time_point deadline);
    // The service's next line about request `id` (OK, CONT, FAIL, USER,
    // NOTFOUND), skipping answers to earlier requests, by `deadline`. A
    // malformed or over-long line, a closed socket or a late answer is an
    // error; the connection is then of no further use.
    [[nodiscard]] tl::expected<pop3::core::dovecot::ServerLine, std::string>
    answer(std::uint32_t id, Clock::time_point deadline);

private:
    explicit DovecotConnection(UniqueFd fd) : fd_(std::move(fd)) {}
    [[nodiscard]] tl::expected<pop3::core::dovecot::ServerLine, std::string>
    next_line(Clock::time_point deadline);

    UniqueFd fd_;
    pop3::core::dovecot::LineReader reader_;
    pop3::core::dovecot::Handshake handshake_;
    bool userdb_ = false;
    bool userdb_version_seen_ = false;
    std::uint32_t last_id_ = 0;
};

// The password database behind the auth-client socket: USER/PASS and SASL
// PLAIN/LOGIN as AUTH PLAIN, APOP as AUTH APOP with a challenge of the
// service's form. Connects once at start-up (before the greeting: the MECH
// lines decide what is offered, and APOP's challenge names this
// connection); after a failure it tries once more at the next login. The
// service applies its own failure delay and per-address penalty, so pop3d
// adds none and always passes the real client's address.
class DovecotPassdb {
public:
    DovecotPassdb(const Options& options, const Log& log, ClientEndpoints endpoints);

    // Connects (a failure is logged once; logins then answer unavailable).
    void connect();
    // What the greeting and CAPA offer: from the service's MECH lines and
    // the options (--sasl, --apop/--no-apop).
    [[nodiscard]] pop3::core::privsep::Offer offer();
    // A privsep request answered as the auth process answers it.
    [[nodiscard]] pop3::core::privsep::Answer answer(const pop3::core::privsep::Request& request);
    // Behind a balancer: the real client, from its PROXY header.
    void set_client(const std::string& address);
    // In the jail the socket's path cannot be reached: a lost connection
    // is then not remade (and the log says so, not "no such file").
    void jailed() { can_reconnect_ = false; }
    // One step of a relayed CRAM-MD5 or SCRAM exchange.
    [[nodiscard]] Credentials::RelayAnswer relay(const pop3::core::RelaySasl& request);

private:
    // The service's answer to request `id` as a relay step.
    Credentials::RelayAnswer outcome(std::uint32_t id, const std::string& user,
                                     std::string_view method,
                                     std::chrono::steady_clock::time_point deadline);
    bool ensure_connected(std::string* why);
    pop3::core::AuthResult authenticate(const std::string& mechanism, std::string response,
                                        const std::string& user, std::string_view method,
                                        bool tls);
    pop3::core::AuthResult unavailable(const std::string& why);
    // rip/rport/lip/lport of every AUTH request: the client's ends.
    void set_endpoints(pop3::core::dovecot::AuthRequest& request) const;
    [[nodiscard]] std::string failed_line(std::string_view user, std::string_view method,
                                          std::string_view reason) const;

    const Options& options_;
    const Log& log_;
    ClientEndpoints endpoints_;
    std::optional<DovecotConnection> connection_;
    std::string banner_; // the APOP challenge of the greeting, or empty
    bool tried_ = false;
    bool can_reconnect_ = true;
    std::uint32_t relay_id_ = 0; // the relayed exchange's request, 0: none
};

// The same in the one process of an unprivileged start.
class DovecotCredentials final : public Credentials {
public:
    explicit DovecotCredentials(DovecotPassdb& passdb) : passdb_(passdb) {}
    [[nodiscard]] pop3::core::AuthResult
    verify(const pop3::core::privsep::Request& request) override;
    [[nodiscard]] pop3::core::ScramCredentials
    scram_lookup(const pop3::core::FetchScramCredentials& request) override;
    [[nodiscard]] pop3::core::ScramVerdict
    scram_verify(const pop3::core::VerifyScram& request) override;
    [[nodiscard]] RelayAnswer relay(const pop3::core::RelaySasl& request) override {
        return passdb_.relay(request);
    }
    [[nodiscard]] std::optional<MailIds> serve_here() const override { return MailIds{}; }
    bool hand_off(const pop3::core::privsep::Handoff&, std::initializer_list<int>) override {
        return false;
    }

private:
    DovecotPassdb& passdb_;
};

// Where the userdb says to serve a user's mail.
struct UserdbEntry {
    std::optional<std::uint32_t> uid, gid;
    std::string home;
    std::optional<std::string> inbox; // absolute Maildir path from mail=, or nullopt
};
// Looks `user` up on the auth-userdb socket `path` (--userdb dovecot:),
// within --auth-timeout. Errors: `refused` for a user the userdb does not
// know or whose fields pop3d cannot use (-ERR [SYS/PERM]), otherwise the
// service is unavailable (-ERR [SYS/TEMP]); the text is one log line.
struct UserdbError {
    bool refused = false;
    std::string why;
};
[[nodiscard]] tl::expected<UserdbEntry, UserdbError>
userdb_lookup(const Options& options, const std::string& user);

} // namespace pop3::shell
