// The session loop. Effects run synchronously, so each event the core asked
// for is fed back before the next client line is read.
#include <cerrno>
#include <csignal>

#include "pop3/core/command.hpp"
#include "session_runner.hpp"

namespace pop3::shell {

namespace core = pop3::core;

volatile std::sig_atomic_t g_terminate = 0;

namespace {
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
                             Transport& transport, std::string apop_banner)
    : options_(options), log_(log), transport_(transport),
      banner_(std::move(apop_banner)), auth_(options, log, banner_) {
    config_.max_auth_failures = options.max_auth_failures;
    config_.max_bad_commands = options.max_bad_commands;
    config_.apop = !banner_.empty();
    config_.mark_seen = options.mark_seen;
    config_.implementation = "pop3d-" POP3D_VERSION;
}

void SessionRunner::trace_response(const core::Response& response) {
    if (!options_.trace) return;
    auto wire = core::render(core::Response{response.ok, response.code,
                                            response.text, false, {}});
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
                feed(core::Event{auth_.check_password(e.user, e.secret)});
            } else if constexpr (std::is_same_v<T, core::VerifyApop>) {
                transport_.flush();
                feed(core::Event{auth_.check_apop(e.user, e.digest)});
            } else if constexpr (std::is_same_v<T, core::OpenMailbox>) {
                auto login = e.user;
                auto at = login.rfind('@');
                std::string path = login.substr(at + 1) + "/" +
                                   login.substr(0, at) + "/INBOX";
                auto box = Maildir::open(path);
                if (!box) {
                    log_.line("cannot open mailbox " + path + ": " +
                              box.error().message());
                    feed(core::Event{core::MailboxFailed{
                        core::RespCode::sys_temp,
                        "cannot open the mailbox now; try again later"}});
                    return;
                }
                maildir_ = std::make_unique<Maildir>(std::move(*box));
                auto snapshot = maildir_->snapshot();
                log_.line("mailbox " + path + ": " +
                          std::to_string(snapshot->size()) + " message(s)");
                feed(core::Event{core::MailboxOpened{std::move(snapshot)}});
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

void SessionRunner::send_message(const core::SendMessage& send) {
    auto fd = maildir_->open_message(send.index);
    if (!fd) {
        bool gone = fd.error() == std::errc::no_such_file_or_directory;
        if (!gone)
            log_.line("cannot open message " + std::to_string(send.index + 1) +
                      " (" + maildir_->path_of(send.index) +
                      "): " + fd.error().message());
        feed(core::Event{core::MessageGone{send.index, gone}});
        return;
    }
    trace_response(send.status);
    transport_.send(core::render(send.status));
    auto streamed = stream_message(fd->get(), send.top_lines,
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

// Before each command in TRANSACTION, learn what other clients removed.
void SessionRunner::before_command() {
    if (!maildir_ || !std::holds_alternative<core::Transaction>(state_)) return;
    auto vanished = maildir_->refresh();
    if (!vanished.empty())
        feed(core::Event{core::MessagesVanished{std::move(vanished)}});
}

int SessionRunner::run() {
    feed(core::Event{core::Connected{banner_}});
    core::LineFramer framer;
    const int timeout_ms = static_cast<int>(options_.timeout_seconds) * 1000;
    std::string why = "closed";
    while (!closing_ && !transport_.broken()) {
        while (!closing_) {
            if (termination_requested()) break;
            auto frame = framer.next();
            if (!frame) break;
            if (options_.trace) {
                if (auto* line = std::get_if<core::FramedLine>(&*frame))
                    log_.line("C: " + core::redacted_line(line->text));
                else
                    log_.line("C: (overlong line, discarded)");
            }
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
            framer.feed(got.data);
            continue;
        }
        if (got.status == Transport::Status::interrupted && !g_terminate) continue;
        if (got.status == Transport::Status::timeout) {
            why = "idle timeout";
            feed(core::Event{core::Timeout{}});
            break;
        }
        why = g_terminate ? "terminated by signal" : "client disconnected";
        feed(core::Event{core::Hangup{}});
        break;
    }
    transport_.flush();
    if (transport_.broken() && why == "closed") why = "client disconnected";
    log_.line("session end (" + why + "): retrieved " +
              std::to_string(retrieved_) + " (" +
              std::to_string(retrieved_octets_) + " octets), deleted " +
              std::to_string(deleted_));
    return 0;
}

} // namespace pop3::shell
