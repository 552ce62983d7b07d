// The interpreter: reads client lines, steps the core, writes its responses
// and carries out its effects. One class serves both halves of a session
// (docs/design.md, "Processes"): before login in the unprivileged login
// process, where credentials go to the auth process and a verified login
// ends in a hand-over; after login in the mail process, as the mail user.
#pragma once
#include <chrono>
#include <csignal>
#include <memory>
#include <optional>
#include <string>

#include "credentials.hpp"
#include "log.hpp"
#include "maildir.hpp"
#include "options.hpp"
#include "privileges.hpp"
#include "pop3/core/conduct.hpp"
#include "scenario_player.hpp"
#include "pop3/core/framing.hpp"
#include "pop3/core/privsep_wire.hpp"
#include "pop3/core/session.hpp"
#include "dovecot_auth.hpp"
#include "tls.hpp"
#include "transport.hpp"

namespace pop3::shell {

// Set by the SIGTERM/SIGHUP handler; the session then ends deleting nothing.
extern volatile std::sig_atomic_t g_terminate;

class SessionRunner {
public:
    using Clock = std::chrono::steady_clock;
    // Before login. `tls` is the loaded certificate, or null when none is
    // configured; `started` is when the connection was accepted.
    SessionRunner(const Options& options, const Log& log, Transport& transport,
                  const pop3::core::privsep::Offer& offer, Clock::time_point started,
                  Credentials& auth, const TlsContext* tls);
    // After login: continues the session `handoff` describes, serving the
    // mailbox of its user as `ids` (and the mailbox owner) say.
    SessionRunner(const Options& options, const Log& log, Transport& transport,
                  const pop3::core::privsep::Offer& offer, Clock::time_point started,
                  const pop3::core::privsep::Handoff& handoff, MailIds ids);

    struct Outcome {
        int status = 0;
        // Before login: set when a verified login was handed over.
        std::optional<pop3::core::privsep::Handoff> handoff;
    };
    // Before login, behind a balancer that terminated TLS (and is trusted
    // to say so): the connection counts as TLS for the plaintext policy.
    void set_tls_by_balancer(bool tls) { tls_by_balancer_ = tls; }
    // Runs the session (or its first half); returns the process exit status.
    [[nodiscard]] Outcome run();

private:
    void feed(const pop3::core::Input& input);
    void execute(const pop3::core::Effect& effect);
    void hand_off(const std::string& user);
    void open_mailbox(const std::string& login);
    void serve_mailbox(tl::expected<MailAccess, std::string> access);
    void send_message(const pop3::core::SendMessage& send);
    void before_command();
    // --scenario: the rules before the client's command `line`; true when
    // they answered it (a refusal) or closed the session, so it is not run.
    [[nodiscard]] bool scenario_answers(std::string_view line);
    void scenario_delay();
    void trace_response(const pop3::core::Response& response);
    void trace_line(const pop3::core::Frame& frame);
    // --conduct-report: each line and its answer go to the fold, and the
    // report is logged at the session's end.
    void observe_line(const pop3::core::Frame& frame);
    void observe_answer(const pop3::core::Response& response);
    void report_conduct(const std::string& why);
    void start_tls();
    void after_login_attempt(const pop3::core::AuthResult& result);
    void set_config(const pop3::core::privsep::Offer& offer);
    // Why a timeout ended the session, for the log line.
    [[nodiscard]] std::string timeout_reason() const;

    const Options& options_;
    const Log& log_;
    Transport& transport_;
    Clock::time_point started_;
    Credentials* auth_ = nullptr;     // before login only
    const TlsContext* tls_ = nullptr; // before login only
    std::string banner_;              // APOP timestamp of the greeting, or empty
    // The answers of one step, rendered in pieces of k_wire_piece octets
    // (the transport's flush threshold) into one buffer kept for the session.
    static constexpr std::size_t k_wire_piece = 64 * 1024;
    std::string wire_;
    std::optional<pop3::core::privsep::Handoff> resumed_; // after login only
    MailIds ids_;
    pop3::core::LineFramer framer_;
    pop3::core::Config config_;
    pop3::core::SessionState state_ = pop3::core::Idle{};
    std::unique_ptr<Maildir> maildir_;
    MessageStreamer streamer_; // buffers kept across RETR/TOP
    std::unique_ptr<ScenarioPlayer> scenario_; // --scenario only
    bool closing_ = false;
    bool tls_by_balancer_ = false;
    bool login_deadline_ = false; // the login deadline comes before the session's
    Clock::time_point session_deadline_ = Clock::time_point::max();
    std::optional<pop3::core::privsep::Handoff> handed_off_;
    std::optional<pop3::core::conduct::Conduct> conduct_; // --conduct-report only
    // A read since the last line was framed: a line framed without one was
    // sent before the previous answer went out (pipelined).
    bool read_since_line_ = true;
    // Counts for the closing log line.
    std::uint64_t retrieved_ = 0, retrieved_octets_ = 0, deleted_ = 0;
};

} // namespace pop3::shell
