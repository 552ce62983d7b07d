// A machine-wide cap on concurrent expensive password hashing: N lock files
// in one directory, shared by every pop3d process; an flock(2) on one of
// them is the right to run one verification. Opened before any privilege
// drop or chroot; locking needs no file system access afterwards.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "unique_fd.hpp"

namespace pop3::shell {

class HashSlots {
public:
    // No slots: nothing is capped (--hash-slots 0, or the directory failed).
    HashSlots() = default;

    // Opens (creating when missing) `dir`/slot-0 .. slot-(count-1), mode
    // 0600; `dir` itself is created, mode 0700, when it does not exist.
    // The error names the path and the reason.
    [[nodiscard]] static tl::expected<HashSlots, std::string>
    open(const std::string& dir, unsigned count);

    // Holds one slot until destroyed or released.
    class Guard {
    public:
        Guard() = default;
        explicit Guard(int fd) : fd_(fd) {}
        Guard(Guard&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
        Guard& operator=(Guard&& other) noexcept;
        Guard(const Guard&) = delete;
        Guard& operator=(const Guard&) = delete;
        ~Guard() { release(); }
        void release();
        [[nodiscard]] bool held() const { return fd_ >= 0; }

    private:
        int fd_ = -1; // not owned: the slot's descriptor stays open
    };

    // Takes a free slot at once if there is one. Otherwise calls on_wait()
    // once (to log that the login waits) and blocks until a slot is free.
    // Without slots, or when locking fails, returns a Guard holding none.
    [[nodiscard]] Guard acquire(const std::function<void()>& on_wait) const;

    [[nodiscard]] std::size_t size() const { return fds_.size(); }
    [[nodiscard]] const std::string& dir() const { return dir_; }

private:
    std::string dir_;
    std::vector<UniqueFd> fds_;
};

} // namespace pop3::shell
