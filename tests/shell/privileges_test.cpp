// Choosing the identity a mailbox is served as (no root needed: the choice
// is made from values; becoming it is tested in test_privileges.py).
#include <catch2/catch.hpp>

#include <unistd.h>

#include "privileges.hpp"

using pop3::core::PasswdEntry;
using pop3::shell::choose_identity;
using pop3::shell::MailIdentity;

namespace {

PasswdEntry entry_with(std::optional<std::uint32_t> uid,
                       std::optional<std::uint32_t> gid) {
    PasswdEntry entry;
    entry.user = "alice@example.org";
    entry.uid = uid;
    entry.gid = gid;
    return entry;
}

// A system user database holding uid 1000 with primary group 100.
std::optional<gid_t> users(uid_t uid) {
    if (uid == 1000) return gid_t{100};
    return std::nullopt;
}

} // namespace

TEST_CASE("without a passwd-file gid, the uid's primary group is used",
          "[shell][privileges]") {
    // The directory's owner decides the uid; its group is not even asked.
    CHECK(choose_identity(entry_with(std::nullopt, std::nullopt), 1000, users) ==
          MailIdentity{1000, 100});
    CHECK(choose_identity(std::nullopt, 1000, users) == MailIdentity{1000, 100});
    // A passwd-file uid wins over the owner, and its own primary group is used.
    CHECK(choose_identity(entry_with(1000, std::nullopt), 4242, users) ==
          MailIdentity{1000, 100});
}

TEST_CASE("passwd-file uid and gid fields win", "[shell][privileges]") {
    CHECK(choose_identity(entry_with(1000, 7), 4242, users) == MailIdentity{1000, 7});
    CHECK(choose_identity(entry_with(std::nullopt, 7), 4242, users) ==
          MailIdentity{4242, 7});
}

TEST_CASE("a uid unknown to the system user database without a gid is refused",
          "[shell][privileges]") {
    auto who = choose_identity(entry_with(std::nullopt, std::nullopt), 4242, users);
    REQUIRE_FALSE(who);
    CHECK(who.error().find("uid 4242 has no entry in the system user database") !=
          std::string::npos);
}

TEST_CASE("primary_group reads the system user database", "[shell][privileges]") {
    // root is in every system user database, with group 0.
    CHECK(pop3::shell::primary_group(0) == gid_t{0});
    CHECK(pop3::shell::primary_group(static_cast<uid_t>(-2)) == std::nullopt);
}
