// The session's view of the snapshot: fates and running STAT totals.
#include <cstdint>
#include <stdexcept>
#include <utility>

#include "pop3/core/limits.hpp"
#include "pop3/core/mailbox.hpp"

namespace pop3::core {

Snapshot::Snapshot(const std::vector<MessageInfo>& messages) {
    std::size_t chars = 0;
    for (const auto& m : messages) chars += m.uidl.size();
    reserve(messages.size(), chars);
    for (const auto& m : messages) add(m.size, m.uidl);
}

void Snapshot::reserve(std::size_t messages, std::size_t uidl_chars) {
    sizes_.reserve(messages);
    uidl_refs_.reserve(messages);
    uidls_.reserve(uidl_chars);
}

namespace {

// A UIDL's place as a UidlRef holds it; a UIDL longer than RFC 1939 allows
// or a text past 4 GiB is a caller's bug, not a client's input.
std::pair<std::uint32_t, std::uint8_t> place(std::size_t offset, std::size_t length) {
    if (length > k_max_uidl || offset > UINT32_MAX)
        throw std::length_error("snapshot UIDL out of range");
    return {static_cast<std::uint32_t>(offset), static_cast<std::uint8_t>(length)};
}

} // namespace

void Snapshot::add(std::uint64_t size, std::string_view uidl) {
    const auto [offset, length] = place(uidls_.size(), uidl.size());
    sizes_.push_back(size);
    uidls_.append(uidl);
    uidl_refs_.push_back({offset, length, false});
}

void Snapshot::share_text(std::shared_ptr<const void> owner, std::string_view text) {
    shared_owner_ = std::move(owner);
    shared_text_ = text;
}

void Snapshot::add_shared(std::uint64_t size, std::string_view uidl) {
    // Compared as addresses of one array: the shared text's.
    const auto begin = reinterpret_cast<std::uintptr_t>(shared_text_.data());
    const auto at = reinterpret_cast<std::uintptr_t>(uidl.data());
    if (at < begin || at - begin > shared_text_.size() ||
        uidl.size() > shared_text_.size() - (at - begin))
        throw std::out_of_range("snapshot UIDL outside the shared text");
    const auto [offset, length] = place(at - begin, uidl.size());
    sizes_.push_back(size);
    uidl_refs_.push_back({offset, length, true});
}

MailboxSnapshot make_snapshot(const std::vector<MessageInfo>& messages) {
    return std::make_shared<const Snapshot>(messages);
}

MailboxSnapshot share_snapshot(Snapshot snapshot) {
    return std::make_shared<const Snapshot>(std::move(snapshot));
}

MailboxView::MailboxView(MailboxSnapshot snapshot)
    : snapshot_(std::move(snapshot)),
      fates_(snapshot_ ? snapshot_->size() : 0, Fate::present) {
    if (!snapshot_) snapshot_ = share_snapshot(Snapshot{});
    for (const MessageRef m : *snapshot_) {
        ++count_;
        octets_ += m.size;
    }
}

void MailboxView::hide(std::size_t index, Fate fate) {
    if (fates_[index] == Fate::present) {
        --count_;
        octets_ -= info(index).size;
    }
    fates_[index] = fate;
}

void MailboxView::mark_deleted(std::size_t index) {
    if (fates_[index] == Fate::present) hide(index, Fate::deleted);
}

void MailboxView::mark_vanished(std::size_t index) {
    hide(index, Fate::vanished);
}

void MailboxView::reset() {
    for (std::size_t i = 0; i < fates_.size(); ++i) {
        if (fates_[i] == Fate::deleted) {
            fates_[i] = Fate::present;
            ++count_;
            octets_ += info(i).size;
        }
    }
}

std::vector<std::size_t> MailboxView::deleted_indices() const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < fates_.size(); ++i)
        if (fates_[i] == Fate::deleted) out.push_back(i);
    return out;
}

} // namespace pop3::core
