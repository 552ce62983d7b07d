// The PROXY header is read with MSG_PEEK until it parses, then consumed by
// exactly its length: the session's own reads start at the client's first
// octet, whatever the balancer packed into the same segment.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "client_origin.hpp"
#include "passwd_file.hpp"

namespace pop3::shell {

namespace core = pop3::core;

std::string peer_address(int fd) {
    if (const char* ip = std::getenv("TCPREMOTEIP")) return ip;
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "unknown";
    char text[INET6_ADDRSTRLEN] = "unknown";
    if (addr.ss_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, text, sizeof text);
    else if (addr.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, text,
                  sizeof text);
    else if (addr.ss_family == AF_UNIX)
        return "local";
    // One spelling for one address (an IPv4-mapped peer is its IPv4 form).
    if (auto ip = core::parse_ip(text)) return core::to_string(*ip);
    return text;
}

tl::expected<std::optional<core::AccessRules>, std::string>
load_access_rules(const Options& options) {
    if (options.access_rules.empty()) return std::optional<core::AccessRules>();
    auto text = read_file(options.access_rules);
    if (!text)
        return tl::unexpected("cannot read access rules " + options.access_rules + ": " +
                              text.error().message());
    auto rules = core::parse_access_rules(*text);
    if (!rules) return tl::unexpected("access rules " + options.access_rules + ", " + rules.error());
    return std::optional<core::AccessRules>(std::move(*rules));
}

unsigned access_level(const Options& options, const std::optional<core::AccessRules>& rules,
                      const std::string& address) {
    if (rules)
        if (auto ip = core::parse_ip(address))
            if (auto level = rules->level_for(*ip)) return *level;
    return options.access_level;
}

bool is_trusted_proxy(const Options& options, const std::string& peer) {
    auto ip = core::parse_ip(peer);
    if (!ip) return false;
    for (const auto& prefix : options.proxy_from)
        if (core::contains(prefix, *ip)) return true;
    return false;
}

tl::expected<ProxiedClient, std::string>
read_proxied_client(int fd, int timeout_ms, const Options& options, const std::string& peer) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    std::string buffer(core::k_max_proxy_header, '\0');
    std::size_t peeked = 0;
    // Bounded: at most 2,000 rounds, each a wait, and the deadline.
    for (int round = 0; round < 2000; ++round) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now())
                        .count();
        if (left <= 0) break;
        pollfd p{fd, POLLIN, 0};
        if (peeked == 0) {
            if (::poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR)
                return tl::unexpected(std::string("waiting for the PROXY header: ") +
                                      std::strerror(errno));
        } else {
            // Part of a header is in: POLLIN stays set while it is unread,
            // so wait a little for the rest instead of spinning.
            ::poll(nullptr, 0, static_cast<int>(std::min<long long>(left, 10)));
        }
        auto n = ::recv(fd, buffer.data(), buffer.size(), MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0)
            return tl::unexpected(std::string("reading the PROXY header: ") + std::strerror(errno));
        if (n == 0) return tl::unexpected(std::string("closed before its PROXY header"));
        const auto seen = std::string_view(buffer).substr(0, static_cast<std::size_t>(n));
        auto parsed = core::parse_proxy_header(seen);
        if (!parsed) return tl::unexpected(parsed.error());
        if (std::holds_alternative<core::ProxyIncomplete>(*parsed)) {
            peeked = seen.size();
            continue;
        }
        const auto& h = std::get<core::ProxyHeader>(*parsed);
        std::string consumed(h.length, '\0');
        std::size_t done = 0;
        for (int attempt = 0; attempt < 100 && done < h.length; ++attempt) {
            // The octets peeked are there: these reads do not wait.
            auto got = ::recv(fd, consumed.data() + done, h.length - done, MSG_DONTWAIT);
            if (got > 0) done += static_cast<std::size_t>(got);
            else if (got == 0 || (errno != EINTR && errno != EAGAIN)) break;
        }
        if (done < h.length) return tl::unexpected(std::string("reading the PROXY header failed"));
        ProxiedClient client{peer, false, ""};
        std::string version = "PROXY v";
        version += std::to_string(h.version);
        std::string& note = client.note;
        if (h.local || !h.source) {
            note += " (";
            note += version;
            note += h.local ? " LOCAL from " : " UNKNOWN from ";
            note += peer;
            note += h.local ? ": a health check)" : ")";
        } else {
            client.address = core::to_string(h.source->address);
            note += " port ";
            note += std::to_string(h.source->port);
            note += " (";
            note += version;
            note += " from ";
            note += peer;
            note += ')';
        }
        if (h.client_tls && options.proxy_tls_terminated) {
            client.tls = true;
            client.note += ", TLS terminated by the balancer" +
                           (h.tls_version.empty() ? std::string() : " (" + h.tls_version + ")");
        }
        return client;
    }
    return tl::unexpected(std::string("no complete PROXY header in time"));
}

} // namespace pop3::shell
