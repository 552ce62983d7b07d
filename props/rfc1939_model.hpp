// An executable RFC 1939 model of the TRANSACTION state, written from the RFC
// and independent of the core's tables: what each command must answer.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace pop3::model {

struct Rfc1939Model {
    std::vector<std::uint64_t> sizes;  // snapshot, message n = index n-1
    std::vector<std::string> uidls;
    std::set<std::size_t> deleted;     // DELE by this session (RSET restores)
    std::set<std::size_t> expunged;    // removed elsewhere (RSET cannot)
    unsigned bad_in_a_row = 0;         // consecutive -ERR from bad commands
    unsigned max_bad = 10;
    bool closed = false;

    bool exists(std::uint64_t msg) const {
        return msg >= 1 && msg <= sizes.size() && !deleted.count(msg - 1) &&
               !expunged.count(msg - 1);
    }
    std::uint64_t count() const {
        std::uint64_t n = 0;
        for (std::size_t i = 0; i < sizes.size(); ++i) n += exists(i + 1);
        return n;
    }
    std::uint64_t octets() const {
        std::uint64_t n = 0;
        for (std::size_t i = 0; i < sizes.size(); ++i)
            if (exists(i + 1)) n += sizes[i];
        return n;
    }
    // A malformed, unknown or misplaced command: counts towards the
    // bad-command limit.
    void refused() {
        if (++bad_in_a_row >= max_bad) closed = true;
    }
    // A well-formed command naming a message that is not there: -ERR, but
    // the bad-command count neither grows nor resets.
    void no_such_message() {}
    // How the server must treat a command naming message `msg`.
    void about_missing(std::uint64_t msg) {
        if (msg == 0) refused(); // "0" is not a message number at all
        else no_such_message();
    }
    void accepted() { bad_in_a_row = 0; }
    // What QUIT must remove: this session's deletions still in the store.
    std::vector<std::size_t> update_set() const {
        std::vector<std::size_t> out;
        for (auto i : deleted)
            if (!expunged.count(i)) out.push_back(i);
        return out;
    }
};

} // namespace pop3::model
