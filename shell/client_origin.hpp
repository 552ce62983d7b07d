// Who the client is: the direct peer (TCPREMOTEIP or getpeername), or,
// when that peer is a trusted balancer (--proxy-from), the address its
// PROXY protocol header names; and the access level it gets
// (--access-rules, else /ACCESSLEVEL, ACCESSLEVEL or 1).
#pragma once
#include <optional>
#include <string>

#include <tl/expected.hpp>

#include "log.hpp"
#include "options.hpp"
#include "pop3/core/access_rules.hpp"
#include "pop3/core/proxy_header.hpp"

namespace pop3::shell {

// The direct peer of `fd` as text ("127.0.0.1", "::1", "local" for a
// Unix socket, "unknown"): $TCPREMOTEIP when tcpserver set it.
[[nodiscard]] std::string peer_address(int fd);

// The --access-rules table, read and parsed; an error names the file and
// the line.
[[nodiscard]] tl::expected<std::optional<pop3::core::AccessRules>, std::string>
load_access_rules(const Options& options);

// The access level of `address` (text; not an IP address: no rule holds).
[[nodiscard]] unsigned access_level(const Options& options,
                                    const std::optional<pop3::core::AccessRules>& rules,
                                    const std::string& address);

// True when `peer` must send a PROXY header (it is in --proxy-from).
[[nodiscard]] bool is_trusted_proxy(const Options& options, const std::string& peer);

// The client behind a balancer, once its header is read.
struct ProxiedClient {
    std::string address; // the client's, or the balancer's for LOCAL/UNKNOWN
    bool tls = false;    // the balancer terminated TLS and the site trusts it
    std::string note;    // for the session start line: "via PROXY v2 from ..."
};

// Reads exactly the PROXY header from the socket `fd` (peeking first, so
// that not one octet of the client's own is taken), waiting at most
// `timeout_ms` in all, then says who the client is. The error is one log
// line's text.
[[nodiscard]] tl::expected<ProxiedClient, std::string>
read_proxied_client(int fd, int timeout_ms, const Options& options, const std::string& peer);

} // namespace pop3::shell
