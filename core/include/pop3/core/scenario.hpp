// Test scenarios (pop3d --scenario FILE, docs/clients.md): a line-based file
// of rules "TRIGGER: ACTION" that makes a session misbehave on purpose. The
// parser and the choice of the rules that fire are pure; the shell acts.
#pragma once
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <tl/expected.hpp>

#include "pop3/core/response.hpp"

namespace pop3::core {

// When a rule fires. Commands are numbered from login: the first command
// of TRANSACTION is command 1, whatever the client sent before it (CAPA,
// STLS, AUTH or USER/PASS), so that one scenario fits every client.
struct ScenarioTrigger {
    enum class Kind {
        connect,        // "at connect": before the greeting
        login,          // "at login": before PASS, APOP or AUTH is carried out
        before_command, // "before command K"
        after_command,  // "after command K": once pop3d has answered it
        before_verb,    // "before VERB [N]"
        after_verb,     // "after VERB [N]"
    };
    Kind kind = Kind::connect;
    std::string verb;                      // *_verb: upper case, e.g. "RETR"
    std::optional<std::uint64_t> argument; // *_verb: its message number, if given
    std::uint64_t command = 0;             // *_command: K >= 1
    bool operator==(const ScenarioTrigger&) const = default;
};

// What a rule does. Message numbers are the session's (its login listing).
struct ScenarioExpunge { // "expunge N": unlink its file, as an IMAP EXPUNGE
    std::uint64_t message = 0;
    bool operator==(const ScenarioExpunge&) const = default;
};
struct ScenarioRename { // "rename N": new/ -> cur/, or flag R toggled in cur/
    std::uint64_t message = 0;
    bool operator==(const ScenarioRename&) const = default;
};
struct ScenarioDeliver { // "deliver": a new message in new/ (unseen by the session)
    bool operator==(const ScenarioDeliver&) const = default;
};
struct ScenarioRefuse { // "-ERR [CODE] TEXT": the answer to the next command
    RespCode code = RespCode::none;
    std::string text;
    bool operator==(const ScenarioRefuse&) const = default;
};
struct ScenarioCut { // "cut K": the next RETR/TOP stops after K octets (half of a shorter message), then the connection closes
    std::uint64_t octets = 0;
    bool operator==(const ScenarioCut&) const = default;
};
struct ScenarioDelay { // "delay T": every later reply waits T ms (0: none)
    std::uint32_t milliseconds = 0;
    bool operator==(const ScenarioDelay&) const = default;
};
struct ScenarioClose { // "close": the connection closes now, nothing removed
    bool operator==(const ScenarioClose&) const = default;
};
using ScenarioAction = std::variant<ScenarioExpunge, ScenarioRename, ScenarioDeliver,
                                    ScenarioRefuse, ScenarioCut, ScenarioDelay,
                                    ScenarioClose>;

struct ScenarioRule {
    std::size_t line = 0; // in the file, from 1
    ScenarioTrigger trigger;
    ScenarioAction action;
    bool operator==(const ScenarioRule&) const = default;
};

struct Scenario {
    std::vector<ScenarioRule> rules; // in file order, the order they act in
    bool operator==(const Scenario&) const = default;
};

struct ScenarioError {
    std::size_t line = 0; // from 1; the line the message is about
    std::string message;
    bool operator==(const ScenarioError&) const = default;
};

// Parses a scenario file: one rule per line, blank lines and lines whose
// first non-blank character is '#' ignored, LF or CRLF line ends. Strict:
// anything else, including trailing text, is an error naming its line.
// Actions on the mailbox (expunge, rename, deliver) are refused on triggers
// that come before login (at connect, at login, USER, PASS, APOP, AUTH, STLS).
[[nodiscard]] tl::expected<Scenario, ScenarioError> parse_scenario(std::string_view text);

// The canonical text of a rule ("before RETR 2: expunge 2") and of a whole
// scenario (one rule per line, LF-terminated): parse_scenario of it gives
// the same rules, numbered from line 1.
[[nodiscard]] std::string render(const ScenarioRule& rule);
[[nodiscard]] std::string render(const Scenario& scenario);
std::ostream& operator<<(std::ostream& out, const ScenarioRule& rule);

// A point in the session at which rules may fire. `command` is the number
// of the command since login (0 before login); `line` is the client's
// command line (its verb and first argument are matched).
struct ScenarioMoment {
    enum class Kind { connect, before, after };
    Kind kind = Kind::connect;
    std::uint64_t command = 0;
    std::string_view line;
};

// Which rules have fired: each fires at most once before login and once
// after it (the shell starts afresh at login, as the mail process does).
struct ScenarioProgress {
    std::vector<bool> fired;
    bool operator==(const ScenarioProgress&) const = default;
};

struct ScenarioFiring {
    ScenarioProgress progress;
    std::vector<ScenarioRule> rules; // to carry out now, in file order
};

// The rules that match `moment` and have not fired yet, and the progress
// with them marked fired.
[[nodiscard]] ScenarioFiring fire(const Scenario& scenario, ScenarioProgress progress,
                                  const ScenarioMoment& moment);

} // namespace pop3::core
