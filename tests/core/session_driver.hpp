// Drives the pure core like a shell would, recording wire output and effects.
#pragma once
#include <sstream>
#include <string>
#include <vector>

#include "pop3/core/session.hpp"

namespace pop3::test {

struct SessionDriver {
    core::Config config;
    core::SessionState state = core::Idle{};
    std::vector<core::Effect> effects; // from the last input

    std::string input(const core::Input& in) {
        auto s = core::step(std::move(state), in, config);
        state = std::move(s.state);
        effects = std::move(s.effects);
        std::string wire;
        for (const auto& r : s.responses) core::render_to(r, wire);
        return wire;
    }
    std::string line(std::string text) {
        return input(core::FramedLine{std::move(text)});
    }
    std::string event(core::Event e) { return input(core::Input{std::move(e)}); }

    // Greets, logs in as `user` and opens a mailbox of the given sizes, with
    // UIDLs "u1", "u2", ...
    std::string login(const std::vector<std::uint64_t>& sizes,
                      std::string user = "alice@example.org") {
        event(core::Connected{"<1.2@host>"});
        line("USER " + user);
        line("PASS secret");
        event(core::AuthResult{core::AuthResult::Outcome::accepted, user});
        std::vector<core::MessageInfo> infos;
        for (std::size_t i = 0; i < sizes.size(); ++i)
            infos.push_back({sizes[i], "u" + std::to_string(i + 1)});
        return event(core::MailboxOpened{core::make_snapshot(infos)});
    }
    bool closed() const { return std::holds_alternative<core::Closed>(state); }
};

} // namespace pop3::test
