// The session's view of the snapshot: fates and running STAT totals.
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
    uidl_ends_.reserve(messages);
    uidls_.reserve(uidl_chars);
}

void Snapshot::add(std::uint64_t size, std::string_view uidl) {
    sizes_.push_back(size);
    uidls_.append(uidl);
    uidl_ends_.push_back(uidls_.size());
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
