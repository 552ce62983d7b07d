// Talking to Dovecot's auth service. Every wait has a deadline, so a stuck
// or slow service costs the client an -ERR [SYS/TEMP], never a hang; every
// line goes through the core's strict parser before anything in it is used.
#include "dovecot_auth.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "authenticator.hpp"
#include "pop3/core/ip_address.hpp"
#include "random_source.hpp"

namespace pop3::shell {
namespace {

namespace core = pop3::core;
namespace dovecot = pop3::core::dovecot;
namespace privsep = pop3::core::privsep;
using Clock = std::chrono::steady_clock;

std::string errno_text() { return std::strerror(errno); }

// Text as an IP address in canonical form, or "" when it is none.
std::string ip_text(const std::string& text) {
    if (auto ip = core::parse_ip(text)) return core::to_string(*ip);
    return {};
}

std::optional<std::uint16_t> port_text(const char* text) {
    if (text == nullptr || *text == '\0') return std::nullopt;
    char* end = nullptr;
    errno = 0;
    const unsigned long v = std::strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || v > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(v);
}

void address_of(const sockaddr_storage& addr, std::string& ip, std::optional<std::uint16_t>& port) {
    char text[INET6_ADDRSTRLEN] = "";
    if (addr.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
        inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
        port = ntohs(in->sin_port);
    } else if (addr.ss_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
        inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
        port = ntohs(in6->sin6_port);
    } else {
        return;
    }
    ip = ip_text(text);
}

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return 0;
    return left > 0x7fffffff ? 0x7fffffff : static_cast<int>(left);
}

// Waits for `events` on `fd` until `deadline`; false on timeout or error.
bool wait_for(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        pollfd p{fd, events, 0};
        const int ready = ::poll(&p, 1, remaining_ms(deadline));
        if (ready > 0) return true;
        if (ready == 0) return false;
        if (errno != EINTR) return false;
    }
}


tl::expected<UniqueFd, std::string> connect_unix(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        return tl::unexpected("socket path " + path + " is empty or too long");
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    UniqueFd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (!fd) return tl::unexpected("socket: " + errno_text());
    // A Unix socket's connect completes at once or fails (EAGAIN: its
    // backlog is full, the service is overloaded).
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        return tl::unexpected("cannot connect to " + path + ": " + errno_text());
    return fd;
}

std::string sanitised(std::string address) {
    for (char& c : address) {
        const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                        (c >= 'A' && c <= 'Z') || c == '.' || c == ':' || c == '%' ||
                        c == '_' || c == '-';
        if (!ok) c = '?';
    }
    return address.empty() ? std::string("unknown") : address;
}

} // namespace

ClientEndpoints client_endpoints(int fd) {
    ClientEndpoints out;
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        address_of(addr, out.remote_ip, out.remote_port);
    addr = {};
    len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        address_of(addr, out.local_ip, out.local_port);
    // tcpserver's word, as peer_address() takes it.
    if (const char* ip = std::getenv("TCPREMOTEIP")) {
        out.remote_ip = ip_text(ip);
        out.remote_port = port_text(std::getenv("TCPREMOTEPORT"));
    }
    if (const char* ip = std::getenv("TCPLOCALIP")) {
        out.local_ip = ip_text(ip);
        out.local_port = port_text(std::getenv("TCPLOCALPORT"));
    }
    return out;
}

// --- the connection ------------------------------------------------------

tl::expected<DovecotConnection, std::string>
DovecotConnection::open_client(const std::string& path, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    auto fd = connect_unix(path);
    if (!fd) return tl::unexpected(fd.error());
    DovecotConnection c(std::move(*fd));
    if (auto sent = c.send(dovecot::client_handshake(static_cast<std::uint64_t>(::getpid())),
                           deadline);
        !sent)
        return tl::unexpected(sent.error());
    while (!c.handshake_.done) {
        auto line = c.next_line(deadline);
        if (!line) return tl::unexpected("handshake: " + line.error());
        if (auto added = dovecot::add(c.handshake_, *line); !added)
            return tl::unexpected("handshake: " + added.error());
    }
    return c;
}

tl::expected<DovecotConnection, std::string> DovecotConnection::open_userdb(const std::string& path) {
    auto fd = connect_unix(path);
    if (!fd) return tl::unexpected(fd.error());
    DovecotConnection c(std::move(*fd));
    c.userdb_ = true;
    return c;
}

tl::expected<void, std::string> DovecotConnection::send(const std::string& line,
                                                        Clock::time_point deadline) {
    std::size_t done = 0;
    while (done < line.size()) {
        const ssize_t n = ::send(fd_.get(), line.data() + done, line.size() - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_for(fd_.get(), POLLOUT, deadline))
                return tl::unexpected(std::string("no room to send within the time limit"));
            continue;
        }
        return tl::unexpected("send: " + errno_text());
    }
    return {};
}

tl::expected<dovecot::ServerLine, std::string>
DovecotConnection::next_line(Clock::time_point deadline) {
    for (;;) {
        if (auto line = reader_.next()) {
            if (!*line) return tl::unexpected(line->error());
            auto parsed = dovecot::parse_server_line(**line);
            if (!parsed) return tl::unexpected("malformed line: " + parsed.error());
            return std::move(*parsed);
        }
        if (!wait_for(fd_.get(), POLLIN, deadline))
            return tl::unexpected(std::string("no answer within the time limit (--auth-timeout)"));
        char buffer[4096];
        const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
        if (n == 0) return tl::unexpected(std::string("the service closed the connection"));
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
            return tl::unexpected("recv: " + errno_text());
        }
        reader_.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
    }
}

tl::expected<dovecot::ServerLine, std::string>
DovecotConnection::answer(std::uint32_t id, Clock::time_point deadline) {
    for (;;) {
        auto line = next_line(deadline);
        if (!line) return line;
        if (userdb_ && !userdb_version_seen_) {
            // The userdb socket's handshake: VERSION 1 x first, then SPID.
            const auto* v = std::get_if<dovecot::Version>(&*line);
            if (!v || v->major != 1)
                return tl::unexpected("handshake: \"" + dovecot::render(*line).substr(0, 40) +
                                      "\" instead of VERSION 1");
            userdb_version_seen_ = true;
            continue;
        }
        auto about = std::visit(
            [](const auto& l) -> std::optional<std::uint32_t> {
                using T = std::decay_t<decltype(l)>;
                if constexpr (std::is_same_v<T, dovecot::Ok> || std::is_same_v<T, dovecot::Cont> ||
                              std::is_same_v<T, dovecot::Fail> ||
                              std::is_same_v<T, dovecot::User> ||
                              std::is_same_v<T, dovecot::NotFound>)
                    return l.id;
                else
                    return std::nullopt;
            },
            *line);
        if (!about) {
            if (userdb_ && std::holds_alternative<dovecot::Spid>(*line)) continue;
            return tl::unexpected("unexpected line \"" + dovecot::render(*line).substr(0, 40) +
                                  "\"");
        }
        if (*about == id) return line;
        // An answer to an earlier request that timed out: skipped.
    }
}

// --- the password database -----------------------------------------------

DovecotPassdb::DovecotPassdb(const Options& options, const Log& log, ClientEndpoints endpoints)
    : options_(options), log_(log), endpoints_(std::move(endpoints)) {}

void DovecotPassdb::connect() {
    tried_ = true;
    auto c = DovecotConnection::open_client(
        options_.dovecot_auth, std::chrono::seconds(options_.auth_timeout_seconds));
    if (!c) {
        log_.error("Dovecot's auth service (" + options_.dovecot_auth + "): " + c.error());
        connection_.reset();
        return;
    }
    connection_ = std::move(*c);
}

privsep::Offer DovecotPassdb::offer() {
    if (!tried_) connect();
    privsep::Offer offer;
    const bool plain = !connection_ || connection_->handshake().offers("PLAIN");
    // PLAIN and LOGIN both reach the service as PLAIN; CRAM-MD5 and SCRAM
    // are relayed, the service issuing the challenges, so they are offered
    // only as the service announces them.
    for (auto m : {core::Mechanism::plain, core::Mechanism::login, core::Mechanism::cram_md5,
                   core::Mechanism::scram_sha1, core::Mechanism::scram_sha256}) {
        bool wanted = options_.sasl.empty();
        for (const auto& name : options_.sasl)
            if (core::mechanism_from_name(name) == m) wanted = true;
        const bool served = core::sends_password(m)
                                ? plain
                                : connection_ &&
                                      connection_->handshake().offers(core::mechanism_name(m));
        if (served && wanted) offer.sasl.push_back(m);
    }
    offer.sasl_relay = true;
    if (connection_ && options_.apop != Options::Apop::off) {
        const auto& h = connection_->handshake();
        if (h.offers("APOP") && h.spid && h.cuid) {
            char host[256] = "localhost";
            ::gethostname(host, sizeof host - 1);
            timespec now{};
            clock_gettime(CLOCK_REALTIME, &now);
            banner_ = dovecot::apop_challenge(*h.spid, *h.cuid,
                                              static_cast<std::uint64_t>(now.tv_sec),
                                              random_hex(8), host);
        } else if (options_.apop == Options::Apop::on) {
            log_.warning("warning: --apop given, but Dovecot's auth service offers no APOP");
        }
    }
    offer.apop_banner = banner_;
    return offer;
}

void DovecotPassdb::set_client(const std::string& address) {
    endpoints_.remote_ip = ip_text(address);
    endpoints_.remote_port.reset(); // the header's port is not passed on
}

std::string DovecotPassdb::failed_line(std::string_view user, std::string_view method,
                                       std::string_view reason) const {
    return "login failed for " + Authenticator::quoted_user(user) + " from " +
           sanitised(endpoints_.remote_ip) + " (" + std::string(method) + "): " +
           std::string(reason);
}

core::AuthResult DovecotPassdb::unavailable(const std::string& why) {
    log_.error("Dovecot's auth service (" + options_.dovecot_auth + "): " + why +
              "; the login is answered [SYS/TEMP]");
    connection_.reset(); // out of step: a later login reconnects
    return {core::AuthResult::Outcome::unavailable, ""};
}

bool DovecotPassdb::ensure_connected(std::string* why) {
    if (connection_) return true;
    if (!can_reconnect_) {
        *why = "no connection (lost or never made, see above), and none can be made from "
               "the auth process's jail; the next POP3 connection connects afresh";
        return false;
    }
    auto c = DovecotConnection::open_client(
        options_.dovecot_auth, std::chrono::seconds(options_.auth_timeout_seconds));
    if (!c) {
        *why = c.error();
        return false;
    }
    // A new connection's id: an APOP challenge of the greeting no longer
    // matches it (the service then refuses that APOP).
    connection_ = std::move(*c);
    return true;
}

core::AuthResult DovecotPassdb::authenticate(const std::string& mechanism, std::string response,
                                             const std::string& user, std::string_view method,
                                             bool tls) {
    relay_id_ = 0;
    if (std::string why; !ensure_connected(&why)) return unavailable(why);
    if (!connection_->handshake().offers(mechanism))
        return unavailable("it offers no " + mechanism + " mechanism");
    const auto deadline = Clock::now() + std::chrono::seconds(options_.auth_timeout_seconds);
    dovecot::AuthRequest request;
    request.id = connection_->next_id();
    request.mechanism = mechanism;
    set_endpoints(request);
    request.secured = tls;
    request.initial_response = std::move(response);
    auto wire = dovecot::encode(request);
    if (auto sent = connection_->send(wire, deadline); !sent) return unavailable(sent.error());
    // The response is a secret: gone from memory as soon as it is sent.
    std::fill(wire.begin(), wire.end(), '\0');
    std::fill(request.initial_response->begin(), request.initial_response->end(), '\0');
    auto step = outcome(request.id, user, method, deadline);
    if (auto* result = std::get_if<core::AuthResult>(&step)) return std::move(*result);
    // A CONT to a complete PLAIN or APOP response: the exchange is over.
    return unavailable("a challenge to a complete " + mechanism + " response");
}

void DovecotPassdb::set_endpoints(dovecot::AuthRequest& request) const {
    request.remote_ip = endpoints_.remote_ip;
    request.remote_port = endpoints_.remote_port;
    request.local_ip = endpoints_.local_ip;
    request.local_port = endpoints_.local_port;
}

Credentials::RelayAnswer DovecotPassdb::relay(const core::RelaySasl& r) {
    const std::string mechanism(core::mechanism_name(r.mechanism));
    const std::string method = "AUTH " + mechanism;
    const auto deadline = Clock::now() + std::chrono::seconds(options_.auth_timeout_seconds);
    if (r.first) {
        relay_id_ = 0;
        if (std::string why; !ensure_connected(&why)) return unavailable(why);
        if (!connection_->handshake().offers(mechanism))
            return unavailable("it offers no " + mechanism + " mechanism");
        dovecot::AuthRequest request;
        request.id = connection_->next_id();
        request.mechanism = mechanism;
        set_endpoints(request);
        request.secured = r.tls;
        request.initial_response = r.response;
        if (auto sent = connection_->send(dovecot::encode(request), deadline); !sent)
            return unavailable(sent.error());
        relay_id_ = request.id;
    } else {
        if (relay_id_ == 0 || !connection_)
            return core::AuthResult{core::AuthResult::Outcome::rejected, ""};
        if (auto sent = connection_->send(
                dovecot::encode_continue(relay_id_, r.response.value_or("")), deadline);
            !sent)
            return unavailable(sent.error());
    }
    // The user is the service's to name (in OK); for the log before that,
    // the mechanism's own: CRAM-MD5's "user digest", SCRAM's n=.
    std::string user = "(" + mechanism + " user)";
    auto step = outcome(relay_id_, user, method, deadline);
    if (!std::holds_alternative<core::SaslRelayChallenge>(step)) relay_id_ = 0;
    return step;
}

Credentials::RelayAnswer DovecotPassdb::outcome(std::uint32_t id, const std::string& user,
                                                std::string_view method,
                                                Clock::time_point deadline) {
    auto answer = connection_->answer(id, deadline);
    if (!answer) return unavailable(answer.error());
    if (const auto* cont = std::get_if<dovecot::Cont>(&*answer)) {
        auto raw = core::base64_decode(cont->data); // checked by the parser
        return core::SaslRelayChallenge{raw.value_or("")};
    }
    if (const auto* ok = std::get_if<dovecot::Ok>(&*answer)) {
        auto name = dovecot::param(ok->params, "user");
        const std::string canonical = name && !name->empty() ? std::string(*name) : user;
        log_.line("login " + canonical + " (" + std::string(method) + ", Dovecot's auth service)");
        return core::AuthResult{core::AuthResult::Outcome::accepted, canonical};
    }
    if (const auto* fail = std::get_if<dovecot::Fail>(&*answer)) {
        auto reason = dovecot::param(fail->params, "reason");
        if (dovecot::param(fail->params, "temp")) {
            log_.line(failed_line(user, method, "Dovecot's auth service failed temporarily" +
                                                    (reason ? ": " + std::string(*reason)
                                                            : std::string())));
            return core::AuthResult{core::AuthResult::Outcome::unavailable, ""};
        }
        auto named = dovecot::param(fail->params, "user");
        log_.line(failed_line(named && !named->empty() ? *named : std::string_view(user), method,
                              "rejected by Dovecot's auth service" +
                                  (reason ? ": " + std::string(*reason) : std::string())));
        return core::AuthResult{core::AuthResult::Outcome::rejected, ""};
    }
    return unavailable("\"" + dovecot::render(*answer).substr(0, 40) + "\" to AUTH");
}

privsep::Answer DovecotPassdb::answer(const privsep::Request& request) {
    auto verdict = [](core::AuthResult r) -> privsep::Answer {
        return privsep::Verdict{std::move(r), {}, {}};
    };
    return std::visit(
        [&](const auto& r) -> privsep::Answer {
            using T = std::decay_t<decltype(r)>;
            if constexpr (std::is_same_v<T, core::VerifyPassword>) {
                std::string response;
                response += '\0';
                response += r.user;
                response += '\0';
                response += r.secret;
                return verdict(authenticate("PLAIN", std::move(response), r.user, r.method, r.tls));
            } else if constexpr (std::is_same_v<T, core::VerifyApop>) {
                auto data = dovecot::apop_response(banner_, r.user, r.digest);
                if (banner_.empty() || !data) {
                    log_.line(failed_line(r.user, "APOP", "no APOP challenge of the service"));
                    return verdict({core::AuthResult::Outcome::rejected, ""});
                }
                return verdict(authenticate("APOP", std::move(*data), r.user, "APOP", r.tls));
            } else if constexpr (std::is_same_v<T, core::RelaySasl>) {
                auto step = relay(r);
                if (auto* c = std::get_if<core::SaslRelayChallenge>(&step)) return std::move(*c);
                return verdict(std::get<core::AuthResult>(std::move(step)));
            } else if constexpr (std::is_same_v<T, privsep::Origin>) {
                set_client(r.address);
                return privsep::Access{1};
            } else if constexpr (std::is_same_v<T, core::FetchScramCredentials>) {
                // Never offered with this backend; an impostor's request
                // gets keys that fail at the proof.
                return core::ScramCredentials{r.user, "decoy", 4096, {}, {}, true};
            } else if constexpr (std::is_same_v<T, privsep::ScramProof>) {
                return privsep::ScramOutcome{{false, {}},
                                             {{core::AuthResult::Outcome::rejected, ""}, {}, {}}};
            } else { // VerifyCram (not offered), Handoff (the monitor's)
                return verdict({core::AuthResult::Outcome::rejected, ""});
            }
        },
        request);
}

// --- in one process --------------------------------------------------------

core::AuthResult DovecotCredentials::verify(const privsep::Request& request) {
    return std::get<privsep::Verdict>(passdb_.answer(request)).result;
}

core::ScramCredentials DovecotCredentials::scram_lookup(const core::FetchScramCredentials& r) {
    return std::get<core::ScramCredentials>(passdb_.answer(r));
}

core::ScramVerdict DovecotCredentials::scram_verify(const core::VerifyScram&) {
    return {false, {}};
}

// --- the user database -------------------------------------------------------

tl::expected<UserdbEntry, UserdbError> userdb_lookup(const Options& options,
                                                     const std::string& user) {
    const auto deadline = Clock::now() + std::chrono::seconds(options.auth_timeout_seconds);
    auto temp = [&](const std::string& why) {
        return tl::unexpected(UserdbError{false, "Dovecot's userdb (" + options.dovecot_userdb +
                                                     "): " + why});
    };
    auto refuse = [&](const std::string& why) {
        return tl::unexpected(UserdbError{true, "Dovecot's userdb: " + why});
    };
    auto c = DovecotConnection::open_userdb(options.dovecot_userdb);
    if (!c) return temp(c.error());
    const std::uint32_t id = c->next_id();
    if (auto sent = c->send(dovecot::userdb_handshake() + dovecot::encode_user_lookup(id, user),
                            deadline);
        !sent)
        return temp(sent.error());
    auto answer = c->answer(id, deadline);
    if (!answer) return temp(answer.error());
    if (std::holds_alternative<dovecot::NotFound>(*answer))
        return refuse("no user " + Authenticator::quoted_user(user));
    if (const auto* fail = std::get_if<dovecot::Fail>(&*answer)) {
        auto reason = dovecot::param(fail->params, "reason");
        return temp("lookup of " + Authenticator::quoted_user(user) + " failed" +
                    (reason ? ": " + std::string(*reason) : std::string()));
    }
    const auto* found = std::get_if<dovecot::User>(&*answer);
    if (!found) return temp("\"" + dovecot::render(*answer).substr(0, 40) + "\" to USER");
    UserdbEntry entry;
    auto id_param = [&](std::string_view key) -> tl::expected<std::optional<std::uint32_t>, UserdbError> {
        auto v = dovecot::param(found->params, key);
        if (!v) return std::optional<std::uint32_t>();
        std::uint64_t n = 0;
        bool ok = !v->empty() && v->size() <= 10 && !(v->size() > 1 && (*v)[0] == '0');
        for (char ch : *v) {
            if (ch < '0' || ch > '9') ok = false;
            else n = n * 10 + static_cast<std::uint64_t>(ch - '0');
        }
        if (!ok || n > 0xFFFFFFFEu)
            return tl::unexpected(UserdbError{
                true, "Dovecot's userdb: " + std::string(key) + "=" +
                          std::string(v->substr(0, 20)) + " for " +
                          Authenticator::quoted_user(user) +
                          " is not a number (pop3d does not resolve names)"});
        return std::optional<std::uint32_t>(static_cast<std::uint32_t>(n));
    };
    auto uid = id_param("uid");
    if (!uid) return tl::unexpected(uid.error());
    auto gid = id_param("gid");
    if (!gid) return tl::unexpected(gid.error());
    entry.uid = *uid;
    entry.gid = *gid;
    if (auto home = dovecot::param(found->params, "home")) entry.home = std::string(*home);
    if (auto mail = dovecot::param(found->params, "mail"); mail && !mail->empty()) {
        auto inbox = dovecot::maildir_inbox(*mail, entry.home, found->name);
        if (!inbox) return refuse(inbox.error() + " (user " + Authenticator::quoted_user(user) + ")");
        entry.inbox = std::move(*inbox);
    }
    return entry;
}

} // namespace pop3::shell
