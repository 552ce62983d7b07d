// `pop3d --check` (config_check.hpp). Each part reuses what a session runs
// (the passwd-file reader, make_offer, TlsContext::load, the INBOX walk and
// choose_identity), so what it reports is what a client would meet.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "authenticator.hpp"
#include "auth_service.hpp"
#include "client_origin.hpp"
#include "dovecot_auth.hpp"
#include "config_check.hpp"
#include "crypto_primitives.hpp"
#include "passwd_file.hpp"
#include "password_check.hpp"
#include "pop3/core/ascii.hpp"
#include "pop3/core/login_name.hpp"
#include "pop3/core/sasl.hpp"
#include "pop3/core/session.hpp"
#include "privileges.hpp"
#include "sandbox.hpp"
#include "server_secret.hpp"
#include "tls.hpp"

namespace pop3::shell {
namespace {

// At most this many "ok" lines per account list: a site with 100,000
// accounts wants the errors, not every good one.
constexpr std::size_t k_accounts_shown = 20;
// A certificate this close to expiry is worth a warning.
constexpr long k_expiry_warning_days = 30;

class Report {
public:
    explicit Report(std::FILE* out) : out_(out) {}
    void ok(const std::string& text) { print("ok", text); }
    void warning(const std::string& text) { ++warnings_; print("warning", text); }
    void error(const std::string& text) { ++errors_; print("error", text); }
    [[nodiscard]] int finish() {
        std::fprintf(out_, "%u error(s), %u warning(s)\n", errors_, warnings_);
        return errors_ == 0 ? 0 : 1;
    }

private:
    void print(const char* kind, const std::string& text) {
        std::fprintf(out_, "%s: %s\n", kind, text.c_str());
    }
    std::FILE* out_;
    unsigned errors_ = 0;
    unsigned warnings_ = 0;
};

std::string yes_no(bool b) { return b ? "yes" : "no"; }

std::string join(const std::vector<std::string>& items, const char* separator) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
    return out.empty() ? "none" : out;
}

void report_options(const Options& o, Report& report) {
    std::string text = o.dovecot_auth.empty()
                           ? "options: passwd-file " + o.passwd_file
                           : "options: credentials from Dovecot's auth service " + o.dovecot_auth;
    if (!o.dovecot_userdb.empty()) text += "; userdb " + o.dovecot_userdb;
    text += "; default domain " + (o.default_domain.empty() ? "none" : o.default_domain);
    text += "; TLS " + (o.tls_cert.empty() ? std::string("off")
                                          : (o.tls_implicit ? "implicit (POP3S)" : "STLS"));
    text += "; plaintext logins before TLS " +
            std::string(o.tls_required ? "refused (no login before TLS)"
                        : o.allow_plaintext || o.tls_cert.empty() ? "allowed"
                                                                  : "refused");
    text += "; access level " + std::to_string(o.access_level);
    if (!o.access_rules.empty()) text += "; access rules " + o.access_rules;
    text += "; PROXY headers from " + std::to_string(o.proxy_from.size()) + " prefix(es)";
    text += "; idle timeout " + std::to_string(o.timeout_seconds) + " s";
    text += "; login timeout " + std::to_string(o.login_timeout_seconds) + " s";
    text += "; session limit " + std::to_string(o.session_limit_seconds) + " s";
    text += "; mark Seen " + yes_no(o.mark_seen);
    report.ok(text);
}

// The passwd-file: every line parsed, every scheme verifiable.
std::optional<PasswdFile> check_passwd(const Options& options, Report& report,
                                       std::vector<core::PasswdEntry>& accounts) {
    auto file = PasswdFile::read(options.passwd_file);
    if (!file) {
        report.error("cannot read passwd-file " + options.passwd_file + ": " +
                     file.error().message());
        return std::nullopt;
    }
    std::map<std::string, unsigned> schemes;
    std::map<std::string, unsigned> seen;
    file->for_each_entry(
        [&](const core::PasswdEntry& entry) {
            ++schemes[entry.scheme];
            if (++seen[core::ascii_lower(entry.user)] == 2)
                report.warning("passwd-file " + options.passwd_file + ": account " +
                               entry.user + " is listed more than once; the first "
                               "entry is used");
            if (!scheme_known(entry.scheme))
                report.error("passwd-file " + options.passwd_file + ": account " +
                             entry.user + " has the scheme {" + entry.scheme +
                             "}, which pop3d cannot verify");
            else if (entry.secret.empty())
                report.error("passwd-file " + options.passwd_file + ": account " +
                             entry.user + " has an empty secret; it can never log in");
            core::PasswdEntry kept = entry;
            kept.secret.clear(); // the check needs no secret later
            accounts.push_back(std::move(kept));
            return false;
        },
        [&](std::string_view what) { report.error(std::string(what)); });
    if (accounts.empty()) {
        report.error("passwd-file " + options.passwd_file + " holds no account");
        return std::move(*file);
    }
    std::vector<std::string> used;
    used.reserve(schemes.size());
    for (const auto& [scheme, count] : schemes)
        used.push_back(scheme + " " + std::to_string(count));
    report.ok("passwd-file " + options.passwd_file + ": " +
              std::to_string(accounts.size()) + " account(s); schemes: " +
              join(used, ", "));
    return std::move(*file);
}

// What the greeting and CAPA will offer, before and after TLS.
// Returns needs_crypto (auth_service.hpp): whether sessions load pop3d-crypto.so.
bool report_offer(const Options& options, std::optional<PasswdFile> passwd,
                  Report& report) {
    AuthResources resources;
    resources.passwd = std::move(passwd);
    const auto kinds = secret_kinds(resources.passwd ? &*resources.passwd : nullptr);
    auto offer = make_offer(options, kinds);
    const bool crypto = needs_crypto(offer, kinds);
    core::Config config;
    config.tls_available = !options.tls_cert.empty();
    config.allow_plaintext = options.allow_plaintext;
    config.tls_required = options.tls_required;
    auto describe = [&](bool tls) {
        if (options.tls_required && !tls) return std::string("no login of any kind");
        const bool plain = core::plaintext_allowed(tls, config);
        std::vector<std::string> mechanisms;
        for (auto m : offer.sasl) {
            const bool plaintext = m == core::Mechanism::plain || m == core::Mechanism::login;
            if (!plaintext || plain) mechanisms.emplace_back(core::mechanism_name(m));
        }
        return "USER/PASS " + std::string(plain ? "offered" : "refused") + ", APOP " +
               (offer.apop_banner.empty() ? "not offered" : "offered") + ", SASL " +
               join(mechanisms, " ");
    };
    if (options.tls_implicit) {
        report.ok("logins (over TLS from the first byte): " + describe(true));
        return crypto;
    }
    report.ok("logins before TLS: " + describe(false));
    if (config.tls_available) report.ok("logins after STLS: " + describe(true));
    const bool scram = std::any_of(offer.sasl.begin(), offer.sasl.end(), [](auto m) {
        return m == core::Mechanism::scram_sha1 || m == core::Mechanism::scram_sha256;
    });
    if (scram) {
        if (auto secret = read_server_secret(options.server_secret); !secret)
            report.warning("no server secret (" + secret.error() +
                           "): SCRAM salts of plaintext secrets are keyed with the "
                           "passwd-file's digest and change with every edit of it; "
                           "create one with pop3d --make-server-secret " +
                           options.server_secret);
    }
    return crypto;
}

// --auth dovecot: and --userdb dovecot: the sockets answer their handshake.
void check_dovecot_sockets(const Options& options, Report& report) {
    if (!options.dovecot_auth.empty()) {
        auto c = DovecotConnection::open_client(
            options.dovecot_auth, std::chrono::seconds(options.auth_timeout_seconds));
        if (!c) {
            report.error("Dovecot's auth service (" + options.dovecot_auth + "): " + c.error());
        } else {
            std::vector<std::string> mechanisms;
            mechanisms.reserve(c->handshake().mechs.size());
            for (const auto& m : c->handshake().mechs) mechanisms.push_back(m.name);
            report.ok("credentials from Dovecot's auth service " + options.dovecot_auth +
                      " (the passwd-file is not read); it offers " + join(mechanisms, " "));
        }
    }
    if (!options.dovecot_userdb.empty()) {
        if (auto c = DovecotConnection::open_userdb(options.dovecot_userdb); !c)
            report.error("Dovecot's userdb (" + options.dovecot_userdb + "): " + c.error());
        else
            report.ok("mail users from Dovecot's userdb " + options.dovecot_userdb);
    }
}

void check_tls(const Options& options, Report& report) {
    if (options.tls_cert.empty()) return;
    auto context = TlsContext::load(options.tls_cert, options.tls_key);
    if (!context) {
        report.error(context.error());
        return;
    }
    const CertificateFacts facts = context->certificate_facts();
    report.ok("TLS certificate " + options.tls_cert + " and key " + options.tls_key +
              " match; subject " + facts.subject + "; names " + join(facts.names, ", ") +
              "; valid from " + facts.not_before + " to " + facts.not_after + " (" +
              std::to_string(facts.days_left) + " days left)");
    if (!context->warning().empty())
        report.error(context->warning());
    else if (facts.days_left < k_expiry_warning_days)
        report.warning("TLS certificate " + options.tls_cert + " expires in " +
                       std::to_string(facts.days_left) + " days");
}

void check_access_rules(const Options& options, Report& report) {
    if (options.access_rules.empty()) return;
    auto rules = load_access_rules(options);
    if (!rules)
        report.error(rules.error());
    else
        report.ok("access rules " + options.access_rules + " parsed");
}

struct Directory {
    DIR* dir;
    explicit Directory(const char* path) : dir(::opendir(path)) {}
    Directory(const Directory&) = delete;
    Directory& operator=(const Directory&) = delete;
    ~Directory() { if (dir) ::closedir(dir); }
};

// Subdirectories of `path` whose names do not start with '.'.
std::vector<std::string> subdirectories(const std::string& path) {
    std::vector<std::string> out;
    Directory d(path.c_str());
    if (!d.dir) return out;
    for (int i = 0; i < 1'000'000; ++i) { // bounded, as every loop
        const dirent* e = ::readdir(d.dir);
        if (!e) break;
        if (e->d_name[0] == '.') continue;
        struct stat st {};
        const std::string child = path + "/" + e->d_name;
        if (::lstat(child.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
            out.emplace_back(e->d_name);
    }
    return out;
}

bool is_maildir(const std::string& path) {
    struct stat st {};
    return ::lstat((path + "/cur").c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
           ::lstat((path + "/new").c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The working directory: still there, and shaped like a mailstore root
// (domain/user/INBOX Maildirs). Returns false when it is gone.
bool check_working_directory(Report& report, std::size_t& mailboxes) {
    char cwd[PATH_MAX] = "?";
    const bool named = ::getcwd(cwd, sizeof cwd) != nullptr;
    struct stat st {};
    if (!named || ::stat(".", &st) != 0 || st.st_nlink == 0) {
        report.error("the working directory has been removed (or cannot be "
                     "named); run pop3d in the mailstore root");
        return false;
    }
    const auto domains = subdirectories(".");
    std::size_t with_mail = 0;
    for (const auto& domain : domains) {
        bool any = false;
        for (const auto& user : subdirectories(domain))
            if (is_maildir(std::string(domain).append("/").append(user).append("/INBOX"))) {
                ++mailboxes;
                any = true;
            }
        with_mail += any ? 1 : 0;
    }
    report.ok(std::string("working directory ") + cwd + ": " +
              std::to_string(with_mail) + " domain(s) with " + std::to_string(mailboxes) +
              " mailbox(es) (domain/user/INBOX)");
    return true;
}

// For every account: where its mail is, and (as root) whom it is served as.
void check_accounts(const Options& options, const std::vector<core::PasswdEntry>& accounts,
                    std::size_t mailboxes, Report& report) {
    const bool root = running_as_root();
    std::size_t shown = 0, empty = 0, found = 0, named = 0;
    for (const auto& entry : accounts) {
        auto login = core::parse_login(entry.user, options.default_domain);
        if (!login) {
            report.warning("account " + entry.user + " cannot log in: " + login.error());
            continue;
        }
        const std::string& domain = login->domain;
        const std::string& user = login->local;
        const std::string path = std::string(domain).append("/").append(user).append("/INBOX");
        auto dir = open_mailbox_dir(AT_FDCWD, domain, user);
        ++named;
        if (!dir) {
            report.error("account " + entry.user + ": " + dir.error());
            continue;
        }
        if (dir->inbox) ++found;
        std::string plan = "as this process's user";
        if (root) {
            if (!dir->owner_known && !entry.uid) {
                report.error("account " + entry.user + ": would be refused: nothing "
                             "of " + path + " exists to own it and the passwd-file "
                             "gives no uid");
                continue;
            }
            auto who = choose_identity(entry, dir->owner, primary_group);
            if (who) {
                if (auto usable = check_identity(*who); !usable)
                    who = tl::unexpected(usable.error());
            }
            if (!who) {
                report.error("account " + entry.user + ": would be refused: " + who.error());
                continue;
            }
            plan = "as uid " + std::to_string(who->uid) + " gid " + std::to_string(who->gid);
        }
        if (!dir->inbox) {
            ++empty;
            if (shown++ < k_accounts_shown)
                report.ok(std::string("account ")
                              .append(entry.user)
                              .append(": no mailbox at ")
                              .append(path)
                              .append(" yet; served as empty, ")
                              .append(plan));
        } else if (shown++ < k_accounts_shown) {
            std::string line = "account " + entry.user;
            line.append(": ").append(path).append(", served ").append(plan);
            report.ok(line);
        }
    }
    if (shown > k_accounts_shown)
        report.ok("... " + std::to_string(shown - k_accounts_shown) + " more account(s)");
    if (named > 0 && found == 0 && mailboxes == 0)
        report.error("the working directory does not look like a mailstore root: no "
                     "account has a domain/user/INBOX here and no Maildir is in "
                     "domain/user/INBOX form; run pop3d in the mailstore root");
    else if (empty > 0)
        report.warning(std::to_string(empty) + " account(s) have no mailbox yet (served "
                       "as empty until mail is delivered)");
}

void check_login_account(const Options& options, Report& report) {
    if (!running_as_root()) {
        report.ok("not started as root: one process serves each session as this user");
        return;
    }
    auto account = find_login_account(options.login_user);
    if (!account)
        report.error("login process account: " + account.error());
    else
        report.ok("before login, client bytes are handled as " + account->name + " (uid " +
                  std::to_string(account->uid) + " gid " + std::to_string(account->gid) +
                  "), jailed");
}

} // namespace

int check_configuration(const Options& options, std::FILE* out) {
    Report report(out);
    report_options(options, report);
    std::vector<core::PasswdEntry> accounts;
    bool crypto = false; // whether sessions would load pop3d-crypto.so
    if (options.dovecot_auth.empty()) {
        auto passwd = check_passwd(options, report, accounts);
        crypto = report_offer(options, std::move(passwd), report);
    }
    // With a certificate, check_tls reports a missing module itself.
    if (crypto && options.tls_cert.empty()) {
        if (auto ready = load_crypto_module(); !ready)
            report.error(ready.error() + "; hashed secrets, APOP, CRAM-MD5 and SCRAM "
                         "logins would answer -ERR [SYS/TEMP]");
    }
    check_dovecot_sockets(options, report);
    check_tls(options, report);
    check_access_rules(options, report);
    check_login_account(options, report);
    std::size_t mailboxes = 0;
    if (check_working_directory(report, mailboxes))
        check_accounts(options, accounts, mailboxes, report);
    return report.finish();
}

} // namespace pop3::shell
