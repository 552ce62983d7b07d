// Tests open an INBOX by its path; pop3d itself opens it component by
// component without following symlinks (become_mail_user) and hands over
// the descriptor.
#pragma once
#include <fcntl.h>

#include <string>

#include "maildir.hpp"

namespace pop3::shell::testing {

// Maildir::open of the directory `path` (a missing one: an empty mailbox).
inline tl::expected<Maildir, std::error_code>
open_maildir(const std::string& path, bool watch = true,
             std::optional<DirectoryStamps> stamps = std::nullopt) {
    UniqueFd inbox{::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (!inbox && errno != ENOENT)
        return tl::unexpected(std::error_code(errno, std::system_category()));
    return Maildir::open(std::move(inbox), path, watch, stamps);
}

} // namespace pop3::shell::testing
