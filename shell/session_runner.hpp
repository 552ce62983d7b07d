// The interpreter: reads client lines, steps the core, writes its responses
// and carries out its effects against the Maildir and the passwd-file.
#pragma once
#include <atomic>
#include <memory>
#include <string>

#include "authenticator.hpp"
#include "log.hpp"
#include "maildir.hpp"
#include "options.hpp"
#include "pop3/core/framing.hpp"
#include "pop3/core/session.hpp"
#include "tls.hpp"
#include "transport.hpp"

namespace pop3::shell {

// Set by the SIGTERM/SIGHUP handler; the session then ends deleting nothing.
extern volatile std::sig_atomic_t g_terminate;

class SessionRunner {
public:
    // `tls` is the loaded certificate, or null when none is configured.
    SessionRunner(const Options& options, const Log& log, Transport& transport,
                  std::string apop_banner, const TlsContext* tls,
                  std::vector<pop3::core::Mechanism> sasl,
                  AuthResources auth);
    // Runs the whole session; returns the process exit status.
    int run();
    // For what the caller knows about the connection (set_client).
    [[nodiscard]] Authenticator& authenticator() { return auth_; }

private:
    void feed(const pop3::core::Input& input);
    void execute(const pop3::core::Effect& effect);
    void open_mailbox(const std::string& login);
    void send_message(const pop3::core::SendMessage& send);
    void before_command();
    void trace_response(const pop3::core::Response& response);
    void trace_line(const pop3::core::Frame& frame);
    void start_tls();
    void after_login_attempt(const pop3::core::AuthResult& result);

    const Options& options_;
    const Log& log_;
    Transport& transport_;
    std::string banner_;
    const TlsContext* tls_;
    Authenticator auth_;
    pop3::core::LineFramer framer_;
    pop3::core::Config config_;
    pop3::core::SessionState state_ = pop3::core::Idle{};
    std::unique_ptr<Maildir> maildir_;
    MessageStreamer streamer_; // buffers kept across RETR/TOP
    bool closing_ = false;
    // Counts for the closing log line.
    std::uint64_t retrieved_ = 0, retrieved_octets_ = 0, deleted_ = 0;
};

} // namespace pop3::shell
