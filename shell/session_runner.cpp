// The session loop. Effects run synchronously, so each event the core asked
// for is fed back before the next client line is read.
#include <cerrno>
#include <chrono>
#include <csignal>

#include <sys/random.h>

#include <openssl/rand.h>

#include "pop3/core/command.hpp"
#include "privileges.hpp"
#include "session_runner.hpp"

namespace pop3::shell {

namespace core = pop3::core;

volatile std::sig_atomic_t g_terminate = 0;

namespace {
// 96 random bits as hex: the core derives SASL nonces from it.
std::string random_seed() {
    unsigned char bytes[12] = {};
    if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes))
        RAND_bytes(bytes, sizeof bytes);
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out;
    for (auto b : bytes) {
        out += k_hex[b >> 4];
        out += k_hex[b & 15];
    }
    return out;
}

// True once SIGTERM or SIGHUP was caught or is pending (they are blocked
// outside the read wait), so pipelined commands stop before any UPDATE.
bool termination_requested() {
    if (g_terminate) return true;
    sigset_t pending;
    sigemptyset(&pending);
    return sigpending(&pending) == 0 &&
           (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGHUP) == 1);
}
} // namespace

SessionRunner::SessionRunner(const Options& options, const Log& log,
                             Transport& transport, std::string apop_banner,
                             const TlsContext* tls,
                             std::vector<core::Mechanism> sasl,
                             std::optional<PasswdFile> passwd)
    : options_(options), log_(log), transport_(transport),
      banner_(std::move(apop_banner)), tls_(tls), auth_(options, log, banner_, std::move(passwd)) {
    config_.tls_available = tls != nullptr;
    config_.sasl = std::move(sasl);
    config_.allow_plaintext = options.allow_plaintext;
    config_.max_auth_failures = options.max_auth_failures;
    config_.max_bad_commands = options.max_bad_commands;
    config_.apop = !banner_.empty();
    config_.mark_seen = options.mark_seen;
    config_.implementation = "pop3d-" POP3D_VERSION;
}

void SessionRunner::trace_response(const core::Response& response) {
    if (!options_.trace) return;
    core::Response status_only = response; // the status line, as sent
    status_only.multiline = false;
    status_only.body.clear();
    auto wire = core::render(status_only);
    wire.resize(wire.size() - 2);
    if (response.multiline)
        wire += " (+" + std::to_string(response.body.size()) + " lines)";
    log_.line("S: " + wire);
}

void SessionRunner::feed(const core::Input& input) {
    auto result = core::step(std::move(state_), input, config_);
    state_ = std::move(result.state);
    std::string wire;
    for (const auto& r : result.responses) {
        trace_response(r);
        core::render_to(r, wire);
    }
    transport_.send(wire);
    for (const auto& e : result.effects) execute(e);
}

void SessionRunner::execute(const core::Effect& effect) {
    std::visit(
        [this](const auto& e) {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, core::VerifyPassword>) {
                transport_.flush();
                auto result = auth_.check_password(e.user, e.secret, e.method);
                after_login_attempt(result);
                feed(core::Event{std::move(result)});
            } else if constexpr (std::is_same_v<T, core::VerifyApop>) {
                transport_.flush();
                feed(core::Event{auth_.check_apop(e.user, e.digest)});
            } else if constexpr (std::is_same_v<T, core::VerifyCram>) {
                transport_.flush();
                feed(core::Event{auth_.check_cram(e.user, e.challenge, e.digest_hex)});
            } else if constexpr (std::is_same_v<T, core::FetchScramCredentials>) {
                feed(core::Event{core::ScramCredentialsFound{
                    auth_.scram_lookup(e.mechanism, e.user)}});
            } else if constexpr (std::is_same_v<T, core::VerifyScram>) {
                transport_.flush();
                feed(core::Event{auth_.scram_verify(e.mechanism, e.credentials,
                                                    e.auth_message, e.proof)});
            } else if constexpr (std::is_same_v<T, core::StartTls>) {
                start_tls();
            } else if constexpr (std::is_same_v<T, core::OpenMailbox>) {
                open_mailbox(e.user);
            } else if constexpr (std::is_same_v<T, core::SendMessage>) {
                send_message(e);
            } else if constexpr (std::is_same_v<T, core::Update>) {
                auto counts = maildir_->remove(e.indices);
                deleted_ = counts.removed + counts.already_gone;
                if (counts.failed > 0)
                    log_.line("UPDATE: " + std::to_string(counts.failed) +
                              " messages could not be removed");
                feed(core::Event{core::Updated{counts.removed,
                                               counts.already_gone,
                                               counts.failed}});
            } else if constexpr (std::is_same_v<T, core::Close>) {
                closing_ = true;
            }
        },
        effect);
}

// After authentication: become the mail user (when root), then take the
// snapshot of domain/user/INBOX.
void SessionRunner::open_mailbox(const std::string& login) {
    auto at = login.rfind('@');
    if (at == std::string::npos) { // never from the core; refuse, do not guess
        feed(core::Event{core::MailboxFailed{core::RespCode::sys_perm,
                                             "this mailbox cannot be served"}});
        return;
    }
    const std::string domain = login.substr(at + 1);
    const std::string user = login.substr(0, at);
    // Least privilege (issue 7, docs/design.md): as root, open the INBOX
    // without following symlinks and become the mail user before the
    // mailbox is read; never serve mail as root. Once dropped, no other
    // login can be served, so any failure from here on ends the session.
    auto access = become_mail_user(auth_.verified_entry(), domain, user);
    if (!access) {
        log_.line("refusing mailbox " + domain + "/" + user + "/INBOX: " +
                  access.error());
        feed(core::Event{core::MailboxFailed{
            core::RespCode::sys_perm,
            "this mailbox cannot be served; ask the administrator"}});
        closing_ = true;
        return;
    }
    const std::string path = access->path;
    const bool dropped = access->identity.has_value();
    if (dropped)
        log_.line("serving " + path + " as uid " +
                  std::to_string(access->identity->uid) + " gid " +
                  std::to_string(access->identity->gid));
    auto box = Maildir::open(std::move(access->inbox), path);
    if (!box) {
        log_.line("cannot open mailbox " + path + ": " +
                  box.error().message());
        feed(core::Event{core::MailboxFailed{
            core::RespCode::sys_temp,
            "cannot open the mailbox now; try again later"}});
        if (dropped) closing_ = true; // privileges are gone
        return;
    }
    maildir_ = std::make_unique<Maildir>(std::move(*box));
    auto snapshot = maildir_->snapshot();
    log_.line("mailbox " + path + ": " +
              std::to_string(snapshot->size()) + " message(s)" +
              (maildir_->listed_from_index() ? " (unchanged: listed from the index)"
                                             : ""));
    feed(core::Event{core::MailboxOpened{std::move(snapshot)}});
}

void SessionRunner::send_message(const core::SendMessage& send) {
    std::uint64_t file_size = 0;
    auto fd = maildir_->open_message(send.index, &file_size);
    if (!fd) {
        bool gone = fd.error() == std::errc::no_such_file_or_directory;
        if (!gone)
            log_.line("cannot open message " + std::to_string(send.index + 1) +
                      " (" + std::string(maildir_->path_of(send.index)) +
                      "): " + fd.error().message());
        feed(core::Event{core::MessageGone{send.index, gone}});
        return;
    }
    for (const std::size_t changed : maildir_->take_changed_in_place())
        log_.line("message " + std::to_string(changed + 1) + " (" +
                  std::string(maildir_->path_of(changed)) +
                  ") changed in place since it was listed; its LIST size may "
                  "be wrong this session; the index was dropped");
    trace_response(send.status);
    transport_.send(core::render(send.status));
    auto streamed = streamer_.stream(fd->get(), send.top_lines, file_size,
                                   [this](std::string_view chunk) {
                                       return transport_.send(chunk);
                                   });
    if (!streamed) {
        if (transport_.broken()) return; // the client went away: a hangup
        // A read error mid-message: the +OK is out, so the only honest end
        // is to drop the connection without a terminating dot.
        log_.line("read error in message " + std::to_string(send.index + 1) +
                  ": " + streamed.error().message() + "; closing");
        closing_ = true;
        return;
    }
    if (!send.top_lines) {
        ++retrieved_;
        retrieved_octets_ += send.size;
    }
    if (send.mark_seen) {
        auto seen = maildir_->mark_seen(send.index);
        if (!seen)
            log_.line("cannot mark message " + std::to_string(send.index + 1) +
                      " seen: " + seen.error().message());
    }
}

// RFC 2595 section 4: the "+OK" goes out in the clear, anything the client
// pipelined after STLS is discarded (never executed), then the handshake.
void SessionRunner::start_tls() {
    transport_.flush();
    framer_.clear();
    if (transport_.broken() || tls_ == nullptr) {
        feed(core::Event{core::TlsFailed{"connection lost"}});
        return;
    }
    auto session = TlsSession::accept(
        *tls_, transport_.in_fd(), transport_.out_fd(),
        transport_.budget(static_cast<int>(options_.timeout_seconds) * 1000));
    if (!session) {
        log_.line("STLS failed: TLS handshake " + session.error());
        feed(core::Event{core::TlsFailed{session.error()}});
        return;
    }
    log_.line("STLS: " + (*session)->description());
    transport_.use_tls(std::move(*session));
    feed(core::Event{core::TlsStarted{}});
}

// Without a certificate there is nothing better to offer: plaintext stays
// allowed, and each such login is logged as insecure.
void SessionRunner::after_login_attempt(const core::AuthResult& result) {
    if (result.outcome == core::AuthResult::Outcome::accepted &&
        !transport_.tls_active())
        log_.line("warning: password for " + result.user +
                  " was sent without TLS (insecure)");
}

void SessionRunner::trace_line(const core::Frame& frame) {
    if (!options_.trace) return;
    if (std::holds_alternative<core::SaslAuthenticating>(state_)) {
        log_.line("C: (SASL response, redacted)");
    } else if (auto* line = std::get_if<core::FramedLine>(&frame)) {
        log_.line("C: " + core::redacted_line(line->text));
    } else {
        log_.line("C: (overlong line, discarded)");
    }
}

// Before each command in TRANSACTION, learn what other clients removed.
void SessionRunner::before_command() {
    if (!maildir_ || !std::holds_alternative<core::Transaction>(state_)) return;
    auto vanished = maildir_->refresh();
    if (!vanished.empty())
        feed(core::Event{core::MessagesVanished{std::move(vanished)}});
}

int SessionRunner::run() {
    const int timeout_ms = static_cast<int>(options_.timeout_seconds) * 1000;
    // Hardening (issue 7): writes wait at most the idle timeout for a client
    // that reads nothing, and the whole session ends at --session-limit.
    transport_.set_write_timeout(timeout_ms);
    if (options_.session_limit_seconds > 0)
        transport_.set_deadline(std::chrono::steady_clock::now() +
                                std::chrono::seconds(options_.session_limit_seconds));
    if (options_.tls_implicit && tls_ != nullptr) {
        auto session = TlsSession::accept(*tls_, transport_.in_fd(), transport_.out_fd(),
                                          transport_.budget(timeout_ms));
        if (!session) {
            log_.line("TLS handshake failed: " + session.error());
            log_.line("session end (TLS handshake failed): retrieved 0 (0 octets), deleted 0");
            return 0;
        }
        log_.line("TLS: " + (*session)->description());
        transport_.use_tls(std::move(*session));
    }
    feed(core::Event{core::Connected{banner_, transport_.tls_active(), random_seed()}});
    std::string why = "closed";
    while (!closing_ && !transport_.broken()) {
        while (!closing_) {
            if (termination_requested()) break;
            framer_.set_max_line(core::line_limit(state_));
            auto frame = framer_.next();
            if (!frame) break;
            trace_line(*frame);
            before_command();
            std::visit([this](auto&& f) { feed(core::Input{f}); }, *frame);
        }
        if (closing_) break;
        if (termination_requested()) {
            why = "terminated by signal";
            feed(core::Event{core::Hangup{}});
            break;
        }
        if (!transport_.flush()) break;
        auto got = transport_.read(timeout_ms);
        if (got.status == Transport::Status::data) {
            framer_.feed(got.data);
            continue;
        }
        if (got.status == Transport::Status::interrupted && !g_terminate) continue;
        if (got.status == Transport::Status::timeout) {
            why = transport_.past_deadline() ? "session time limit" : "idle timeout";
            feed(core::Event{core::Timeout{}});
            break;
        }
        why = g_terminate ? "terminated by signal" : "client disconnected";
        feed(core::Event{core::Hangup{}});
        break;
    }
    transport_.flush();
    transport_.close_tls();
    if (transport_.broken() && why == "closed") why = "client disconnected";
    log_.line("session end (" + why + "): retrieved " +
              std::to_string(retrieved_) + " (" +
              std::to_string(retrieved_octets_) + " octets), deleted " +
              std::to_string(deleted_));
    return 0;
}

} // namespace pop3::shell
