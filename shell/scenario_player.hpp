// pop3d --scenario FILE (docs/clients.md): loads the file, and carries out
// the rules the core says fire: Maildir changes made the way an IMAP server
// makes them, and the refusals, cuts, delays and closes the session runner
// asks for. For test stores only, never production.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <tl/expected.hpp>

#include "log.hpp"
#include "maildir.hpp"
#include "pop3/core/scenario.hpp"
#include "unique_fd.hpp"

namespace pop3::shell {

// Reads and parses FILE; the error reads "FILE:LINE: what was wrong" (or
// "FILE: ..." when it cannot be read) for a message and exit status 2.
[[nodiscard]] tl::expected<pop3::core::Scenario, std::string>
load_scenario(const std::string& file);

class ScenarioPlayer {
public:
    ScenarioPlayer(const pop3::core::Scenario& scenario, const Log& log)
        : scenario_(scenario), log_(log) {}

    // At login: the mailbox the actions work on (`inbox` the INBOX
    // directory, invalid for an empty mailbox) and, as in the mail process,
    // every rule may fire once more; commands are counted from 1 again.
    void attach(Maildir* mailbox, UniqueFd inbox);

    // The client's command line arrives (`line`), before it is carried out:
    // counts it when `logged_in`, fires the rules. Then `after` once it is
    // answered. `connect` before the greeting.
    void connect();
    void before(std::string_view line, bool logged_in);
    void after(std::string_view line);

    // What the rules fired so far ask the session runner to do.
    [[nodiscard]] std::optional<pop3::core::ScenarioRefuse> take_refusal() {
        return std::exchange(refusal_, std::nullopt);
    }
    [[nodiscard]] std::optional<std::uint64_t> take_cut() {
        return std::exchange(cut_, std::nullopt);
    }
    [[nodiscard]] std::uint32_t delay_ms() const { return delay_ms_; }
    [[nodiscard]] bool close_requested() const { return close_; }

private:
    void run(const pop3::core::ScenarioMoment& moment);
    void act(const pop3::core::ScenarioRule& rule);
    // The Maildir actions; each returns what it did, for the log.
    [[nodiscard]] std::string expunge(std::uint64_t message);
    [[nodiscard]] std::string rename(std::uint64_t message);
    [[nodiscard]] std::string deliver();
    // The message's current name ("cur/X:2,S"), or why there is none.
    [[nodiscard]] tl::expected<std::string, std::string> name_of(std::uint64_t message) const;

    const pop3::core::Scenario& scenario_;
    const Log& log_;
    pop3::core::ScenarioProgress progress_;
    std::uint64_t commands_ = 0; // since login
    Maildir* mailbox_ = nullptr;
    UniqueFd inbox_;
    std::uint64_t delivered_ = 0;
    std::optional<pop3::core::ScenarioRefuse> refusal_;
    std::optional<std::uint64_t> cut_;
    std::uint32_t delay_ms_ = 0;
    bool close_ = false;
};

} // namespace pop3::shell
