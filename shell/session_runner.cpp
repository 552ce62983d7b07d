// The session loop. Effects run synchronously, so each event the core asked
// for is fed back before the next client line is read.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>

#include "pop3/core/command.hpp"
#include "privileges.hpp"
#include "random_source.hpp"
#include "session_runner.hpp"

namespace pop3::shell {

namespace core = pop3::core;

volatile std::sig_atomic_t g_terminate = 0;

namespace {
// 96 random bits as hex: the core derives SASL nonces from it.
std::string random_seed() { return random_hex(12); }

// True when both descriptors are the same open connection (stdin and stdout
// of inetd or tcpserver).
bool same_file(int a, int b) {
    if (a == b) return true;
    struct stat sa {}, sb {};
    return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
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
                             Transport& transport, const core::privsep::Offer& offer,
                             Clock::time_point started, Credentials& auth,
                             const TlsContext* tls)
    : options_(options), log_(log), transport_(transport), started_(started),
      auth_(&auth), tls_(tls) {
    set_config(offer);
    if (options_.conduct_report) conduct_ = core::conduct::start();
}

SessionRunner::SessionRunner(const Options& options, const Log& log,
                             Transport& transport, const core::privsep::Offer& offer,
                             Clock::time_point started,
                             const core::privsep::Handoff& handoff, MailIds ids)
    : options_(options), log_(log), transport_(transport), started_(started),
      resumed_(handoff), ids_(ids) {
    set_config(offer);
    framer_.resume({handoff.pending_input, static_cast<std::size_t>(handoff.discarding)});
    read_since_line_ = false; // the held input came before the login's answer
    if (options_.conduct_report) {
        auto before = core::conduct::decode(handoff.conduct);
        if (!before) log_.error("conduct report: the login process's part is lost: " +
                                before.error());
        conduct_ = before ? std::move(*before) : core::conduct::start();
    }
    // Where the login process's core stood when it handed over: the
    // credentials are verified and the mailbox is to be opened.
    core::Authorization before;
    before.tls = handoff.tls;
    state_ = core::Authenticating{std::move(before), handoff.user, true};
}

void SessionRunner::set_config(const core::privsep::Offer& offer) {
    if (options_.scenario) scenario_ = std::make_unique<ScenarioPlayer>(*options_.scenario, log_);
    config_.tls_available = !options_.tls_cert.empty();
    config_.sasl = offer.sasl;
    config_.sasl_relay = offer.sasl_relay;
    config_.allow_plaintext = options_.allow_plaintext;
    config_.tls_required = options_.tls_required;
    config_.max_auth_failures = options_.max_auth_failures;
    config_.max_bad_commands = options_.max_bad_commands;
    config_.apop = !offer.apop_banner.empty();
    banner_ = offer.apop_banner;
    config_.mark_seen = options_.mark_seen;
    config_.implementation = "pop3d-" POP3D_VERSION;
}

void SessionRunner::trace_response(const core::Response& response) {
    if (!options_.trace) return;
    core::Response status_only = response; // the status line, as sent
    status_only.multiline = false;
    status_only.body.clear();
    status_only.listing.reset();
    auto wire = core::render(status_only);
    wire.resize(wire.size() - 2);
    if (response.multiline)
        wire += " (+" + std::to_string(core::body_line_count(response)) + " lines)";
    log_.line("S: " + wire);
}

void SessionRunner::feed(const core::Input& input) {
    auto result = core::step(std::move(state_), input, config_);
    state_ = std::move(result.state);
    // Rendered a piece at a time into one buffer kept for the session: a
    // listing of 10,000 messages is sent in 64 KiB pieces, never whole
    // (issue 16).
    std::string& wire = wire_;
    wire.clear();
    for (const auto& r : result.responses) {
        trace_response(r);
        observe_answer(r);
        core::ResponseWriter writer(r);
        // A client gone (send false) needs no more pieces rendered.
        while (!transport_.broken() && writer.next(wire, k_wire_piece)) {
            if (wire.size() >= k_wire_piece) {
                transport_.send(wire);
                wire.clear();
            }
        }
    }
    transport_.send(wire);
    for (const auto& e : result.effects) execute(e);
}

void SessionRunner::execute(const core::Effect& effect) {
    std::visit(
        [this](const auto& e) {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, core::VerifyPassword> ||
                          std::is_same_v<T, core::VerifyApop> ||
                          std::is_same_v<T, core::VerifyCram>) {
                transport_.flush(); // the client sees its answers so far first
                auto result = auth_ ? auth_->verify(e)
                                    : core::AuthResult{core::AuthResult::Outcome::unavailable, ""};
                if constexpr (std::is_same_v<T, core::VerifyPassword>) after_login_attempt(result);
                feed(core::Event{std::move(result)});
                if (auth_ && auth_->broken()) closing_ = true;
            } else if constexpr (std::is_same_v<T, core::FetchScramCredentials>) {
                core::ScramCredentials found;
                if (auth_) found = auth_->scram_lookup(e);
                feed(core::Event{core::ScramCredentialsFound{std::move(found)}});
                if (auth_ && auth_->broken()) closing_ = true;
            } else if constexpr (std::is_same_v<T, core::VerifyScram>) {
                transport_.flush();
                core::ScramVerdict verdict{false, {}};
                if (auth_) verdict = auth_->scram_verify(e);
                feed(core::Event{std::move(verdict)});
                if (auth_ && auth_->broken()) closing_ = true;
            } else if constexpr (std::is_same_v<T, core::RelaySasl>) {
                transport_.flush();
                Credentials::RelayAnswer answer =
                    core::AuthResult{core::AuthResult::Outcome::unavailable, ""};
                if (auth_) answer = auth_->relay(e);
                std::visit([this](auto& a) { feed(core::Event{std::move(a)}); }, answer);
                if (auth_ && auth_->broken()) closing_ = true;
            } else if constexpr (std::is_same_v<T, core::StartTls>) {
                start_tls();
            } else if constexpr (std::is_same_v<T, core::OpenMailbox>) {
                if (!auth_) {
                    open_mailbox(e.user);
                } else if (auto ids = auth_->serve_here()) { // one process
                    ids_ = *ids;
                    open_mailbox(e.user);
                } else {
                    hand_off(e.user);
                }
            } else if constexpr (std::is_same_v<T, core::SendMessage>) {
                send_message(e);
            } else if constexpr (std::is_same_v<T, core::Update>) {
                auto counts = maildir_->remove(e.indices);
                deleted_ = counts.removed + counts.already_gone;
                if (counts.failed > 0)
                    log_.error("UPDATE: " + std::to_string(counts.failed) +
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

// The end of the login process's part: everything the client sent after
// the verified login goes to the mail process with the user's name.
void SessionRunner::hand_off(const std::string& user) {
    closing_ = true;
    if (!transport_.flush()) return; // the client is gone: nothing to hand over
    auto held = framer_.held();
    core::privsep::Handoff handoff{user, transport_.tls_active(), std::move(held.bytes),
                                   held.discarding,
                                   conduct_ ? core::conduct::encode(*conduct_) : ""};
    // A plain connection itself goes to the mail process (one descriptor
    // when input and output are the same socket); a TLS one stays here,
    // behind the relay (tls_proxy.hpp).
    const int in = transport_.in_fd(), out = transport_.out_fd();
    bool sent = false;
    if (handoff.tls) sent = auth_->hand_off(handoff, {});
    else if (same_file(in, out)) sent = auth_->hand_off(handoff, {in});
    else sent = auth_->hand_off(handoff, {in, out});
    if (!sent) {
        log_.error("cannot hand the session of " + user + " to the mail process");
        feed(core::Event{core::MailboxFailed{core::RespCode::sys_temp,
                                             "cannot open the mailbox now; try again later"}});
        transport_.flush();
        return;
    }
    handed_off_ = std::move(handoff);
}

// After authentication, in the mail process: become the mail user (when
// root), then take the snapshot of domain/user/INBOX. The login process is
// gone, so any failure ends the session after its -ERR.
void SessionRunner::open_mailbox(const std::string& login) {
    std::optional<std::string> placed; // the userdb's mail location
    if (!options_.dovecot_userdb.empty()) {
        auto entry = userdb_lookup(options_, login);
        if (!entry) {
            log_.error("refusing mailbox of " + login + ": " + entry.error().why);
            feed(core::Event{core::MailboxFailed{
                entry.error().refused ? core::RespCode::sys_perm : core::RespCode::sys_temp,
                entry.error().refused ? "this mailbox cannot be served; ask the administrator"
                                      : "cannot open the mailbox now; try again later"}});
            closing_ = true;
            return;
        }
        if (entry->uid) ids_.uid = entry->uid;
        if (entry->gid) ids_.gid = entry->gid;
        placed = std::move(entry->inbox);
    }
    if (placed) {
        auto access = become_mail_user_at(*placed, ids_.uid, ids_.gid);
        if (!access) access = tl::unexpected(*placed + ": " + access.error());
        serve_mailbox(std::move(access));
        return;
    }
    auto at = login.rfind('@');
    if (at == std::string::npos) { // never from the core; refuse, do not guess
        feed(core::Event{core::MailboxFailed{core::RespCode::sys_perm,
                                             "this mailbox cannot be served"}});
        closing_ = true;
        return;
    }
    const std::string domain = login.substr(at + 1);
    const std::string user = login.substr(0, at);
    // Least privilege (docs/design.md): as root, open the INBOX without
    // following symlinks and become the mail user before the mailbox is
    // read; never serve mail as root.
    pop3::core::PasswdEntry entry;
    entry.user = login;
    entry.uid = ids_.uid;
    entry.gid = ids_.gid;
    auto access = become_mail_user(entry, domain, user);
    if (!access) access = tl::unexpected(domain + "/" + user + "/INBOX: " + access.error());
    serve_mailbox(std::move(access));
}

void SessionRunner::serve_mailbox(tl::expected<MailAccess, std::string> access) {
    if (!access) {
        log_.error("refusing mailbox " + access.error());
        feed(core::Event{core::MailboxFailed{
            core::RespCode::sys_perm,
            "this mailbox cannot be served; ask the administrator"}});
        closing_ = true;
        return;
    }
    const std::string path = access->path;
    // An account without mail yet, or a wrong working directory: say it
    // once, so the second shows at once in the log.
    if (!access->inbox) log_.line("no mailbox at " + path + "; serving it as empty");
    if (access->identity)
        log_.line("serving " + path + " as uid " +
                  std::to_string(access->identity->uid) + " gid " +
                  std::to_string(access->identity->gid));
    UidlRule uidl;
    uidl.scheme = options_.uidl == Options::Uidl::filename ? UidlScheme::file_name
                  : options_.uidl == Options::Uidl::dovecot ? UidlScheme::dovecot
                  : options_.uidl == Options::Uidl::courier ? UidlScheme::courier
                                                            : UidlScheme::base_name;
    uidl.format = options_.uidl_format;
    // --scenario acts on the INBOX as another client would: its own handle.
    UniqueFd scenario_inbox;
    if (scenario_ && access->inbox)
        scenario_inbox.reset(::fcntl(access->inbox.get(), F_DUPFD_CLOEXEC, 0));
    auto box = Maildir::open(std::move(access->inbox), path, true, std::nullopt, uidl);
    if (!box) {
        log_.error("cannot open mailbox " + path + ": " +
                  box.error().message());
        feed(core::Event{core::MailboxFailed{
            core::RespCode::sys_temp,
            "cannot open the mailbox now; try again later"}});
        closing_ = true;
        return;
    }
    maildir_ = std::make_unique<Maildir>(std::move(*box));
    if (scenario_) scenario_->attach(maildir_.get(), std::move(scenario_inbox));
    if (!maildir_->uidl_note().empty()) log_.line("mailbox " + path + ": " + maildir_->uidl_note());
    // Logged in: the login deadline no longer applies (in one process,
    // the same transport goes on).
    transport_.set_deadline(session_deadline_);
    login_deadline_ = false;
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
            log_.error("cannot open message " + std::to_string(send.index + 1) +
                      " (" + std::string(maildir_->path_of(send.index)) +
                      "): " + fd.error().message());
        feed(core::Event{core::MessageGone{send.index, gone}});
        return;
    }
    for (const std::size_t changed : maildir_->take_changed_in_place())
        log_.warning("message " + std::to_string(changed + 1) + " (" +
                  std::string(maildir_->path_of(changed)) +
                  ") changed in place since it was listed; its LIST size may "
                  "be wrong this session; the index was dropped");
    trace_response(send.status);
    observe_answer(send.status);
    transport_.send(core::render(send.status));
    // --scenario "cut K": only K octets of the message (half of a shorter
    // one, so that it is always cut), then a hangup.
    std::optional<std::uint64_t> cut = scenario_ ? scenario_->take_cut() : std::nullopt;
    if (cut) cut = std::min(*cut, send.size / 2);
    bool was_cut = false;
    auto streamed = streamer_.stream(fd->get(), send.top_lines, file_size,
                                   [&](std::string_view chunk) {
                                       if (cut && chunk.size() >= *cut) {
                                           was_cut = true;
                                           transport_.send(chunk.substr(0, *cut));
                                           return false;
                                       }
                                       if (cut) *cut -= chunk.size();
                                       return transport_.send(chunk);
                                   });
    if (was_cut) {
        transport_.flush();
        log_.line("scenario: message " + std::to_string(send.index + 1) +
                  " cut short; closing the connection");
        feed(core::Event{core::Hangup{}});
        closing_ = true;
        return;
    }
    if (!streamed) {
        if (transport_.broken()) return; // the client went away: a hangup
        // A read error mid-message: the +OK is out, so the only honest end
        // is to drop the connection without a terminating dot.
        log_.error("read error in message " + std::to_string(send.index + 1) +
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
            log_.error("cannot mark message " + std::to_string(send.index + 1) +
                      " seen: " + seen.error().message());
    }
}

// RFC 2595 section 4: the "+OK" goes out in the clear, anything the client
// pipelined after STLS is discarded (never executed), then the handshake.
void SessionRunner::start_tls() {
    transport_.flush();
    if (conduct_ && !framer_.held().bytes.empty())
        conduct_ = core::conduct::discarded_after_stls(std::move(*conduct_));
    framer_.clear();
    if (transport_.broken() || tls_ == nullptr) {
        feed(core::Event{core::TlsFailed{"connection lost"}});
        return;
    }
    auto session = TlsSession::accept(
        *tls_, transport_.in_fd(), transport_.out_fd(),
        transport_.budget(static_cast<int>(options_.timeout_seconds) * 1000));
    if (!session) {
        log_.warning("STLS failed: TLS handshake " + session.error());
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
        !transport_.tls_active() && !tls_by_balancer_)
        log_.warning("warning: password for " + result.user +
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

void SessionRunner::observe_line(const core::Frame& frame) {
    if (!conduct_) return;
    core::conduct::Line line;
    line.bare_lf = framer_.last_bare_lf();
    if (const auto* framed = std::get_if<core::FramedLine>(&frame)) {
        line.text = framed->text;
        line.octets = framed->text.size() + (line.bare_lf ? 1 : 2);
    } else {
        line.overlong = true;
        line.octets = std::get<core::OverlongLine>(frame).length;
    }
    line.pipelined = !read_since_line_;
    line.where = core::conduct::where(state_);
    conduct_ = core::conduct::observe(std::move(*conduct_), line);
}

void SessionRunner::observe_answer(const core::Response& response) {
    if (conduct_) conduct_ = core::conduct::answered(std::move(*conduct_), response);
}

void SessionRunner::report_conduct(const std::string& why) {
    if (!conduct_) return;
    using core::conduct::End;
    End end = why == "closed"                 ? End::closed_by_server
              : why == "client disconnected"  ? End::client_disconnected
              : why == "terminated by signal" ? End::terminated
              : why == "idle timeout"         ? End::timeout
              : why == "write timeout"        ? End::stopped_reading
                                              : End::time_limit;
    conduct_ = core::conduct::ended(std::move(*conduct_), end);
    for (const auto& line : core::conduct::report(*conduct_)) log_.line(line);
}

bool SessionRunner::scenario_answers(std::string_view line) {
    scenario_->before(line, std::holds_alternative<core::Transaction>(state_));
    if (scenario_->close_requested()) {
        feed(core::Event{core::Hangup{}});
        closing_ = true;
        return true;
    }
    scenario_delay();
    auto refusal = scenario_->take_refusal();
    if (!refusal) return false;
    auto response = core::err(refusal->text, refusal->code);
    trace_response(response);
    observe_answer(response);
    transport_.send(core::render(response));
    return true;
}

// "delay T": the client's answers so far go out, then the wait.
void SessionRunner::scenario_delay() {
    if (!scenario_ || scenario_->delay_ms() == 0) return;
    transport_.flush();
    std::this_thread::sleep_for(std::chrono::milliseconds(scenario_->delay_ms()));
}

// Before each command in TRANSACTION, learn what other clients removed.
void SessionRunner::before_command() {
    if (!maildir_ || !std::holds_alternative<core::Transaction>(state_)) return;
    auto vanished = maildir_->refresh();
    if (!vanished.empty())
        feed(core::Event{core::MessagesVanished{std::move(vanished)}});
}

std::string SessionRunner::timeout_reason() const {
    if (!transport_.past_deadline()) return "idle timeout";
    return login_deadline_ ? "login time limit" : "session time limit";
}

SessionRunner::Outcome SessionRunner::run() {
    const int timeout_ms = static_cast<int>(options_.timeout_seconds) * 1000;
    // Hardening: writes wait at most the idle timeout for a client that
    // reads nothing; the whole session ends at --session-limit, and the
    // time before login (TLS handshake included) at --login-timeout.
    transport_.set_write_timeout(timeout_ms);
    if (options_.session_limit_seconds > 0)
        session_deadline_ = started_ + std::chrono::seconds(options_.session_limit_seconds);
    auto deadline = session_deadline_;
    const auto login_deadline = started_ + std::chrono::seconds(options_.login_timeout_seconds);
    if (auth_ && login_deadline < deadline) {
        deadline = login_deadline;
        login_deadline_ = true;
    }
    transport_.set_deadline(deadline);
    if (auth_ && options_.tls_implicit && tls_ != nullptr) {
        auto session = TlsSession::accept(*tls_, transport_.in_fd(), transport_.out_fd(),
                                          transport_.budget(timeout_ms));
        if (!session) {
            log_.line("session end (TLS handshake failed: " + session.error() +
                      "): retrieved 0 (0 octets), deleted 0");
            return {};
        }
        log_.line("TLS: " + (*session)->description());
        transport_.use_tls(std::move(*session));
    }
    if (scenario_ && !resumed_) {
        scenario_->connect();
        scenario_delay();
        closing_ = scenario_->close_requested();
    }
    if (resumed_) open_mailbox(resumed_->user);
    else if (!closing_)
        feed(core::Event{core::Connected{banner_, transport_.tls_active() || tls_by_balancer_,
                                         random_seed()}});
    std::string why = "closed";
    // The idle timer restarts on a complete line only: a client dripping
    // one byte at a time is not active (it would otherwise hold its
    // process for as long as it likes).
    auto last_line = Clock::now();
    while (!closing_ && !transport_.broken()) {
        while (!closing_) {
            if (termination_requested()) break;
            framer_.set_max_line(core::line_limit(state_));
            auto frame = framer_.next();
            if (!frame) break;
            last_line = Clock::now();
            trace_line(*frame);
            const auto* command = std::get_if<core::FramedLine>(&*frame);
            if (std::holds_alternative<core::SaslAuthenticating>(state_)) command = nullptr;
            observe_line(*frame);
            read_since_line_ = false;
            if (command && scenario_ && scenario_answers(command->text)) continue;
            before_command();
            std::visit([this](auto&& f) { feed(core::Input{f}); }, *frame);
            if (command && scenario_ && !closing_) {
                scenario_->after(command->text);
                if (scenario_->close_requested()) {
                    feed(core::Event{core::Hangup{}});
                    closing_ = true;
                }
            }
        }
        if (closing_) break;
        if (termination_requested()) {
            why = "terminated by signal";
            feed(core::Event{core::Hangup{}});
            break;
        }
        if (!transport_.flush()) break;
        auto idle_left = std::chrono::ceil<std::chrono::milliseconds>(
                             last_line + std::chrono::milliseconds(timeout_ms) - Clock::now())
                             .count();
        auto got = idle_left > 0 ? transport_.read(static_cast<int>(idle_left))
                                 : Transport::ReadResult{Transport::Status::timeout, {}};
        if (got.status == Transport::Status::data) {
            framer_.feed(got.data);
            read_since_line_ = true;
            continue;
        }
        if (got.status == Transport::Status::interrupted && !g_terminate) continue;
        if (got.status == Transport::Status::timeout) {
            why = timeout_reason();
            feed(core::Event{core::Timeout{}});
            break;
        }
        why = g_terminate ? "terminated by signal" : "client disconnected";
        feed(core::Event{core::Hangup{}});
        break;
    }
    if (handed_off_) return {0, std::move(handed_off_)}; // the mail process goes on
    transport_.flush();
    transport_.close_tls();
    if (transport_.broken() && why == "closed")
        why = !transport_.write_timed_out() ? "client disconnected"
              : transport_.past_deadline()  ? timeout_reason()
                                            : "write timeout";
    report_conduct(why);
    log_.line("session end (" + why + "): retrieved " +
              std::to_string(retrieved_) + " (" +
              std::to_string(retrieved_octets_) + " octets), deleted " +
              std::to_string(deleted_));
    return {};
}

} // namespace pop3::shell
