// Theory of operation
// -------------------
// A POP3 session is one fold over inputs: step(state, input) -> (state,
// responses, effects). Inputs are client lines (already framed) and events,
// which are the shell's reports on the effects it ran. Because the shell runs
// the effects of one step before it reads the next line, every event arrives
// in the state that asked for it; any other event is ignored.
//
//   Idle --Connected--> Authorization --PASS/APOP--> Authenticating
//   Authenticating --AuthResult accepted--> (OpenMailbox) --MailboxOpened-->
//   Transaction --QUIT--> Updating --Updated--> Closed
//
// Rejections return to Authorization with one more failure; at the limit the
// session closes. Timeout and Hangup go straight to Closed and never produce
// an Update, so a dropped connection deletes nothing (RFC 1939 section 6).
// The mailbox view is moved through each step, never copied.
#include <algorithm>
#include <string>
#include <utility>

#include "pop3/core/command.hpp"
#include "pop3/core/session.hpp"

namespace pop3::core {
namespace {

template <class... Ts> struct Overloaded : Ts... { using Ts::operator()...; };
template <class... Ts> Overloaded(Ts...) -> Overloaded<Ts...>;

Step stay(SessionState state) { return Step{std::move(state), {}, {}}; }

Step respond(SessionState state, Response response) {
    Step s{std::move(state), {}, {}};
    s.responses.push_back(std::move(response));
    return s;
}

Step close_with(Response response) {
    Step s{Closed{}, {}, {}};
    s.responses.push_back(std::move(response));
    s.effects.emplace_back(Close{});
    return s;
}

std::string plural(std::uint64_t n, std::string_view noun) {
    return std::to_string(n) + " " + std::string(noun) + (n == 1 ? "" : "s");
}

std::string maildrop_summary(const MailboxView& box) {
    return plural(box.visible_count(), "message") + " (" +
           plural(box.visible_octets(), "octet") + ")";
}

// A malformed, unknown or misplaced command: -ERR, and past the limit the
// session ends (so abusive clients cannot loop forever).
template <class S>
Step bad_command(S state, Response refusal, const Config& config) {
    ++state.bad_commands;
    if (state.bad_commands >= config.max_bad_commands) {
        refusal.text += "; too many bad commands, closing";
        return close_with(std::move(refusal));
    }
    return respond(std::move(state), std::move(refusal));
}

template <class S>
Step bad_command(S state, std::string text, const Config& config) {
    return bad_command(std::move(state), err(std::move(text)), config);
}

// A failed login attempt (RFC 1939 section 7, RFC 5034 section 4): back to
// AUTHORIZATION with one more failure; at the limit the session closes.
Step login_failed(Authorization back, Response refusal, const Config& config) {
    back.bad_commands = 0;
    back.user.reset();
    if (++back.auth_failures >= config.max_auth_failures) {
        refusal.text += "; too many failures, closing";
        return close_with(std::move(refusal));
    }
    return respond(std::move(back), std::move(refusal));
}

Response bad_credentials() {
    return err("invalid user name or password", RespCode::auth);
}

// Turns what a SASL machine wants next into responses, effects and state.
Step sasl_outcome(Authorization previous, SaslStep next, const Config& config) {
    auto mech = next.state.mechanism;
    auto method = "AUTH " + std::string(mechanism_name(mech));
    return std::visit(
        Overloaded{
            [&](SaslChallenge& c) -> Step {
                return respond(SaslAuthenticating{std::move(previous), std::move(next.state)},
                               continuation(base64_encode(c.raw)));
            },
            [&](SaslFailure& f) -> Step {
                return login_failed(std::move(previous),
                                    f.credentials ? bad_credentials() : err(f.reason),
                                    config);
            },
            [&](SaslVerifyPassword& v) -> Step {
                const bool tls = previous.tls;
                Step s{Authenticating{std::move(previous), v.user, false}, {}, {}};
                s.effects.emplace_back(
                    VerifyPassword{v.user, std::move(v.password), method, tls});
                return s;
            },
            [&](SaslVerifyCram& v) -> Step {
                Step s{Authenticating{std::move(previous), v.user, false}, {}, {}};
                s.effects.emplace_back(VerifyCram{v.user, std::move(v.challenge),
                                                  std::move(v.digest_hex)});
                return s;
            },
            [&](SaslNeedScramCredentials& n) -> Step {
                Step s{SaslAuthenticating{std::move(previous), std::move(next.state)}, {}, {}};
                s.effects.emplace_back(FetchScramCredentials{mech, std::move(n.user)});
                return s;
            },
            [&](SaslVerifyScram& v) -> Step {
                auto credentials = next.state.credentials;
                Step s{SaslAuthenticating{std::move(previous), std::move(next.state)}, {}, {}};
                s.effects.emplace_back(VerifyScram{mech, std::move(credentials),
                                                   std::move(v.auth_message),
                                                   std::move(v.proof)});
                return s;
            },
            [&](SaslRelay& r) -> Step {
                const bool tls = previous.tls;
                Step s{SaslAuthenticating{std::move(previous), std::move(next.state)}, {}, {}};
                s.effects.emplace_back(RelaySasl{mech, std::move(r.response), r.first, tls});
                return s;
            },
            [&](SaslSucceeded&) -> Step {
                auto user = next.state.credentials.user.empty()
                                ? next.state.user
                                : next.state.credentials.user;
                Step s{Authenticating{std::move(previous), user, true}, {}, {}};
                s.effects.emplace_back(OpenMailbox{std::move(user)});
                return s;
            },
        },
        next.action);
}

// The mechanisms a client may use now (RFC 5034 SASL capability).
std::vector<std::string> mechanisms(bool tls, const Config& config) {
    std::vector<std::string> out;
    if (!login_allowed(tls, config)) return out;
    for (auto m : config.sasl)
        if (!sends_password(m) || plaintext_allowed(tls, config))
            out.emplace_back(mechanism_name(m));
    return out;
}

// The CAPA list (RFC 2449 section 5) from the two facts it depends on, so
// that a TRANSACTION state is not copied (with its MailboxView) to ask.
Response capability_list(bool tls, bool before_login, const Config& config) {
    Response r = ok("capability list follows");
    r.multiline = true;
    r.body.emplace_back("TOP");
    if (plaintext_allowed(tls, config)) r.body.emplace_back("USER");
    r.body.emplace_back("UIDL");
    r.body.emplace_back("RESP-CODES");
    r.body.emplace_back("AUTH-RESP-CODE");
    r.body.emplace_back("PIPELINING");
    r.body.push_back("EXPIRE " + config.expire);
    r.body.push_back("LOGIN-DELAY " + std::to_string(config.login_delay));
    if (before_login && config.tls_available && !tls) r.body.emplace_back("STLS");
    auto offered = mechanisms(tls, config);
    if (!offered.empty()) {
        std::string sasl = "SASL";
        for (const auto& m : offered) sasl += " " + m;
        r.body.push_back(std::move(sasl));
    }
    r.body.push_back("IMPLEMENTATION " + config.implementation);
    return r;
}

// Any successful command resets the consecutive-bad-command count.
template <class S> Step good(S state, Response response) {
    state.bad_commands = 0;
    return respond(std::move(state), std::move(response));
}

// RFC 1939 section 3: on the autologout timer the server closes "without
// removing any messages or sending any response to the client".
Step timeout() {
    Step s{Closed{}, {}, {}};
    s.effects.emplace_back(Close{});
    return s;
}

// Resolves a message number against the view: the index, or the -ERR text.
tl::expected<std::size_t, std::string> locate(const MailboxView& box,
                                              MessageNumber msg) {
    if (msg == 0 || msg > box.size())
        return tl::unexpected("no message " + std::to_string(msg) +
                              "; the mailbox has " + plural(box.size(), "message"));
    std::size_t index = msg - 1;
    switch (box.fate(index)) {
    case Fate::present: return index;
    case Fate::deleted:
        return tl::unexpected("message " + std::to_string(msg) +
                              " is deleted");
    case Fate::vanished:
        return tl::unexpected("message " + std::to_string(msg) +
                              " is deleted (removed by another client)");
    }
    return tl::unexpected(std::string("unreachable"));
}

// --- AUTHORIZATION ---------------------------------------------------------
// RFC 3206 [AUTH]: the site refuses every login before TLS (--tls-required).
Response tls_required_error() {
    return err("this server requires TLS for every login; use STLS first", RespCode::auth);
}

Step on_command(Authorization state, const Command& command,
                const Config& config) {
    return std::visit(
        Overloaded{
            [&](const User& c) -> Step {
                if (!login_allowed(state.tls, config))
                    return bad_command(std::move(state), tls_required_error(), config);
                if (!plaintext_allowed(state.tls, config))
                    return bad_command(std::move(state),
                                       err("plaintext login is refused before "
                                           "TLS; use STLS first",
                                           RespCode::auth),
                                       config);
                state.user = c.name;
                return good(std::move(state),
                            ok("send PASS for " + c.name));
            },
            [&](const Pass& c) -> Step {
                if (!state.user)
                    return bad_command(std::move(state),
                                       "send USER before PASS", config);
                auto user = *state.user;
                state.user.reset();
                Step s{Authenticating{state, user, false}, {}, {}};
                s.effects.emplace_back(VerifyPassword{user, c.secret, "USER/PASS", state.tls});
                return s;
            },
            [&](const Apop& c) -> Step {
                if (!state.apop_banner)
                    return bad_command(std::move(state),
                                       "APOP is not available on this server",
                                       config);
                if (!login_allowed(state.tls, config))
                    return bad_command(std::move(state), tls_required_error(), config);
                state.user.reset();
                Step s{Authenticating{state, c.name, false}, {}, {}};
                s.effects.emplace_back(VerifyApop{c.name, c.digest, state.tls});
                return s;
            },
            [&](const Quit&) -> Step {
                return close_with(ok("pop3d signing off"));
            },
            [&](const Capa&) -> Step {
                auto caps = capability_list(state.tls, true, config);
                return good(std::move(state), std::move(caps));
            },
            [&](const Stls&) -> Step {
                if (!config.tls_available)
                    return bad_command(std::move(state),
                                       "STLS is not available: no TLS "
                                       "certificate is configured",
                                       config);
                if (state.tls)
                    return bad_command(std::move(state),
                                       "TLS is already active", config);
                state.bad_commands = 0;
                state.user.reset();
                Step s{StartingTls{std::move(state)}, {}, {}};
                s.responses.push_back(ok("begin TLS negotiation"));
                s.effects.emplace_back(StartTls{});
                return s;
            },
            [&](const Auth& c) -> Step {
                if (!c.mechanism) { // RFC 1734 style listing
                    Response list = ok("SASL mechanisms follow");
                    list.multiline = true;
                    list.body = mechanisms(state.tls, config);
                    return good(std::move(state), std::move(list));
                }
                if (!login_allowed(state.tls, config))
                    return bad_command(std::move(state), tls_required_error(), config);
                auto mech = mechanism_from_name(*c.mechanism);
                if (mech && std::find(config.sasl.begin(), config.sasl.end(),
                                      *mech) == config.sasl.end())
                    mech.reset();
                if (!mech)
                    return bad_command(std::move(state),
                                       "unsupported SASL mechanism; AUTH "
                                       "alone lists the available ones",
                                       config);
                if (sends_password(*mech) && !plaintext_allowed(state.tls, config))
                    return bad_command(std::move(state),
                                       err(std::string(mechanism_name(*mech)) +
                                               " is refused before TLS; use "
                                               "STLS first",
                                           RespCode::auth),
                                       config);
                std::optional<std::string> initial;
                if (c.initial) {
                    if (*c.initial == "=") {
                        initial = std::string();
                    } else {
                        initial = base64_decode(*c.initial);
                        if (!initial)
                            return login_failed(std::move(state),
                                                err("malformed base64 in the "
                                                    "initial response"),
                                                config);
                    }
                }
                state.bad_commands = 0;
                state.user.reset();
                auto nonce = state.seed + "." + std::to_string(++state.sasl_attempts);
                if (config.sasl_relay && !sends_password(*mech))
                    return sasl_outcome(std::move(state), sasl_start_relayed(*mech, initial),
                                        config);
                return sasl_outcome(std::move(state),
                                    sasl_start(*mech, initial, std::move(nonce)),
                                    config);
            },
            [&](const auto&) -> Step {
                return bad_command(std::move(state),
                                   std::string(keyword(command)) +
                                       " is only valid after login "
                                       "(TRANSACTION state); log in with "
                                       "USER and PASS first",
                                   config);
            },
        },
        command);
}

Step on_event(Authenticating state, const Event& event, const Config& config) {
    return std::visit(
        Overloaded{
            [&](const AuthResult& r) -> Step {
                if (state.verified) return stay(std::move(state));
                switch (r.outcome) {
                case AuthResult::Outcome::accepted: {
                    state.verified = true;
                    state.user = r.user.empty() ? state.user : r.user;
                    auto user = state.user;
                    Step s{std::move(state), {}, {}};
                    s.effects.emplace_back(OpenMailbox{std::move(user)});
                    return s;
                }
                case AuthResult::Outcome::rejected:
                    return login_failed(std::move(state.previous),
                                        bad_credentials(), config);
                case AuthResult::Outcome::unavailable:
                    return respond(std::move(state.previous),
                                   err("authentication is temporarily "
                                       "unavailable; try again later",
                                       RespCode::sys_temp));
                }
                return stay(std::move(state));
            },
            [&](const MailboxOpened& m) -> Step {
                if (!state.verified) return stay(std::move(state));
                MailboxView view(m.snapshot);
                auto summary = maildrop_summary(view);
                return respond(Transaction{state.user, std::move(view), 0,
                                           state.previous.tls},
                               ok(state.user + " has " + summary));
            },
            [&](const MailboxFailed& f) -> Step {
                if (!state.verified) return stay(std::move(state));
                return respond(std::move(state.previous),
                               err(f.reason, f.code));
            },
            [&](const Timeout&) -> Step { return timeout(); },
            [&](const Hangup&) -> Step { return stay(Closed{}); },
            [&](const auto&) -> Step { return stay(std::move(state)); },
        },
        event);
}

// --- TRANSACTION -----------------------------------------------------------
// LIST n and UIDL n: the scan line that a listing would hold for n.
std::string listing_line(const MailboxView& box, std::size_t index, bool uidl) {
    std::string line;
    append_scan_line(line, index, uidl, box.info(index));
    return line;
}

Response listing(const MailboxView& box, bool uidl) {
    Response r = ok(uidl ? "unique-id listing follows"
                         : maildrop_summary(box));
    r.multiline = true;
    // The lines are rendered from the view as they are sent (response.hpp).
    r.listing = ScanListing{uidl, box};
    return r;
}

// LIST [msg] and UIDL [msg]: the same command shape with another column.
template <class Scan>
Step scan_listing(Transaction state, const Scan& c, bool uidl) {
    const auto& box = state.mailbox;
    // Each response is built before `state` is moved: argument evaluation
    // order is unspecified (clang moves first; found by fuzz_session).
    if (!c.msg) {
        auto r = listing(box, uidl);
        return good(std::move(state), std::move(r));
    }
    auto index = locate(box, *c.msg);
    if (!index) { // a missing message is refused, not a bad command
        auto r = err(index.error());
        return respond(std::move(state), std::move(r));
    }
    auto r = ok(listing_line(box, *index, uidl));
    return good(std::move(state), std::move(r));
}

Step on_command(Transaction state, const Command& command,
                const Config& config) {
    auto& box = state.mailbox;
    auto fail = [&](std::string text) {
        return bad_command(std::move(state), std::move(text), config);
    };
    // A well-formed command about a message that is not there (never was,
    // deleted, or expunged by another client) is refused but is not a bad
    // command: a client fetching messages expunged under it must not be
    // cut off by the bad-command limit.
    auto refuse = [&](std::string text) {
        return respond(std::move(state), err(std::move(text)));
    };
    return std::visit(
        Overloaded{
            [&](const Stat&) -> Step {
                // Built before `state` is moved: argument evaluation order
                // is unspecified (clang moves first; found by fuzz_session).
                auto r = ok(std::to_string(box.visible_count()) + ' ' +
                            std::to_string(box.visible_octets()));
                return good(std::move(state), std::move(r));
            },
            [&](const List& c) -> Step {
                return scan_listing(std::move(state), c, false);
            },
            [&](const Uidl& c) -> Step {
                return scan_listing(std::move(state), c, true);
            },
            [&](const Retr& c) -> Step {
                auto index = locate(box, c.msg);
                if (!index) return refuse(index.error());
                auto size = box.info(*index).size;
                state.bad_commands = 0;
                Step s{std::move(state), {}, {}};
                s.effects.emplace_back(SendMessage{
                    *index, size, std::nullopt, config.mark_seen,
                    ok(plural(size, "octet"))});
                return s;
            },
            [&](const Top& c) -> Step {
                auto index = locate(box, c.msg);
                if (!index) return refuse(index.error());
                auto size = box.info(*index).size;
                state.bad_commands = 0;
                Step s{std::move(state), {}, {}};
                s.effects.emplace_back(SendMessage{
                    *index, size, c.lines, false,
                    ok("top of message " + std::to_string(c.msg) +
                       " follows")});
                return s;
            },
            [&](const Dele& c) -> Step {
                auto index = locate(box, c.msg);
                if (!index) return refuse(index.error());
                box.mark_deleted(*index);
                return good(std::move(state),
                            ok("message " + std::to_string(c.msg) +
                               " deleted"));
            },
            [&](const Rset&) -> Step {
                box.reset();
                auto summary = "maildrop has " + maildrop_summary(box);
                return good(std::move(state), ok(std::move(summary)));
            },
            [&](const Noop&) -> Step { return good(std::move(state), ok("")); },
            [&](const Quit&) -> Step {
                Step s{Updating{}, {}, {}};
                s.effects.emplace_back(Update{box.deleted_indices()});
                return s;
            },
            [&](const Capa&) -> Step {
                auto caps = capability_list(state.tls, false, config);
                return good(std::move(state), std::move(caps));
            },
            [&](const Stls&) -> Step {
                return fail("STLS is only valid before login (RFC 2595)");
            },
            [&](const auto&) -> Step {
                return fail(std::string(keyword(command)) +
                            " is only valid before login; already logged in");
            },
        },
        command);
}

Step on_event(Transaction state, const Event& event, const Config&) {
    auto& box = state.mailbox;
    return std::visit(
        Overloaded{
            [&](const MessagesVanished& v) -> Step {
                for (auto index : v.indices)
                    if (index < box.size()) box.mark_vanished(index);
                return stay(std::move(state));
            },
            [&](const MessageGone& g) -> Step {
                if (g.index >= box.size()) return stay(std::move(state));
                auto msg = std::to_string(g.index + 1);
                if (g.vanished) {
                    box.mark_vanished(g.index);
                    return respond(std::move(state),
                                   err("message " + msg + " is deleted "
                                       "(removed by another client)"));
                }
                return respond(std::move(state),
                               err("message " + msg + " cannot be read now; "
                                   "try again later",
                                   RespCode::sys_temp));
            },
            [&](const Timeout&) -> Step { return timeout(); },
            [&](const Hangup&) -> Step { return stay(Closed{}); },
            [&](const auto&) -> Step { return stay(std::move(state)); },
        },
        event);
}

// --- UPDATE ----------------------------------------------------------------
Step on_event(Updating state, const Event& event, const Config&) {
    if (const auto* u = std::get_if<Updated>(&event)) {
        auto gone = u->removed + u->already_gone;
        if (u->failed > 0)
            return close_with(
                err("some deleted messages not removed (" +
                        std::to_string(u->failed) + " of " +
                        std::to_string(gone + u->failed) + " failed)",
                    RespCode::sys_temp));
        return close_with(ok("pop3d signing off (" +
                             plural(gone, "message") + " deleted)"));
    }
    if (std::holds_alternative<Hangup>(event)) return stay(Closed{});
    return stay(std::move(state));
}

// --- SASL exchange (RFC 5034 section 4) ------------------------------------
Step on_input(SaslAuthenticating state, const Input& input, const Config& config) {
    if (std::holds_alternative<OverlongLine>(input))
        return login_failed(std::move(state.previous),
                            err("SASL response too long"), config);
    if (const auto* line = std::get_if<FramedLine>(&input)) {
        // A cancel counts as a failed attempt, so that repeated AUTH + "*"
        // cannot probe names (e.g. by timing) without limit.
        if (line->text == "*")
            return login_failed(std::move(state.previous),
                                err("authentication cancelled"), config);
        auto decoded = base64_decode(line->text);
        if (!decoded)
            return login_failed(std::move(state.previous),
                                err("malformed base64 in the SASL response"),
                                config);
        return sasl_outcome(std::move(state.previous),
                            sasl_respond(std::move(state.sasl), *decoded), config);
    }
    const auto& event = std::get<Event>(input);
    if (state.sasl.stage == SaslState::Stage::relayed) {
        if (const auto* c = std::get_if<SaslRelayChallenge>(&event))
            return respond(std::move(state), continuation(base64_encode(c->raw)));
        if (std::holds_alternative<AuthResult>(event)) // the backend's verdict
            return on_event(Authenticating{std::move(state.previous), {}, false}, event, config);
    }
    if (const auto* c = std::get_if<ScramCredentialsFound>(&event))
        return sasl_outcome(std::move(state.previous),
                            sasl_credentials(std::move(state.sasl), c->credentials),
                            config);
    if (const auto* v = std::get_if<ScramVerdict>(&event))
        return sasl_outcome(std::move(state.previous),
                            sasl_verdict(std::move(state.sasl), v->proof_ok,
                                         v->server_signature),
                            config);
    if (std::holds_alternative<Timeout>(event)) return timeout();
    if (std::holds_alternative<Hangup>(event)) return stay(Closed{});
    return stay(std::move(state));
}

// --- STLS handshake (RFC 2595 section 4) -------------------------------------
Step on_input(StartingTls state, const Input& input, const Config&) {
    const auto* event = std::get_if<Event>(&input);
    if (!event) return stay(std::move(state)); // input was discarded
    if (std::holds_alternative<TlsStarted>(*event)) {
        auto next = std::move(state.previous);
        next.tls = true;
        next.user.reset();
        return stay(std::move(next));
    }
    if (std::holds_alternative<TlsFailed>(*event) ||
        std::holds_alternative<Timeout>(*event)) {
        Step s{Closed{}, {}, {}};
        s.effects.emplace_back(Close{});
        return s;
    }
    if (std::holds_alternative<Hangup>(*event)) return stay(Closed{});
    return stay(std::move(state));
}

// Lines arriving in states that do not take commands (the shell never sends
// them there, but the core must stay total).
Step busy(SessionState state) {
    return respond(std::move(state), err("busy; command ignored"));
}

template <class S>
Step on_line(S state, const Input& input, const Config& config) {
    if (const auto* over = std::get_if<OverlongLine>(&input)) {
        (void)over;
        return bad_command(std::move(state),
                           "command line too long; at most 255 octets "
                           "including CRLF",
                           config);
    }
    auto command = parse_command(std::get<FramedLine>(input).text);
    if (!command) return bad_command(std::move(state), command.error().message,
                                     config);
    return on_command(std::move(state), *command, config);
}

} // namespace

Step step(SessionState state, const Input& input, const Config& config) {
    const auto* event = std::get_if<Event>(&input);
    return std::visit(
        Overloaded{
            [&](Idle& s) -> Step {
                const Connected* c = event ? std::get_if<Connected>(event)
                                           : nullptr;
                if (!c) return stay(std::move(s));
                Authorization next;
                next.apop_banner = config.apop && !c->apop_banner.empty();
                next.tls = c->tls;
                next.seed = c->seed;
                // RFC 1939 section 7 only asks for the stamp "in its banner
                // greeting". With APOP the stamp is the whole text: BusyBox
                // popmaildir looks for it only right after "+OK ", curl only
                // at the end of the line (its examples put it last).
                std::string text = next.apop_banner ? c->apop_banner
                                                    : std::string("POP3 server ready");
                return respond(std::move(next), ok(std::move(text)));
            },
            [&](Authorization& s) -> Step {
                if (!event) return on_line(std::move(s), input, config);
                if (std::holds_alternative<Timeout>(*event)) return timeout();
                if (std::holds_alternative<Hangup>(*event)) return stay(Closed{});
                return stay(std::move(s));
            },
            [&](Authenticating& s) -> Step {
                if (!event) return busy(std::move(s));
                return on_event(std::move(s), *event, config);
            },
            [&](Transaction& s) -> Step {
                if (!event) return on_line(std::move(s), input, config);
                return on_event(std::move(s), *event, config);
            },
            [&](Updating& s) -> Step {
                if (!event) return busy(std::move(s));
                return on_event(std::move(s), *event, config);
            },
            [&](Closed& s) -> Step { return stay(std::move(s)); },
            [&](SaslAuthenticating& s) -> Step {
                return on_input(std::move(s), input, config);
            },
            [&](StartingTls& s) -> Step {
                return on_input(std::move(s), input, config);
            },
        },
        state);
}

std::size_t line_limit(const SessionState& state) {
    return std::holds_alternative<SaslAuthenticating>(state) ? k_max_sasl_line
                                                             : k_max_command_line;
}

bool login_allowed(bool tls, const Config& config) {
    return tls || !config.tls_required;
}

bool plaintext_allowed(bool tls, const Config& config) {
    if (!login_allowed(tls, config)) return false;
    return tls || config.allow_plaintext || !config.tls_available;
}

std::string_view state_name(const SessionState& state) {
    static constexpr std::string_view names[] = {
        "IDLE",   "AUTHORIZATION", "AUTHORIZATION", "TRANSACTION",
        "UPDATE", "CLOSED",        "AUTHORIZATION", "AUTHORIZATION"};
    static_assert(std::size(names) == std::variant_size_v<SessionState>);
    return names[state.index()];
}

Response capabilities(const SessionState& state, const Config& config) {
    bool tls = false;
    bool before_login = true;
    std::visit(Overloaded{
                   [&](const Authorization& a) { tls = a.tls; },
                   [&](const Authenticating& a) { tls = a.previous.tls; },
                   [&](const SaslAuthenticating& a) { tls = a.previous.tls; },
                   [&](const StartingTls& a) { tls = a.previous.tls; },
                   [&](const Transaction& t) { tls = t.tls; before_login = false; },
                   [&](const auto&) {},
               },
               state);
    return capability_list(tls, before_login, config);
}

} // namespace pop3::core
