// Requests from the login process. An answer of the wrong kind is treated
// like a lost channel: the session cannot trust anything after it.
#include "auth_client.hpp"

namespace pop3::shell {

namespace core = pop3::core;
namespace privsep = pop3::core::privsep;

std::optional<privsep::Answer> AuthClient::ask(const privsep::Request& request) {
    if (broken_) return std::nullopt;
    std::string error;
    std::optional<privsep::Answer> answer;
    if (channel_.send(request)) answer = channel_.receive_answer(&error);
    if (!answer) {
        broken_ = true;
        log_.error("login process: no answer from the auth process" +
                  (error.empty() ? std::string() : ": " + error));
    }
    return answer;
}

std::optional<privsep::Offer> AuthClient::receive_offer() {
    std::string error;
    auto answer = channel_.receive_answer(&error);
    if (answer)
        if (auto* offer = std::get_if<privsep::Offer>(&*answer)) return std::move(*offer);
    broken_ = true;
    log_.error("login process: no offer from the auth process" +
              (error.empty() ? std::string() : ": " + error));
    return std::nullopt;
}

core::AuthResult AuthClient::verify(const privsep::Request& request) {
    auto answer = ask(request);
    if (answer)
        if (auto* v = std::get_if<privsep::Verdict>(&*answer)) return v->result;
    broken_ = true;
    return {core::AuthResult::Outcome::unavailable, ""};
}

core::ScramCredentials AuthClient::scram_lookup(const core::FetchScramCredentials& request) {
    auto answer = ask(request);
    if (answer)
        if (auto* c = std::get_if<core::ScramCredentials>(&*answer)) return std::move(*c);
    broken_ = true;
    // Fails at the proof: no verdict can come from a broken channel.
    return core::ScramCredentials{std::string(request.user), "decoy", 4096, {}, {}, true};
}

core::ScramVerdict AuthClient::scram_verify(const core::VerifyScram& request) {
    auto answer = ask(privsep::ScramProof{request.mechanism, request.auth_message, request.proof});
    if (answer)
        if (auto* v = std::get_if<privsep::ScramOutcome>(&*answer)) return std::move(v->verdict);
    broken_ = true;
    return {false, {}};
}

Credentials::RelayAnswer AuthClient::relay(const core::RelaySasl& request) {
    auto answer = ask(request);
    if (answer) {
        if (auto* c = std::get_if<core::SaslRelayChallenge>(&*answer)) return std::move(*c);
        if (auto* v = std::get_if<privsep::Verdict>(&*answer)) return v->result;
    }
    broken_ = true;
    return core::AuthResult{core::AuthResult::Outcome::unavailable, ""};
}

std::optional<unsigned> AuthClient::announce_origin(const std::string& address) {
    auto answer = ask(privsep::Origin{address});
    if (answer)
        if (auto* a = std::get_if<privsep::Access>(&*answer)) return a->level;
    broken_ = true;
    return std::nullopt;
}

bool AuthClient::hand_off(const privsep::Handoff& handoff, std::initializer_list<int> fds) {
    std::optional<privsep::Answer> answer;
    if (!broken_ && channel_.send(handoff, fds)) answer = channel_.receive_answer(nullptr);
    if (!answer || !std::holds_alternative<privsep::HandoffAccepted>(*answer)) {
        broken_ = true;
        return false;
    }
    return true;
}

} // namespace pop3::shell
