// The shell's side of --scenario: file loading and the actions (see
// scenario_player.hpp). Maildir changes are made as another mail client
// would make them, behind the session's back; the session learns of them
// the way it learns of any other client's (Maildir::refresh, open_message).
#include "scenario_player.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include "pop3/core/limits.hpp"

namespace pop3::shell {

namespace core = pop3::core;

tl::expected<core::Scenario, std::string> load_scenario(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return tl::unexpected(file + ": cannot read: " + std::strerror(errno));
    std::string text;
    // One octet past the limit is enough for the parser to name the line.
    text.resize(core::k_max_scenario_bytes + 2);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    if (in.bad()) return tl::unexpected(file + ": read error");
    text.resize(static_cast<std::size_t>(in.gcount()));
    auto scenario = core::parse_scenario(text);
    if (!scenario)
        return tl::unexpected(file + ":" + std::to_string(scenario.error().line) + ": " +
                              scenario.error().message);
    return std::move(*scenario);
}

void ScenarioPlayer::attach(Maildir* mailbox, UniqueFd inbox) {
    mailbox_ = mailbox;
    inbox_ = std::move(inbox);
    progress_ = {};
    commands_ = 0;
}

void ScenarioPlayer::connect() { run({core::ScenarioMoment::Kind::connect, 0, ""}); }

void ScenarioPlayer::before(std::string_view line, bool logged_in) {
    if (logged_in) ++commands_;
    run({core::ScenarioMoment::Kind::before, logged_in ? commands_ : 0, line});
}

void ScenarioPlayer::after(std::string_view line) {
    run({core::ScenarioMoment::Kind::after, mailbox_ ? commands_ : 0, line});
}

void ScenarioPlayer::run(const core::ScenarioMoment& moment) {
    auto firing = core::fire(scenario_, std::move(progress_), moment);
    progress_ = std::move(firing.progress);
    for (const auto& rule : firing.rules) act(rule);
}

void ScenarioPlayer::act(const core::ScenarioRule& rule) {
    std::string done = std::visit(
        [this](const auto& a) -> std::string {
            using T = std::decay_t<decltype(a)>;
            if constexpr (std::is_same_v<T, core::ScenarioExpunge>) {
                return expunge(a.message);
            } else if constexpr (std::is_same_v<T, core::ScenarioRename>) {
                return rename(a.message);
            } else if constexpr (std::is_same_v<T, core::ScenarioDeliver>) {
                return deliver();
            } else if constexpr (std::is_same_v<T, core::ScenarioRefuse>) {
                refusal_ = a;
                return "the next command is refused";
            } else if constexpr (std::is_same_v<T, core::ScenarioCut>) {
                cut_ = a.octets;
                return "the next RETR or TOP is cut";
            } else if constexpr (std::is_same_v<T, core::ScenarioDelay>) {
                delay_ms_ = a.milliseconds;
                return "replies are delayed";
            } else {
                close_ = true;
                return "closing the connection";
            }
        },
        rule.action);
    log_.line("scenario line " + std::to_string(rule.line) + " (" + core::render(rule) +
              "): " + done);
}

tl::expected<std::string, std::string> ScenarioPlayer::name_of(std::uint64_t message) const {
    if (!mailbox_ || message == 0 || message > mailbox_->size())
        return tl::unexpected("no message " + std::to_string(message) +
                              " in this session's listing; nothing done");
    const std::string known(mailbox_->path_of(static_cast<std::size_t>(message - 1)));
    if (known.empty())
        return tl::unexpected("message " + std::to_string(message) +
                              " is already gone; nothing done");
    // The session may not have seen a rename yet (ours included): where
    // the name it knows is gone, look for the base name, as it would.
    if (::faccessat(inbox_.get(), known.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) == 0) return known;
    const std::string base = known.substr(4, known.find(':') == std::string::npos
                                                 ? std::string::npos
                                                 : known.find(':') - 4);
    for (const char* sub : {"cur", "new"}) {
        UniqueFd dir_fd{::openat(inbox_.get(), sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
        if (!dir_fd) continue;
        DIR* dir = ::fdopendir(dir_fd.get());
        if (dir == nullptr) continue;
        (void)dir_fd.release(); // closedir closes it
        std::optional<std::string> found;
        while (const dirent* entry = ::readdir(dir)) {
            const std::string_view name = entry->d_name;
            if (name.substr(0, base.size()) == base &&
                (name.size() == base.size() || name[base.size()] == ':'))
                found = std::string(sub) + "/" + std::string(name);
        }
        ::closedir(dir);
        if (found) return *found;
    }
    return tl::unexpected("message " + std::to_string(message) + " (" + known +
                          ") is no longer in the Maildir; nothing done");
}

std::string ScenarioPlayer::expunge(std::uint64_t message) {
    auto rel = name_of(message);
    if (!rel) return rel.error();
    if (::unlinkat(inbox_.get(), rel->c_str(), 0) != 0)
        return "cannot unlink " + *rel + ": " + std::strerror(errno);
    return "unlinked " + *rel;
}

// An IMAP server's renames: taking a new message into cur/ (without
// flags), or a flag change: \Answered (R) set, or cleared when set.
std::string ScenarioPlayer::rename(std::uint64_t message) {
    auto rel = name_of(message);
    if (!rel) return rel.error();
    std::string to;
    if (rel->rfind("new/", 0) == 0) {
        to = "cur/" + rel->substr(4);
        if (to.find(":2,") == std::string::npos) to += ":2,";
    } else {
        to = *rel;
        auto info = to.find(":2,");
        if (info == std::string::npos) {
            to += ":2,R";
        } else {
            std::string flags = to.substr(info + 3);
            auto r = flags.find('R');
            if (r == std::string::npos) flags += 'R';
            else flags.erase(r, 1);
            std::sort(flags.begin(), flags.end());
            to.replace(info + 3, std::string::npos, flags);
        }
    }
    if (::renameat(inbox_.get(), rel->c_str(), inbox_.get(), to.c_str()) != 0)
        return "cannot rename " + *rel + ": " + std::strerror(errno);
    return "renamed " + *rel + " to " + to;
}

// The Maildir way of delivery: written in tmp/, then renamed into new/.
std::string ScenarioPlayer::deliver() {
    if (!inbox_) return "no INBOX directory; nothing delivered";
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
    const std::string base = std::to_string(usec / 1'000'000) + ".M" +
                             std::to_string(usec % 1'000'000) + "P" +
                             std::to_string(::getpid()) + "Q" + std::to_string(++delivered_) +
                             ".pop3d-scenario";
    const std::string text = "From: pop3d scenario <scenario@localhost>\r\n"
                             "Subject: delivered during the session by --scenario\r\n"
                             "\r\n"
                             "This session must not list this message.\r\n";
    const std::string tmp = "tmp/" + base, dest = "new/" + base;
    UniqueFd fd{::openat(inbox_.get(), tmp.c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
    if (!fd) return "cannot create " + tmp + ": " + std::strerror(errno);
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
        ::fsync(fd.get()) != 0) {
        const std::string why = std::strerror(errno);
        ::unlinkat(inbox_.get(), tmp.c_str(), 0);
        return "cannot write " + tmp + ": " + why;
    }
    if (::renameat(inbox_.get(), tmp.c_str(), inbox_.get(), dest.c_str()) != 0)
        return "cannot rename " + tmp + " into new/: " + std::strerror(errno);
    return "delivered " + dest;
}

} // namespace pop3::shell
