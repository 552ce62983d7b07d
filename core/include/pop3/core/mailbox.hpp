// The mailbox snapshot taken at login and the session's view of it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pop3::core {

// One message as fixed at login. Message number = index + 1. The input form
// for make_snapshot (tests, the shell's scan).
struct MessageInfo {
    std::uint64_t size = 0; // exact octets as sent with CRLF, without stuffing
    std::string uidl;       // RFC 1939 unique-id, 1..70 chars in 0x21..0x7E
    bool operator==(const MessageInfo&) const = default;
};

// A message of a snapshot as read back: the UIDL is a view into it.
struct MessageRef {
    std::uint64_t size = 0;
    std::string_view uidl;
    bool operator==(const MessageRef&) const = default;
};

// The login snapshot, compact (issue 6, issue 16): sizes in one vector and
// per message 8 bytes locating its UIDL, either in the snapshot's own
// string or in a text shared with its builder (the shell's index, whose
// names are mostly the UIDLs already), which the snapshot keeps alive. A
// 10,000-message snapshot from an index thus takes 160 KB and copies no
// UIDL.
class Snapshot {
public:
    Snapshot() = default;
    explicit Snapshot(const std::vector<MessageInfo>& messages);

    // Building: reserve (optional), then add in message-number order.
    void reserve(std::size_t messages, std::size_t uidl_chars);
    // Copies `uidl` (at most k_max_uidl octets) into the snapshot.
    void add(std::uint64_t size, std::string_view uidl);
    // The text later UIDLs may lie in, and what keeps it alive; set once,
    // before the first add_shared.
    void share_text(std::shared_ptr<const void> owner, std::string_view text);
    // Refers to `uidl`, which must lie inside the shared text: no copy.
    void add_shared(std::uint64_t size, std::string_view uidl);

    [[nodiscard]] std::size_t size() const { return sizes_.size(); }
    [[nodiscard]] bool empty() const { return sizes_.empty(); }
    [[nodiscard]] MessageRef operator[](std::size_t index) const {
        const UidlRef ref = uidl_refs_[index];
        const char* base = ref.shared ? shared_text_.data() : uidls_.data();
        return {sizes_[index], std::string_view(base + ref.offset, ref.length)};
    }

    // Range-for over MessageRefs.
    class Iterator {
    public:
        Iterator(const Snapshot* snapshot, std::size_t index)
            : snapshot_(snapshot), index_(index) {}
        MessageRef operator*() const { return (*snapshot_)[index_]; }
        Iterator& operator++() {
            ++index_;
            return *this;
        }
        bool operator==(const Iterator&) const = default;

    private:
        const Snapshot* snapshot_;
        std::size_t index_;
    };
    [[nodiscard]] Iterator begin() const { return {this, 0}; }
    [[nodiscard]] Iterator end() const { return {this, size()}; }

private:
    // Where one UIDL is: in uidls_ or in the shared text. UIDLs are at most
    // k_max_uidl (70) octets; both texts stay under 4 GiB (add() checks).
    struct UidlRef {
        std::uint32_t offset = 0;
        std::uint8_t length = 0;
        bool shared = false;
    };
    std::vector<std::uint64_t> sizes_;
    std::vector<UidlRef> uidl_refs_;
    std::string uidls_;
    std::shared_ptr<const void> shared_owner_;
    std::string_view shared_text_;
};

// Immutable after login and shared, never copied per step.
using MailboxSnapshot = std::shared_ptr<const Snapshot>;

[[nodiscard]] MailboxSnapshot make_snapshot(const std::vector<MessageInfo>& messages);
[[nodiscard]] MailboxSnapshot share_snapshot(Snapshot snapshot);

// What became of a snapshot message during the session.
enum class Fate : std::uint8_t {
    present,  // visible
    deleted,  // marked by this session's DELE; RSET restores it
    vanished, // gone from the store (expunged elsewhere); RSET cannot restore
};

// The session's view: the snapshot plus each message's fate. Moved, not
// copied, through step(); a LIST or UIDL listing holds a copy (one octet
// per message and the shared snapshot) while it is sent.
class MailboxView {
public:
    MailboxView() = default;
    explicit MailboxView(MailboxSnapshot snapshot);

    [[nodiscard]] std::size_t size() const { return fates_.size(); }
    [[nodiscard]] MessageRef info(std::size_t index) const {
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

    // Views are equal when they show the same snapshot object with the same
    // fates (responses carrying a listing compare this way).
    bool operator==(const MailboxView&) const = default;

private:
    void hide(std::size_t index, Fate fate);

    MailboxSnapshot snapshot_;
    std::vector<Fate> fates_;
    std::uint64_t count_ = 0;
    std::uint64_t octets_ = 0;
};

} // namespace pop3::core
