// The UIDL rule of RFC 1939 holds under --uidl dovecot and courier whatever
// the other server's file says: every UIDL 1-70 octets in 0x21-0x7E, unique
// within the mailbox, the same for the same inputs; every message listed
// exactly once.
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <algorithm>
#include <set>

#include "pop3/core/dovecot_uidlist.hpp"

using namespace pop3::core;

namespace {

rc::Gen<std::string> short_text() {
    return rc::gen::container<std::string>(
        rc::gen::element<char>('a', 'b', '1', '.', ',', ' ', '~', '\x7f', ':', 'M'));
}

} // namespace

TEST_CASE("dovecot_listing keeps the UIDL rule", "[props][uidl]") {
    rc::prop("valid, unique, stable, a permutation", [] {
        const auto count = *rc::gen::inRange<std::size_t>(0, 30);
        std::vector<std::string> names_store, own_store;
        std::set<std::string> distinct;
        for (std::size_t i = 0; i < count; ++i) {
            std::string name = "n" + std::to_string(i) + *short_text();
            name = name.substr(0, name.find(':'));
            if (!distinct.insert(name).second) continue;
            names_store.push_back(name);
            own_store.push_back("own" + std::to_string(i)); // pop3d's are unique
        }
        Uidlist list;
        list.uid_validity = *rc::gen::arbitrary<std::uint32_t>();
        std::uint32_t uid = 0;
        for (const auto& name : names_store) {
            if (*rc::gen::inRange(0, 3) == 0) continue; // not seen by Dovecot
            UidlistRecord r;
            r.uid = uid += *rc::gen::inRange<std::uint32_t>(1, 5);
            if (*rc::gen::inRange(0, 3) == 0) r.pop3_uidl = *short_text();
            if (*rc::gen::inRange(0, 4) == 0) r.pop3_order = *rc::gen::inRange<std::uint32_t>(0, 4);
            list.by_name.emplace(name, std::move(r));
        }
        const std::vector<std::string_view> names(names_store.begin(), names_store.end());
        const std::vector<std::string_view> own(own_store.begin(), own_store.end());
        const auto format = *rc::gen::element<std::string>("%08Xu%08Xv", "%v", "%f", "x", "%4f");
        const auto out = dovecot_listing(&list, {}, names, own, format);
        RC_ASSERT(out.uidls.size() == names.size());
        std::vector<std::size_t> sorted = out.order;
        std::sort(sorted.begin(), sorted.end());
        for (std::size_t i = 0; i < sorted.size(); ++i) RC_ASSERT(sorted[i] == i);
        std::set<std::string> seen;
        for (const auto& u : out.uidls) {
            RC_ASSERT(!u.empty());
            RC_ASSERT(u.size() <= 70u);
            for (char c : u) RC_ASSERT(c >= 0x21 && c <= 0x7e);
            RC_ASSERT(seen.insert(u).second);
        }
        const auto again = dovecot_listing(&list, {}, names, own, format);
        RC_ASSERT(again.uidls == out.uidls);
        RC_ASSERT(again.order == out.order);
    });
}
