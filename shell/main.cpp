// pop3d: serves one POP3 session for a super-server, then exits.
//   pop3d [/?] [/ACCESSLEVEL number] [options] [socket]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "log.hpp"
#include "options.hpp"
#include "monitor.hpp"
#include "server_secret.hpp"
#include "session_runner.hpp"

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
    install_signals();
    const auto peer = peer_address(in_fd);
    log.line("session start from " + peer);
    // The session runs in three processes (monitor.hpp, docs/design.md).
    int status = serve_connection(*options, log, in_fd, out_fd, peer);
    if (options->socket_fd) ::close(*options->socket_fd);
    return status;
}
