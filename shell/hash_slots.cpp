// flock(2) locks belong to the open file description, so each pop3d
// process (and each HashSlots in one process) competes for the slots on its
// own, and a process that dies releases its slot with its descriptors.
#include "hash_slots.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pop3::shell {

HashSlots::Guard& HashSlots::Guard::operator=(Guard&& other) noexcept {
    if (this != &other) {
        release();
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

void HashSlots::Guard::release() {
    if (fd_ >= 0) ::flock(std::exchange(fd_, -1), LOCK_UN);
}

tl::expected<HashSlots, std::string> HashSlots::open(const std::string& dir,
                                                     unsigned count) {
    HashSlots slots;
    slots.dir_ = dir;
    if (count == 0) return slots;
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        return tl::unexpected(dir + ": " + std::strerror(errno));
    for (unsigned i = 0; i < count; ++i) {
        auto path = dir + "/slot-" + std::to_string(i);
        UniqueFd fd(::open(path.c_str(),
                           O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600));
        if (!fd) return tl::unexpected(path + ": " + std::strerror(errno));
        slots.fds_.push_back(std::move(fd));
    }
    return slots;
}

HashSlots::Guard HashSlots::acquire(const std::function<void()>& on_wait) const {
    if (fds_.empty()) return Guard();
    // Start at a slot picked by pid, so that waiters spread over the slots.
    const auto start = static_cast<std::size_t>(::getpid()) % fds_.size();
    for (std::size_t k = 0; k < fds_.size(); ++k) {
        const int fd = fds_[(start + k) % fds_.size()].get();
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return Guard(fd);
        if (errno != EWOULDBLOCK && errno != EINTR) return Guard(); // cannot lock: uncapped
    }
    if (on_wait) on_wait();
    const int fd = fds_[start].get();
    // EINTR only for a signal that is not blocked; each retry is one signal.
    while (::flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) return Guard();
    }
    return Guard(fd);
}

} // namespace pop3::shell
