// Command-line and environment options of pop3d (see docs/pop3d.8).
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "pop3/core/ip_address.hpp"
#include "pop3/core/limits.hpp"
#include "pop3/core/scenario.hpp"

namespace pop3::shell {

struct Options {
    // Grouped by type (strings and lists, then numbers, then flags) so the
    // struct has no padding to speak of (clang-analyzer's padding check).
    std::string passwd_file = "../passwd";
    // --auth dovecot:SOCKET: Dovecot's auth-client socket checks the
    // credentials instead of the passwd-file; empty = the passwd-file.
    std::string dovecot_auth;
    // --userdb dovecot:SOCKET: its auth-userdb socket gives uid, gid and
    // the mail location; empty = the mailbox-owner rule.
    std::string dovecot_userdb;
    // Keys SCRAM salts without a stored one (see server_secret.hpp).
    std::string server_secret = "/etc/pop3d/server-secret";
    // --make-server-secret FILE: create FILE and exit; empty = serve.
    std::string make_server_secret;
    std::string default_domain;     // empty: logins need "@domain"
    // The unprivileged account of the login and auth processes when started
    // as root; empty = "pop3d", else "nobody" (sandbox.hpp).
    std::string login_user;
    std::string hash_slot_dir = "/run/pop3d";
    std::string tls_cert;           // PEM chain; enables STLS
    std::string tls_key;            // PEM private key
    std::string access_rules;       // --access-rules FILE; empty: none
    // --scenario FILE: test stores only (scenario_player.hpp); main()
    // loads it into `scenario` before anything else, exit 2 on an error.
    std::string scenario_file;
    std::shared_ptr<const pop3::core::Scenario> scenario;
    // --proxy-from: peers (a balancer) that put a PROXY protocol header
    // before the client's bytes; empty: no header is read from anyone.
    std::vector<pop3::core::IpPrefix> proxy_from;
    // --sasl: the mechanisms to offer; empty = automatic (those the
    // passwd-file's secrets can serve).
    std::vector<std::string> sasl;
    std::optional<int> socket_fd;   // none: stdin/stdout
    // Machine-wide cap on concurrent password hashing (0 = none), as lock
    // files in hash_slot_dir; nullopt: one per online CPU, so that hashes
    // never share a core and each takes the time measured on an idle one.
    std::optional<unsigned> hash_slots;
    unsigned access_level = 1;      // 0 = denied
    unsigned timeout_seconds = pop3::core::k_default_idle_timeout_seconds;
    // Total session time, whatever the client does (issue 7); 0 = no limit.
    unsigned session_limit_seconds = 7200;
    // Time from connection to login, TLS handshake included; Dovecot's 180 s.
    unsigned login_timeout_seconds = pop3::core::k_default_login_timeout_seconds;
    unsigned max_auth_failures = pop3::core::k_default_max_auth_failures;
    unsigned max_bad_commands = pop3::core::k_default_max_bad_commands;
    // Dovecot's auth_failure_delay too; covers bcrypt cost 14 (0.9-1.2 s
    // here) and Argon2id at doveadm's defaults (0.4-0.6 s), see
    // docs/reliability.md.
    unsigned auth_failure_delay_ms = 2000;
    // The longest wait for one answer of Dovecot's auth service.
    unsigned auth_timeout_seconds = pop3::core::k_default_auth_timeout_seconds;
    // APOP timestamp in the greeting: auto = only when the passwd-file holds
    // a PLAIN/CLEAR secret (APOP cannot succeed otherwise, and clients such
    // as curl use APOP whenever offered, without falling back to USER/PASS).
    enum class Apop { automatic, on, off };
    Apop apop = Apop::automatic;
    // --uidl: how UIDLs are made from file names (maildir.hpp UidlScheme).
    enum class Uidl { pop3d, filename, dovecot, courier };
    Uidl uidl = Uidl::pop3d;
    std::string uidl_format = "%08Xu%08Xv"; // --uidl-format, for dovecot
    bool help = false;
    bool version = false;
    bool check = false;             // --check: report the configuration, exit
    bool trace = false;
    bool conduct_report = false;    // log the client's conduct at the end
    bool tls_implicit = false;      // POP3S: TLS from the first byte
    bool allow_plaintext = false;   // USER/PASS, PLAIN, LOGIN before TLS
    bool tls_required = false;      // no login of any kind before TLS
    // The balancer terminates TLS: its SSL TLV counts as TLS for the
    // plaintext policy (trusting the balancer's word on it).
    bool proxy_tls_terminated = false;
    bool mark_seen = true;
};

// Reads the environment (ACCESSLEVEL) through `getenv` so tests can fake it.
using EnvLookup = std::function<std::optional<std::string>(const char*)>;

// Parses argv (without argv[0]). The error names the offending option.
[[nodiscard]] tl::expected<Options, std::string>
parse_options(const std::vector<std::string_view>& args, const EnvLookup& env);

[[nodiscard]] std::string usage();

} // namespace pop3::shell
