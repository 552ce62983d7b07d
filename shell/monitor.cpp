// Process structure of one session:
//
//   monitor (started as root; holds no secret)
//    |- auth process   reads the passwd-file, then jailed; checks credentials
//    |- login process  loads the TLS key, then jailed; talks to the client
//   after a verified login: the monitor becomes the mail user and serves the
//   mailbox; the login process exits (plain TCP, the monitor has the socket)
//   or stays as the TLS relay (tls_proxy.hpp).
//
// The monitor trusts nothing the login process says but its requests'
// shape: the user of a hand-over must be the one the auth process accepted.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "auth_client.hpp"
#include "auth_service.hpp"
#include "client_origin.hpp"
#include "authenticator.hpp"
#include "dovecot_auth.hpp"
#include "monitor.hpp"
#include "privsep_channel.hpp"
#include "session_runner.hpp"
#include "tls.hpp"
#include "tls_proxy.hpp"
#include "transport.hpp"

namespace pop3::shell {
namespace {

namespace core = pop3::core;
namespace privsep = pop3::core::privsep;
using Clock = std::chrono::steady_clock;

// Takes the client connection away from a process that has no business
// with it (the auth process; the mail process behind the TLS relay): its
// descriptors then refer to /dev/null, so their numbers stay taken.
void detach_client(int in_fd, int out_fd) {
    int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd : {in_fd, out_fd}) {
        if (null_fd < 0 || ::dup2(null_fd, fd) < 0) ::close(fd);
    }
    if (null_fd >= 0) ::close(null_fd);
}

int wait_for(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return 1;
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 1;
}

void stop(pid_t pid) {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    wait_for(pid);
}

// Waits until `fd` is readable. SIGTERM and SIGHUP are delivered only here
// (as in Transport::read): on one, the login process is asked to end
// quietly, as a single-process pop3d would, and the wait goes on.
bool wait_readable(int fd, pid_t login) {
    for (int round = 0; round < 1000; ++round) {
        pollfd p{fd, POLLIN, 0};
        sigset_t during_wait;
        sigemptyset(&during_wait);
        int ready = ::ppoll(&p, 1, nullptr, &during_wait);
        if (ready > 0) return true;
        if (ready < 0 && errno != EINTR) return false;
        if (g_terminate && login > 0) ::kill(login, SIGTERM);
    }
    return false;
}

// When the processes cannot be set up (no descriptors, no processes left),
// the client still learns why, as a greeting it can show (RFC 3206).
int refuse(const Log& log, int out_fd, const std::string& why) {
    log.error("cannot start: " + why);
    static constexpr char k_greeting[] =
        "-ERR [SYS/TEMP] the server cannot start a session now; try again later\r\n";
    [[maybe_unused]] auto n = ::write(out_fd, k_greeting, sizeof k_greeting - 1);
    return 1;
}

struct Children {
    pid_t auth = -1;
    pid_t login = -1;
    ~Children() {
        stop(login);
        stop(auth);
    }
};

// Without the monitor's acceptance the login process answers the client
// -ERR [SYS/TEMP] itself (SessionRunner::hand_off) and ends.
int refuse_handoff(PrivsepChannel& to_login, Children& children) {
    to_login.close();
    wait_for(std::exchange(children.login, -1));
    return 1;
}

// The certificate and key, when configured; a failure to load them (or
// pop3d-crypto.so) ends the process (exit status 1) with refuse()'s
// [SYS/TEMP] greeting as the only thing sent.
std::optional<TlsContext> load_tls_or_exit(const Options& options, const Log& log, int out_fd) {
    if (options.tls_cert.empty()) return std::nullopt;
    auto loaded = TlsContext::load(options.tls_cert, options.tls_key);
    if (!loaded) {
        std::fprintf(stderr, "pop3d: %s\n", loaded.error().c_str());
        refuse(log, out_fd, loaded.error());
        std::_Exit(1);
    }
    if (!loaded->warning().empty()) log.warning("warning: " + loaded->warning());
    return std::move(*loaded);
}

// Behind a balancer: reads the PROXY header (never more than the header)
// and logs the session start under the real client's name; nullopt when
// the header is wrong or late (one log line; the connection just closes).
std::optional<ProxiedClient> read_client(const Options& options, const Log& log, int in_fd,
                                         const std::string& peer) {
    const unsigned seconds =
        std::min(options.login_timeout_seconds, pop3::core::k_proxy_header_timeout_seconds);
    auto client = read_proxied_client(in_fd, static_cast<int>(seconds) * 1000, options, peer);
    if (!client) {
        log.warning("closing the connection from " + peer + ": " + client.error());
        return std::nullopt;
    }
    log.line("session start from " + client->address + client->note);
    return std::move(*client);
}

void log_denied(const Log& log, const std::string& address) {
    log.line("access denied (access level 0) for " + address);
}

[[noreturn]] void run_login_process(const Options& options, const Log& log,
                                    PrivsepChannel channel, UniqueFd data,
                                    const LoginAccount& account,
                                    Clock::time_point started, int in_fd, int out_fd,
                                    pid_t monitor, const ClientContext& context) {
    auto tls = load_tls_or_exit(options, log, out_fd); // as root, before the jail
    auto jailed = enter_sandbox(account);
    if (!jailed) {
        log.error("login process: cannot drop privileges: " + jailed.error());
        std::_Exit(1);
    }
    die_with_parent(monitor);
    AuthClient auth(channel, log);
    auto offer = auth.receive_offer();
    if (!offer) std::_Exit(1);
    bool tls_by_balancer = false;
    if (context.proxied) {
        auto client = read_client(options, log, in_fd, context.peer);
        if (!client) std::_Exit(0);
        auto level = auth.announce_origin(client->address); // the monitor decides
        if (!level || *level == 0) std::_Exit(0);
        tls_by_balancer = client->tls;
    }
    Transport transport(in_fd, out_fd);
    SessionRunner runner(options, log, transport, *offer, started, auth,
                         tls ? &*tls : nullptr);
    runner.set_tls_by_balancer(tls_by_balancer);
    auto outcome = runner.run();
    if (outcome.handoff && outcome.handoff->tls) {
        channel.close();
        if (auto session = transport.release_tls())
            relay_tls(*session, in_fd, out_fd, data.get(),
                      static_cast<int>(options.timeout_seconds) * 1000);
    }
    std::_Exit(outcome.status);
}

// Started unprivileged, one process does it all (docs/design.md: the same
// account could read the passwd-file and every mailbox from any process it
// ran, so separate processes would add two forks and no protection).
int serve_in_one_process(const Options& options, const Log& log, int in_fd, int out_fd,
                         const ClientContext& context, Clock::time_point started) {
    std::string address = context.peer;
    bool tls_by_balancer = false;
    if (context.proxied) {
        auto client = read_client(options, log, in_fd, context.peer);
        if (!client) return 0;
        if (access_level(options, context.rules, client->address) == 0) {
            log_denied(log, client->address);
            return 0;
        }
        address = client->address;
        tls_by_balancer = client->tls;
    }
    auto tls = load_tls_or_exit(options, log, out_fd);
    if (!options.dovecot_auth.empty()) { // the passwd-file is not read at all
        auto endpoints = client_endpoints(in_fd);
        DovecotPassdb passdb(options, log, std::move(endpoints));
        if (context.proxied) passdb.set_client(address);
        auto offer = passdb.offer();
        DovecotCredentials credentials(passdb);
        Transport transport(in_fd, out_fd);
        SessionRunner runner(options, log, transport, offer, started, credentials,
                             tls ? &*tls : nullptr);
        runner.set_tls_by_balancer(tls_by_balancer);
        return runner.run().status;
    }
    auto resources = open_auth_resources(options, log);
    auto offer = make_offer(options, resources);
    Authenticator auth(options, log, offer.apop_banner, std::move(resources));
    auth.set_client(address); // in the failed-login line, for fail2ban
    InProcessCredentials credentials(auth);
    Transport transport(in_fd, out_fd);
    SessionRunner runner(options, log, transport, offer, started, credentials,
                         tls ? &*tls : nullptr);
    runner.set_tls_by_balancer(tls_by_balancer);
    return runner.run().status;
}

} // namespace

int serve_connection(const Options& options, const Log& log, int in_fd, int out_fd,
                     const ClientContext& context) {
    const auto started = Clock::now();
    const std::string& peer = context.peer;
    if (::geteuid() != 0)
        return serve_in_one_process(options, log, in_fd, out_fd, context, started);
    const pid_t monitor = ::getpid();
    auto found = find_login_account(options.login_user);
    if (!found) return refuse(log, out_fd, found.error());
    const LoginAccount account = std::move(*found);
    auto auth_pair = PrivsepChannel::pair();
    if (!auth_pair) return refuse(log, out_fd, auth_pair.error());
    auto [to_auth, auth_end] = std::move(*auth_pair);
    const ClientEndpoints endpoints = client_endpoints(in_fd); // before it is detached
    Children children;
    children.auth = ::fork();
    if (children.auth < 0) return refuse(log, out_fd, std::string("fork: ") + std::strerror(errno));
    if (children.auth == 0) {
        children.auth = children.login = -1; // not this process's to stop
        to_auth.close();
        detach_client(in_fd, out_fd);
        run_auth_process(options, log, std::move(auth_end), account, monitor, peer, endpoints);
    }
    auth_end.close();

    auto login_pair = PrivsepChannel::pair();
    if (!login_pair) return refuse(log, out_fd, login_pair.error());
    auto [to_login, login_end] = std::move(*login_pair);
    // The plaintext stream between the TLS relay and the mail process.
    UniqueFd data_monitor, data_login;
    if (!options.tls_cert.empty()) {
        int fds[2] = {-1, -1};
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
            return refuse(log, out_fd, std::string("socketpair: ") + std::strerror(errno));
        data_monitor.reset(fds[0]);
        data_login.reset(fds[1]);
    }
    children.login = ::fork();
    if (children.login < 0) return refuse(log, out_fd, std::string("fork: ") + std::strerror(errno));
    if (children.login == 0) {
        children.auth = children.login = -1;
        to_auth.close();
        to_login.close();
        data_monitor.reset();
        run_login_process(options, log, std::move(login_end), std::move(data_login), account,
                          started, in_fd, out_fd, monitor, context);
    }
    login_end.close();
    data_login.reset();
    // No client byte reaches a root process: until a plain hand-over brings
    // the connection back, the monitor does not hold it.
    detach_client(in_fd, out_fd);

    // Relay until the login process ends or hands over a verified login.
    std::optional<privsep::Offer> offer;
    std::optional<privsep::Handoff> handoff;
    std::optional<privsep::Verdict> accepted;
    std::vector<UniqueFd> client; // a plain hand-over's input and output
    bool announced = false;       // an Origin came (behind a balancer)
    if (wait_readable(to_auth.fd(), children.login))
        if (auto first = to_auth.receive_answer(nullptr))
            if (auto* o = std::get_if<privsep::Offer>(&*first)) offer = std::move(*o);
    if (!offer) {
        log.error("auth process failed to start; closing");
        return 1;
    }
    // The login process ended first (a certificate or pop3d-crypto.so it
    // could not load): it logged why and sent the greeting.
    if (!to_login.send(*offer)) return wait_for(std::exchange(children.login, -1));
    while (!handoff) {
        std::string error;
        std::optional<privsep::Request> request;
        if (wait_readable(to_login.fd(), children.login))
            request = to_login.receive_request(&error, &client);
        if (!request) {
            if (!error.empty()) log.error("login process sent a bad request: " + error);
            int status = wait_for(std::exchange(children.login, -1));
            return error.empty() ? status : 1;
        }
        if (auto* h = std::get_if<privsep::Handoff>(&*request)) {
            if (!accepted || accepted->result.user != h->user) {
                log.error("login process handed over a login the auth process did not "
                         "accept; closing");
                return refuse_handoff(to_login, children);
            }
            if (h->tls ? !client.empty() : (client.empty() || client.size() > 2)) {
                log.error("login process handed over without the connection (or with too "
                         "few descriptors left to take it); closing");
                return refuse_handoff(to_login, children);
            }
            if (!to_login.send(privsep::HandoffAccepted{})) return 1;
            handoff = std::move(*h);
            break;
        }
        if (auto* origin = std::get_if<privsep::Origin>(&*request)) {
            // Once, and only from behind a balancer: the access decision
            // is the monitor's (the rules were read before any fork).
            if (!context.proxied || announced) {
                log.error("login process announced a client twice or unasked; closing");
                return refuse_handoff(to_login, children);
            }
            announced = true;
            if (access_level(options, context.rules, origin->address) == 0) {
                log_denied(log, origin->address);
                to_login.send(privsep::Access{0});
                return refuse_handoff(to_login, children);
            }
        }
        accepted.reset(); // only the answer to the last request counts
        std::optional<privsep::Answer> answer;
        if (to_auth.send(*request) && wait_readable(to_auth.fd(), children.login))
            answer = to_auth.receive_answer(&error);
        if (!answer) {
            log.error("auth process failed" + (error.empty() ? std::string() : ": " + error) +
                     "; closing");
            return 1;
        }
        // Who was accepted, and as which ids, is the monitor's business.
        if (auto* v = std::get_if<privsep::Verdict>(&*answer)) {
            if (v->result.outcome == core::AuthResult::Outcome::accepted) accepted = *v;
            v->uid.reset();
            v->gid.reset();
        } else if (auto* s = std::get_if<privsep::ScramOutcome>(&*answer)) {
            if (s->login.result.outcome == core::AuthResult::Outcome::accepted)
                accepted = s->login;
            s->login.uid.reset();
            s->login.gid.reset();
        }
        if (!to_login.send(*answer)) return wait_for(std::exchange(children.login, -1));
    }

    // The hand-over: the auth process's work is done; a plain connection
    // is the monitor's alone from here, a TLS one stays with the relay.
    // Both are killed now, while the monitor may still signal them, and
    // reaped at the end: waiting for their exit here would put two process
    // teardowns into every login (on a paravirtualised machine, a
    // millisecond or more each).
    to_auth.close();
    ::kill(children.auth, SIGKILL);
    // Over TLS the mail process reads and writes the plaintext socketpair.
    const int plaintext = data_monitor.get();
    int serve_in = plaintext;
    int serve_out = plaintext;
    pid_t relay = -1;
    if (handoff->tls) {
        relay = std::exchange(children.login, -1);
    } else {
        ::kill(children.login, SIGKILL); // it exits anyway once accepted
        data_monitor.reset();
        serve_in = client.front().get();
        serve_out = client.back().get();
    }
    to_login.close();
    int status = 0;
    {
        Transport transport(serve_in, serve_out);
        SessionRunner runner(options, log, transport, *offer, started, *handoff,
                             MailIds{accepted->uid, accepted->gid});
        status = runner.run().status;
    }
    if (relay > 0) {
        data_monitor.reset(); // the relay flushes, says close_notify, ends
        wait_for(relay);
    }
    return status;
}

} // namespace pop3::shell
