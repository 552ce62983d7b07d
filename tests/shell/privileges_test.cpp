// Choosing the identity a mailbox is served as (no root needed: the choice
// is made from values; becoming it is tested in test_privileges.py).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <tuple>

#include "fault_injection.hpp"
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

namespace {

// A mailstore root with example.org/alice/INBOX, removed at scope end.
struct Store {
    std::filesystem::path root;
    pop3::shell::UniqueFd fd;
    Store() {
        std::string pattern = "/tmp/pop3d-walk-XXXXXX";
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        root = pattern;
        std::filesystem::create_directories(root / "example.org/alice/INBOX/cur");
        fd.reset(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        REQUIRE(fd);
    }
    ~Store() {
        std::error_code ec;
        std::filesystem::remove_all(root, ec);
    }
    void link(const std::string& target, const std::string& name) const {
        REQUIRE(::symlink(target.c_str(), (root / name).c_str()) == 0);
    }
};

} // namespace

TEST_CASE("the INBOX is opened below the mailstore root and owned as fstat says",
          "[shell][privileges]") {
    Store store;
    auto dir = pop3::shell::open_mailbox_dir(store.fd.get(), "example.org", "alice");
    REQUIRE(dir);
    REQUIRE(dir->inbox);
    CHECK(dir->owner_known);
    CHECK(dir->owner == ::getuid());
    // It is the INBOX: cur/ is found relative to it.
    struct stat st {};
    CHECK(::fstatat(dir->inbox.get(), "cur", &st, AT_SYMLINK_NOFOLLOW) == 0);
}

TEST_CASE("a missing INBOX, user or domain ends the walk without an INBOX",
          "[shell][privileges]") {
    Store store;
    for (const auto& [domain, user, known] :
         {std::tuple{"example.org", "bob", true}, std::tuple{"example.net", "bob", false}}) {
        auto dir = pop3::shell::open_mailbox_dir(store.fd.get(), domain, user);
        REQUIRE(dir);
        CHECK_FALSE(dir->inbox);
        CHECK(dir->owner_known == known);
    }
    std::filesystem::remove(store.root / "example.org/alice/INBOX/cur");
    std::filesystem::remove(store.root / "example.org/alice/INBOX");
    auto dir = pop3::shell::open_mailbox_dir(store.fd.get(), "example.org", "alice");
    REQUIRE(dir);
    CHECK_FALSE(dir->inbox);
    CHECK(dir->owner_known); // example.org/alice's owner
}

TEST_CASE("an INBOX whose open says ESTALE (removed by another host of a "
          "shared store) is a missing INBOX, not a refusal",
          "[shell][privileges][estale]") {
    using pop3::shell::testing::Call;
    Store store;
    pop3::shell::testing::ScopedFault stale(Call::open, "INBOX", ESTALE);
    auto dir = pop3::shell::open_mailbox_dir(store.fd.get(), "example.org", "alice");
    CHECK(pop3::shell::testing::faults_fired() == 1);
    REQUIRE(dir);
    CHECK_FALSE(dir->inbox);
}

TEST_CASE("a symlink in domain, user or INBOX is refused, never followed",
          "[shell][privileges]") {
    // Issue 11, 3.2: hosted.example/postmaster -> ../example.org/alice once
    // let a domain's owner log in to alice's mailbox as alice's owner.
    Store store;
    std::filesystem::create_directories(store.root / "hosted.example/bob");
    store.link("example.org", "alias.example");
    store.link("../example.org/alice", "hosted.example/postmaster");
    store.link("../../example.org/alice/INBOX", "hosted.example/bob/INBOX");
    for (const auto& [domain, user, what] :
         {std::tuple{"alias.example", "alice", "alias.example"},
          std::tuple{"hosted.example", "postmaster", "hosted.example/postmaster"},
          std::tuple{"hosted.example", "bob", "hosted.example/bob/INBOX"}}) {
        auto dir = pop3::shell::open_mailbox_dir(store.fd.get(), domain, user);
        REQUIRE_FALSE(dir);
        CHECK(dir.error() == std::string(what) + " is a symlink; pop3d follows none in the mailstore");
    }
}

TEST_CASE("a login part that could leave the mailstore is refused",
          "[shell][privileges]") {
    Store store;
    for (const auto& [domain, user] :
         {std::pair{"..", "x"}, std::pair{"example.org", "."}, std::pair{"", "alice"},
          std::pair{"example.org/alice", "INBOX"}}) {
        CHECK_FALSE(pop3::shell::open_mailbox_dir(store.fd.get(), domain, user));
    }
}

TEST_CASE("a file where a directory belongs is refused", "[shell][privileges]") {
    Store store;
    std::ofstream(store.root / "example.org/carol") << "not a directory\n";
    auto dir = pop3::shell::open_mailbox_dir(store.fd.get(), "example.org", "carol");
    REQUIRE_FALSE(dir);
    CHECK(dir.error().find("cannot open example.org/carol") == 0);
}
