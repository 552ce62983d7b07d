// Option parsing: the original's slash forms (case-insensitive) and GNU
// spellings, with strict numbers.
#include <algorithm>
#include <charconv>

#include "options.hpp"
#include "pop3/core/ascii.hpp"
#include "pop3/core/dovecot_uidlist.hpp"
#include "pop3/core/sasl.hpp"

namespace pop3::shell {
namespace {

using pop3::core::ascii_iequals;

tl::expected<unsigned, std::string> number(std::string_view name,
                                           std::string_view text,
                                           unsigned min, unsigned max) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() ||
        value < min || value > max)
        return tl::unexpected(std::string(name) + ": invalid value \"" +
                              std::string(text) + "\"; expected a number from " +
                              std::to_string(min) + " to " + std::to_string(max));
    return value;
}

} // namespace

std::string usage() {
    return "usage: pop3d [/?] [/ACCESSLEVEL number] [options] [socket]\n"
           "Serves one POP3 session on stdin/stdout, or on the connected socket\n"
           "whose descriptor number is given. The working directory is the\n"
           "mailstore root; user@domain reads domain/user/INBOX (a Maildir).\n"
           "\n"
           "  /?, -h, --help               show this help and exit\n"
           "  --version                    show the version and exit\n"
           "  --check                      check the configuration (run it with the\n"
           "                               super-server's options in the mailstore\n"
           "                               root), report, and exit (1 on any error)\n"
           "  /ACCESSLEVEL N, --access-level N\n"
           "                               0 denies service (default: $ACCESSLEVEL, else 1)\n"
           "  --passwd FILE                Dovecot-format passwd-file (default ../passwd)\n"
           "  --auth dovecot:SOCKET        check credentials with Dovecot's auth service at\n"
           "                               its auth-client SOCKET (the passwd-file is not read)\n"
           "  --userdb dovecot:SOCKET      uid, gid and mail location from Dovecot's\n"
           "                               auth-userdb SOCKET\n"
           "  --auth-timeout SECONDS       longest wait for Dovecot's auth service (default 30)\n"
           "  --default-domain DOMAIN      domain for logins without @domain\n"
           "  --server-secret FILE         random key for SCRAM salts\n"
           "                               (default /etc/pop3d/server-secret)\n"
           "  --make-server-secret FILE    write 32 random octets to FILE (mode 0600,\n"
           "                               never overwriting) and exit\n"
           "  --timeout SECONDS            idle autologout (default 600, as RFC 1939 asks)\n"
           "  --session-limit SECONDS      total session time, 0 = none (default 7200)\n"
           "  --login-timeout SECONDS      time from connection to login (default 180)\n"
           "  --login-user NAME            unprivileged account that handles the client\n"
           "                               before login when started as root\n"
           "                               (default pop3d, else nobody)\n"
           "  --max-auth-failures N        failed logins before closing (default 3)\n"
           "  --max-bad-commands N         consecutive bad commands before closing (default 10)\n"
           "  --auth-failure-delay MS      every failed login is answered at a multiple of\n"
           "                               this many ms after it arrived (default 2000)\n"
           "  --hash-slots N               password hashes run at once on this machine,\n"
           "                               0 = no cap (default: one per CPU)\n"
           "  --hash-slot-dir DIR          their lock files (default /run/pop3d)\n"
           "  --no-seen                    RETR does not mark messages Seen\n"
           "  --uidl SCHEME                UIDLs from file names: pop3d (up to the first\n"
           "                               ',' or ':', the default) or filename (up to\n"
           "                               ':', as qmail-pop3d and Dovecot's %f) or dovecot\n"
           "                               (Dovecot's, from its dovecot-uidlist, read-only)\n"
           "                               or courier (from courierpop3dsizelist)\n"
           "  --uidl-format FORMAT         Dovecot's pop3_uidl_format for --uidl dovecot\n"
           "                               (default %08Xu%08Xv)\n"
           "  --apop, --no-apop            always/never offer APOP (default: offer it when\n"
           "                               the passwd-file holds a PLAIN/CLEAR secret)\n"
           "  --tls-cert FILE --tls-key FILE\n"
           "                               enable STLS with this PEM certificate chain and key\n"
           "  --tls-implicit               TLS from the first byte (POP3S, port 995 style)\n"
           "  --sasl LIST                  SASL mechanisms to offer, comma-separated, or NONE\n"
           "                               (default: PLAIN, LOGIN, and those of CRAM-MD5,\n"
           "                               SCRAM-SHA-1, SCRAM-SHA-256 the passwd-file can serve)\n"
           "  --proxy-from NETWORKS        peers (comma-separated prefixes) that send a PROXY\n"
           "                               protocol header (v1 or v2) before the client\n"
           "  --proxy-tls-terminated       the balancer's SSL TLV counts as TLS\n"
           "  --access-rules FILE          access levels per client prefix (\"127.0.0.0/8 2\")\n"
           "  --tls-required               refuse every login (APOP, CRAM-MD5, SCRAM too)\n"
           "                               before TLS\n"
           "  --allow-plaintext            allow USER/PASS and AUTH PLAIN/LOGIN before TLS\n"
           "                               even when a certificate is configured\n"
           "  --trace                      log every protocol line (secrets redacted)\n"
           "  --conduct-report             log a report of the client's conduct at the\n"
           "                               end of each session (for client authors)\n"
           "  --scenario FILE              misbehave on purpose as FILE's rules say, to test\n"
           "                               POP3 clients (docs/clients.md); test stores only,\n"
           "                               never production: it expunges and delivers mail\n";
}

tl::expected<Options, std::string>
parse_options(const std::vector<std::string_view>& args, const EnvLookup& env) {
    Options o;
    bool level_given = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view arg = args[i];
        std::string_view inline_value;
        bool has_inline = false;
        if (arg.substr(0, 2) == "--") {
            auto eq = arg.find('=');
            if (eq != std::string_view::npos) {
                inline_value = arg.substr(eq + 1);
                arg = arg.substr(0, eq);
                has_inline = true;
            }
        }
        auto value = [&](std::string_view name) -> tl::expected<std::string_view, std::string> {
            if (has_inline) return inline_value;
            if (i + 1 >= args.size())
                return tl::unexpected(std::string(name) + ": missing value");
            return args[++i];
        };
        auto set_number = [&](std::string_view name, unsigned& target,
                              unsigned min, unsigned max) -> std::optional<std::string> {
            auto v = value(name);
            if (!v) return v.error();
            auto n = number(name, *v, min, max);
            if (!n) return n.error();
            target = *n;
            return std::nullopt;
        };
        std::optional<std::string> error;
        // The original's slash options compare case-insensitively.
        const bool slashed = arg.size() > 1 && arg[0] == '/';
        auto slash_is = [&](std::string_view name) {
            return slashed && ascii_iequals(arg, name);
        };
        if (slash_is("/?") || arg == "--help" || arg == "-h" || arg == "-?") {
            o.help = true;
            return o; // "/?" means usage and nothing else
        } else if (arg == "--version") {
            o.version = true;
        } else if (arg == "--check" && !has_inline) {
            o.check = true;
        } else if (slash_is("/ACCESSLEVEL") || arg == "--access-level") {
            error = set_number(slashed ? "/ACCESSLEVEL" : "--access-level",
                               o.access_level, 0, 1'000'000);
            level_given = true;
        } else if (arg == "--passwd") {
            auto v = value("--passwd");
            if (!v) return tl::unexpected(v.error());
            if (v->empty()) return tl::unexpected(std::string("--passwd: empty file name"));
            o.passwd_file = std::string(*v);
        } else if (arg == "--server-secret" || arg == "--make-server-secret") {
            auto v = value(arg);
            if (!v) return tl::unexpected(v.error());
            if (v->empty()) return tl::unexpected(std::string(arg) + ": empty file name");
            (arg == "--server-secret" ? o.server_secret : o.make_server_secret) =
                std::string(*v);
        } else if (arg == "--default-domain") {
            auto v = value("--default-domain");
            if (!v) return tl::unexpected(v.error());
            o.default_domain = std::string(*v);
        } else if (arg == "--timeout") {
            error = set_number("--timeout", o.timeout_seconds, 1, 86'400);
        } else if (arg == "--session-limit") {
            error = set_number("--session-limit", o.session_limit_seconds, 0, 604'800);
        } else if (arg == "--login-timeout") {
            error = set_number("--login-timeout", o.login_timeout_seconds, 1, 86'400);
        } else if (arg == "--login-user") {
            auto v = value("--login-user");
            if (!v) return tl::unexpected(v.error());
            if (v->empty()) return tl::unexpected(std::string("--login-user: empty name"));
            o.login_user = std::string(*v);
        } else if (arg == "--max-auth-failures") {
            error = set_number("--max-auth-failures", o.max_auth_failures, 1, 100);
        } else if (arg == "--max-bad-commands") {
            error = set_number("--max-bad-commands", o.max_bad_commands, 1, 100'000);
        } else if (arg == "--auth" || arg == "--userdb") {
            auto v = value(arg);
            if (!v) return tl::unexpected(v.error());
            constexpr std::string_view k_dovecot = "dovecot:";
            std::string& target = arg == "--auth" ? o.dovecot_auth : o.dovecot_userdb;
            if (arg == "--auth" && *v == "passwd-file") {
                target.clear();
            } else if (v->substr(0, k_dovecot.size()) == k_dovecot &&
                       v->size() > k_dovecot.size() && (*v)[k_dovecot.size()] == '/') {
                target = std::string(v->substr(k_dovecot.size()));
            } else {
                return tl::unexpected(std::string(arg) + ": \"" + std::string(*v) +
                                      "\" is not dovecot:/absolute/socket/path" +
                                      (arg == "--auth" ? " or passwd-file" : ""));
            }
        } else if (arg == "--auth-timeout") {
            error = set_number("--auth-timeout", o.auth_timeout_seconds, 1, 3600);
        } else if (arg == "--auth-failure-delay") {
            error = set_number("--auth-failure-delay", o.auth_failure_delay_ms, 0, 60'000);
        } else if (arg == "--hash-slots") {
            unsigned n = 0;
            error = set_number("--hash-slots", n, 0, 1024);
            o.hash_slots = n;
        } else if (arg == "--hash-slot-dir") {
            auto v = value(arg);
            if (!v) return tl::unexpected(v.error());
            if (v->empty()) return tl::unexpected(std::string(arg) + ": empty directory name");
            o.hash_slot_dir = std::string(*v);
        } else if (arg == "--tls-cert" || arg == "--tls-key") {
            auto v = value(arg);
            if (!v) return tl::unexpected(v.error());
            if (v->empty()) return tl::unexpected(std::string(arg) + ": empty file name");
            (arg == "--tls-cert" ? o.tls_cert : o.tls_key) = std::string(*v);
        } else if (arg == "--sasl") {
            auto v = value("--sasl");
            if (!v) return tl::unexpected(v.error());
            o.sasl.clear();
            std::string_view list = *v;
            while (true) {
                auto comma = list.find(',');
                auto name = list.substr(0, comma);
                if (!pop3::core::mechanism_from_name(name) && !ascii_iequals(name, "NONE"))
                    return tl::unexpected("--sasl: unknown mechanism \"" +
                                          std::string(name) +
                                          "\"; known: PLAIN, LOGIN, CRAM-MD5, "
                                          "SCRAM-SHA-1, SCRAM-SHA-256, NONE");
                o.sasl.emplace_back(name); // NONE matches no mechanism
                if (comma == std::string_view::npos) break;
                list.remove_prefix(comma + 1);
            }
        } else if (arg == "--tls-implicit" && !has_inline) {
            o.tls_implicit = true;
        } else if (arg == "--proxy-from") {
            auto v = value("--proxy-from");
            if (!v) return tl::unexpected(v.error());
            auto list = pop3::core::parse_prefix_list(*v);
            if (!list) return tl::unexpected("--proxy-from: " + list.error());
            o.proxy_from = std::move(*list);
        } else if (arg == "--proxy-tls-terminated" && !has_inline) {
            o.proxy_tls_terminated = true;
        } else if (arg == "--scenario") {
            auto v = value("--scenario");
            if (!v) return tl::unexpected(v.error());
            if (v->empty()) return tl::unexpected(std::string("--scenario: empty file name"));
            o.scenario_file = std::string(*v);
        } else if (arg == "--access-rules") {
            auto v = value("--access-rules");
            if (!v) return tl::unexpected(v.error());
            if (v->empty()) return tl::unexpected(std::string("--access-rules: empty file name"));
            o.access_rules = std::string(*v);
        } else if (arg == "--tls-required" && !has_inline) {
            o.tls_required = true;
        } else if (arg == "--allow-plaintext" && !has_inline) {
            o.allow_plaintext = true;
        } else if (arg == "--trace" && !has_inline) {
            o.trace = true;
        } else if (arg == "--conduct-report" && !has_inline) {
            o.conduct_report = true;
        } else if (arg == "--uidl") {
            auto v = value("--uidl");
            if (!v) return tl::unexpected(v.error());
            if (*v == "pop3d") o.uidl = Options::Uidl::pop3d;
            else if (*v == "filename") o.uidl = Options::Uidl::filename;
            else if (*v == "dovecot") o.uidl = Options::Uidl::dovecot;
            else if (*v == "courier") o.uidl = Options::Uidl::courier;
            else
                return tl::unexpected("--uidl: unknown scheme \"" + std::string(*v) +
                                      "\"; known: pop3d, filename, dovecot, courier");
        } else if (arg == "--uidl-format") {
            auto v = value("--uidl-format");
            if (!v) return tl::unexpected(v.error());
            if (auto valid = pop3::core::check_uidl_format(*v); !valid)
                return tl::unexpected("--uidl-format: " + valid.error());
            o.uidl_format = std::string(*v);
        } else if (arg == "--no-seen" && !has_inline) {
            o.mark_seen = false;
        } else if (arg == "--no-apop" && !has_inline) {
            o.apop = Options::Apop::off;
        } else if (arg == "--apop" && !has_inline) {
            o.apop = Options::Apop::on;
        } else if (!arg.empty() && (arg[0] == '-' || arg[0] == '/')) {
            return tl::unexpected("unknown option \"" + std::string(args[i]) + "\"");
        } else {
            if (o.socket_fd)
                return tl::unexpected("unexpected argument \"" + std::string(arg) +
                                      "\"; only one socket number may be given");
            unsigned fd = 0;
            auto n = number("socket", arg, 0, 65'535);
            if (!n) return tl::unexpected(n.error());
            fd = *n;
            o.socket_fd = static_cast<int>(fd);
        }
        if (error) return tl::unexpected(*error);
    }
    if (o.tls_cert.empty() != o.tls_key.empty())
        return tl::unexpected(std::string("--tls-cert and --tls-key must be given together"));
    if (o.proxy_tls_terminated && o.proxy_from.empty())
        return tl::unexpected(std::string("--proxy-tls-terminated needs --proxy-from"));
    if (o.tls_required && o.tls_cert.empty())
        return tl::unexpected(std::string("--tls-required needs --tls-cert and --tls-key"));
    if (o.tls_implicit && o.tls_cert.empty())
        return tl::unexpected(std::string("--tls-implicit needs --tls-cert and --tls-key"));
    if (!level_given) {
        if (auto level = env("ACCESSLEVEL")) {
            auto n = number("ACCESSLEVEL (environment)", *level, 0, 1'000'000);
            if (!n) return tl::unexpected(n.error());
            o.access_level = *n;
        }
    }
    return o;
}

} // namespace pop3::shell
