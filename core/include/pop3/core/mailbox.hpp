// The mailbox snapshot taken at login and the session's view of it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pop3::core {

// One message as fixed at login. Message number = index + 1.
struct MessageInfo {
    std::uint64_t size = 0; // exact octets as sent with CRLF, without stuffing
    std::string uidl;       // RFC 1939 unique-id, 1..70 chars in 0x21..0x7E
    bool operator==(const MessageInfo&) const = default;
};

// Immutable after login and shared, never copied per step.
using MailboxSnapshot = std::shared_ptr<const std::vector<MessageInfo>>;

[[nodiscard]] MailboxSnapshot make_snapshot(std::vector<MessageInfo> messages);

// What became of a snapshot message during the session.
enum class Fate : std::uint8_t {
    present,  // visible
    deleted,  // marked by this session's DELE; RSET restores it
    vanished, // gone from the store (expunged elsewhere); RSET cannot restore
};

// The session's view: the snapshot plus each message's fate. Moved, not
// copied, through step().
class MailboxView {
public:
    MailboxView() = default;
    explicit MailboxView(MailboxSnapshot snapshot);

    [[nodiscard]] std::size_t size() const { return fates_.size(); }
    [[nodiscard]] const MessageInfo& info(std::size_t index) const {
        return (*snapshot_)[index];
    }
    [[nodiscard]] Fate fate(std::size_t index) const { return fates_[index]; }
    [[nodiscard]] bool visible(std::size_t index) const {
        return fates_[index] == Fate::present;
    }
    // Visible message count and total size (STAT, RFC 1939 section 5).
    [[nodiscard]] std::uint64_t visible_count() const { return count_; }
    [[nodiscard]] std::uint64_t visible_octets() const { return octets_; }

    void mark_deleted(std::size_t index);
    void mark_vanished(std::size_t index);
    // Restores messages deleted by this session; vanished ones stay gone.
    void reset();
    // Indices this session marked deleted (the UPDATE set), ascending.
    [[nodiscard]] std::vector<std::size_t> deleted_indices() const;

private:
    void hide(std::size_t index, Fate fate);

    MailboxSnapshot snapshot_;
    std::vector<Fate> fates_;
    std::uint64_t count_ = 0;
    std::uint64_t octets_ = 0;
};

} // namespace pop3::core
