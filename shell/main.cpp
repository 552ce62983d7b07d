// pop3d: serves one POP3 session for a super-server, then exits.
//   pop3d [/?] [/ACCESSLEVEL number] [options] [socket]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "log.hpp"
#include "options.hpp"
#include "passwd_file.hpp"
#include "pop3/core/ascii.hpp"
#include "server_secret.hpp"
#include "session_runner.hpp"
#include "tls.hpp"
#include "transport.hpp"

namespace {

using namespace pop3::shell;

extern "C" void on_terminate(int) { g_terminate = 1; }

void install_signals() {
    std::signal(SIGPIPE, SIG_IGN); // a vanished client is a write error
    struct sigaction sa{};
    sa.sa_handler = on_terminate;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: poll() must return EINTR
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    // Delivered only inside Transport::read's ppoll (see transport.cpp).
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGHUP);
    sigprocmask(SIG_BLOCK, &blocked, nullptr);
}

std::string peer_address(int fd) {
    if (const char* ip = std::getenv("TCPREMOTEIP")) return ip;
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        return "unknown";
    char text[INET6_ADDRSTRLEN] = "unknown";
    if (addr.ss_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr,
                  text, sizeof text);
    else if (addr.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr,
                  text, sizeof text);
    else if (addr.ss_family == AF_UNIX)
        return "local";
    return text;
}

// RFC 1939 section 7 APOP: "<process-ID.clock@hostname>", unique per session.
std::string apop_banner() {
    char host[256] = "localhost";
    ::gethostname(host, sizeof host - 1);
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    return "<" + std::to_string(::getpid()) + "." + std::to_string(now.tv_sec) +
           "." + std::to_string(now.tv_nsec) + "@" + host + ">";
}

// What the passwd-file's secrets can serve: APOP and CRAM-MD5 need a
// plaintext secret, SCRAM a plaintext or a stored SCRAM secret. Clients such
// as curl use the strongest method offered and never fall back, so offering
// one that no account can use would lock them out.
struct SecretKinds {
    bool plaintext = false;
    bool cram_md5 = false;
    bool scram_sha1 = false;
    bool scram_sha256 = false;
};

SecretKinds secret_kinds(const PasswdFile* passwd) {
    SecretKinds kinds;
    if (passwd == nullptr) return kinds; // unreadable: offer nothing extra
    passwd->for_each_scheme([&](std::string_view scheme) {
        auto name = pop3::core::ascii_lower(scheme.substr(0, scheme.find('.')));
        kinds.plaintext = kinds.plaintext || name == "plain" || name == "clear" ||
                          name == "cleartext";
        kinds.cram_md5 = kinds.cram_md5 || name == "cram-md5";
        kinds.scram_sha1 = kinds.scram_sha1 || name == "scram-sha-1";
        kinds.scram_sha256 = kinds.scram_sha256 || name == "scram-sha-256";
    });
    return kinds;
}

bool offer_apop(const Options& options, const SecretKinds& kinds) {
    switch (options.apop) {
    case Options::Apop::on: return true;
    case Options::Apop::off: return false;
    case Options::Apop::automatic: break;
    }
    return kinds.plaintext;
}

std::vector<pop3::core::Mechanism> offered_sasl(const Options& options,
                                                const SecretKinds& kinds) {
    using pop3::core::Mechanism;
    std::vector<Mechanism> out;
    if (!options.sasl.empty()) {
        for (const auto& name : options.sasl)
            if (auto m = pop3::core::mechanism_from_name(name)) out.push_back(*m);
        return out;
    }
    out = {Mechanism::plain, Mechanism::login};
    if (kinds.plaintext || kinds.cram_md5) out.push_back(Mechanism::cram_md5);
    if (kinds.plaintext || kinds.scram_sha1) out.push_back(Mechanism::scram_sha1);
    if (kinds.plaintext || kinds.scram_sha256) out.push_back(Mechanism::scram_sha256);
    return out;
}

} // namespace

int main(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    auto options = parse_options(args, [](const char* name) -> std::optional<std::string> {
        if (const char* v = std::getenv(name)) return std::string(v);
        return std::nullopt;
    });
    if (!options) {
        std::fprintf(stderr, "pop3d: %s\n%s", options.error().c_str(), usage().c_str());
        return 2;
    }
    if (options->help) {
        std::fputs(usage().c_str(), stdout);
        return 0;
    }
    if (options->version) {
        std::puts("pop3d " POP3D_VERSION);
        return 0;
    }
    if (!options->make_server_secret.empty()) {
        auto made = make_server_secret(options->make_server_secret);
        if (!made) std::fprintf(stderr, "pop3d: %s\n", made.error().c_str());
        return made ? 0 : 1;
    }
    Log log;
    int in_fd = options->socket_fd.value_or(STDIN_FILENO);
    int out_fd = options->socket_fd.value_or(STDOUT_FILENO);
    if (options->access_level == 0) {
        log.line("access denied (access level 0) for " + peer_address(in_fd));
        if (options->socket_fd) ::close(*options->socket_fd);
        return 0;
    }
    std::optional<TlsContext> tls;
    if (!options->tls_cert.empty()) {
        auto loaded = TlsContext::load(options->tls_cert, options->tls_key);
        if (!loaded) {
            std::fprintf(stderr, "pop3d: %s\n", loaded.error().c_str());
            log.line("cannot start: " + loaded.error());
            if (options->socket_fd) ::close(*options->socket_fd);
            return 1;
        }
        tls = std::move(*loaded);
    }
    install_signals();
    const auto peer = peer_address(in_fd);
    log.line("session start from " + peer);
    Transport transport(in_fd, out_fd);
    // The session's one read of the passwd-file (what the greeting offers,
    // the logins and the SCRAM salt key all come from it) and every other
    // file the Authenticator needs, opened before any privilege drop.
    auto auth = open_auth_resources(*options, log);
    auto kinds = secret_kinds(auth.passwd ? &*auth.passwd : nullptr);
    SessionRunner runner(*options, log, transport,
                         offer_apop(*options, kinds) ? apop_banner() : std::string(),
                         tls ? &*tls : nullptr, offered_sasl(*options, kinds),
                         std::move(auth));
    runner.authenticator().set_client(peer); // in the failed-login line, for fail2ban
    int status = runner.run();
    if (options->socket_fd) ::close(*options->socket_fd);
    return status;
}
