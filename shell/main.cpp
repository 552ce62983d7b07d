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

#include "config_check.hpp"
#include "log.hpp"
#include "options.hpp"
#include "client_origin.hpp"
#include "monitor.hpp"
#include "scenario_player.hpp"
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
    // A test scenario is read before the greeting (and by --check): a
    // mistake in it is a usage error, never a half-scripted session.
    if (!options->scenario_file.empty()) {
        auto scenario = load_scenario(options->scenario_file);
        if (!scenario) {
            std::fprintf(stderr, "pop3d: --scenario %s\n", scenario.error().c_str());
            return 2;
        }
        options->scenario =
            std::make_shared<const pop3::core::Scenario>(std::move(*scenario));
    }
    // Before anything touches the socket a super-server would pass: the
    // check runs with the very options of the unit or run script.
    if (options->check) return check_configuration(*options, stdout);
    if (!options->make_server_secret.empty()) {
        auto made = make_server_secret(options->make_server_secret);
        if (!made) std::fprintf(stderr, "pop3d: %s\n", made.error().c_str());
        return made ? 0 : 1;
    }
    Log log;
    int in_fd = options->socket_fd.value_or(STDIN_FILENO);
    int out_fd = options->socket_fd.value_or(STDOUT_FILENO);
    auto rules = load_access_rules(*options);
    if (!rules) {
        std::fprintf(stderr, "pop3d: %s\n", rules.error().c_str());
        log.error("cannot start: " + rules.error());
        if (options->socket_fd) ::close(*options->socket_fd);
        return 1;
    }
    ClientContext client{peer_address(in_fd), false, std::move(*rules)};
    client.proxied = is_trusted_proxy(*options, client.peer);
    // Behind a balancer the real client is known only from its header.
    if (!client.proxied && access_level(*options, client.rules, client.peer) == 0) {
        log.line("access denied (access level 0) for " + client.peer);
        if (options->socket_fd) ::close(*options->socket_fd);
        return 0;
    }
    install_signals();
    if (!client.proxied) log.line("session start from " + client.peer);
    if (options->scenario)
        log.warning("warning: --scenario " + options->scenario_file + " is on (" +
                    std::to_string(options->scenario->rules.size()) +
                    " rules): this session misbehaves on purpose; test stores only");
    // Started as root, the session runs in three processes (monitor.hpp).
    int status = serve_connection(*options, log, in_fd, out_fd, client);
    if (options->socket_fd) ::close(*options->socket_fd);
    return status;
}
