// The login process's side of authentication: each credential check the
// core asks for becomes one request to the monitor (which relays it to the
// auth process) and one answer. The login process holds no secret but the
// client's own.
#pragma once
#include <string>
#include <string_view>

#include "credentials.hpp"
#include "log.hpp"
#include "pop3/core/effect.hpp"
#include "privsep_channel.hpp"

namespace pop3::shell {

class AuthClient final : public Credentials {
public:
    AuthClient(PrivsepChannel& channel, const Log& log) : channel_(channel), log_(log) {}

    // The Offer the auth process sends first (what the greeting and CAPA
    // may offer); nullopt if it never came.
    [[nodiscard]] std::optional<pop3::core::privsep::Offer> receive_offer();

    // Each returns the answer, or, when the channel has failed (the other
    // processes are gone), a refusal: `unavailable` for logins.
    [[nodiscard]] pop3::core::AuthResult
    verify(const pop3::core::privsep::Request& request) override;
    [[nodiscard]] pop3::core::ScramCredentials
    scram_lookup(const pop3::core::FetchScramCredentials& request) override;
    [[nodiscard]] pop3::core::ScramVerdict
    scram_verify(const pop3::core::VerifyScram& request) override;
    [[nodiscard]] RelayAnswer relay(const pop3::core::RelaySasl& request) override;
    [[nodiscard]] std::optional<MailIds> serve_here() const override { return std::nullopt; }

    // Sends the hand-over after a verified login (the login process's last
    // message), with the client connection's descriptors for a plain one.
    // True once the monitor has taken the session over; false if it did not
    // (then the client is still this process's to answer).
    bool hand_off(const pop3::core::privsep::Handoff& handoff,
                  std::initializer_list<int> fds) override;

    [[nodiscard]] bool broken() const override { return broken_; }

    // Behind a balancer: tells the monitor (and through it the auth
    // process) who the client is; the access level it answers, or nullopt
    // when the channel failed.
    [[nodiscard]] std::optional<unsigned> announce_origin(const std::string& address);

private:
    std::optional<pop3::core::privsep::Answer>
    ask(const pop3::core::privsep::Request& request);

    PrivsepChannel& channel_;
    const Log& log_;
    bool broken_ = false;
};

} // namespace pop3::shell
