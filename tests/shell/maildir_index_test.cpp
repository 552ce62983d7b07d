// The shared index: as a size cache used when a file is unchanged, never
// over a file that changed, harmless when corrupt, pruned of messages that
// left; as a listing used only while new/ and cur/ are provably unchanged.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "maildir.hpp"
#include "open_maildir.hpp"
#include "maildir_index.hpp"
#include "pop3/core/maildir_name.hpp"

namespace fs = std::filesystem;
using pop3::shell::Maildir;
using pop3::shell::testing::open_maildir;

namespace {

struct Inbox {
    fs::path root;
    Inbox() {
        std::string pattern = "/tmp/pop3d-index-XXXXXX";
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        root = pattern;
        for (const char* sub : {"new", "cur", "tmp"}) fs::create_directories(root / sub);
    }
    ~Inbox() {
        std::error_code ec;
        fs::remove_all(root, ec);
    }
    void write(const std::string& rel, const std::string& content) const {
        std::ofstream(root / rel, std::ios::binary) << content;
    }
    std::string read(const std::string& rel) const {
        std::ifstream in(root / rel, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }
    // Dates new/ and cur/ back to one fixed past time, as if the mailbox
    // had been quiet since.
    void age() const {
        const timespec times[2] = {{0, UTIME_OMIT}, {1'700'000'000, 0}};
        for (const char* sub : {"new", "cur"})
            REQUIRE(::utimensat(AT_FDCWD, (root / sub).c_str(), times, 0) == 0);
    }
    std::vector<std::uint64_t> sizes() const {
        auto box = open_maildir(root.string(), false);
        REQUIRE(box);
        std::vector<std::uint64_t> out;
        for (const auto& m : *box->snapshot()) out.push_back(m.size);
        return out;
    }
};

} // namespace

TEST_CASE("sizes counted once are served from the cache while files are unchanged",
          "[shell][index]") {
    Inbox inbox;
    inbox.write("cur/100.M1.h:2,S", "a\nb\n");      // 6 octets as CRLF
    inbox.write("new/101.M2.h,S=4", "c\r\nd");     // S= in the name: no stat; 6 as sent
    CHECK(inbox.sizes() == std::vector<std::uint64_t>{6, 6});
    CHECK(inbox.read("pop3d-index").rfind("pop3d-index 4 -\n", 0) == 0);
    // Same length, different line ends: only a cache hit can still say 6.
    inbox.write("cur/100.M1.h:2,S", "ab\r\n");
    CHECK(inbox.sizes() == std::vector<std::uint64_t>{6, 6});
}

TEST_CASE("a file whose size changed is counted again", "[shell][index]") {
    Inbox inbox;
    inbox.write("cur/100.M1.h", "a\nb\n");
    CHECK(inbox.sizes() == std::vector<std::uint64_t>{6});
    inbox.write("cur/100.M1.h", "a\nb\nc\n");
    CHECK(inbox.sizes() == std::vector<std::uint64_t>{9});
    CHECK(inbox.read("pop3d-index").find("cur/100.M1.h 6 9\n") != std::string::npos);
}

TEST_CASE("a corrupt or foreign cache is ignored", "[shell][index]") {
    Inbox inbox;
    inbox.write("cur/100.M1.h", "a\nb\n");
    for (const char* junk : {"garbage", "pop3d-index 4 -\ncur/100.M1.h 4 999999", // torn line
                             "pop3d-index 4 -\ncur/100.M1.h x 1\n",
                             "pop3d-index 1 -\ncur/100.M1.h 4 1\n",
                             "pop3d-index 2 -\ncur/100.M1.h 4 1\n", // before ctimes

                             "pop3d-index 4 -\n100.M1.h 4 1\n"}) {
        inbox.write("pop3d-index", junk);
        CHECK(inbox.sizes() == std::vector<std::uint64_t>{6});
    }
    // A cache that lies about a file of the right size is believed: it is
    // the mailbox owner's own file (see docs/performance.md).
    inbox.write("pop3d-index", "pop3d-index 4 -\ncur/100.M1.h 4 7\n");
    CHECK(inbox.sizes() == std::vector<std::uint64_t>{7});
}

TEST_CASE("messages that left the mailbox leave the cache", "[shell][index]") {
    Inbox inbox;
    inbox.write("cur/100.M1.h", "a\n");
    inbox.write("cur/101.M2.h", "b\n");
    inbox.sizes();
    CHECK(inbox.read("pop3d-index").find("101.M2.h") != std::string::npos);
    fs::remove(inbox.root / "cur/101.M2.h");
    inbox.sizes();
    CHECK(inbox.read("pop3d-index").find("101.M2.h") == std::string::npos);
    CHECK(inbox.read("pop3d-index").find("100.M1.h") != std::string::npos);
}

TEST_CASE("an unwritable mailbox still opens, without a cache", "[shell][index]") {
    // The index cannot be replaced (a directory holds its name; the tests
    // run as root, so a mode would not stop them): the mailbox opens, the
    // name is left alone and no temporary file is left behind.
    Inbox inbox;
    inbox.write("cur/100.M1.h", "a\n");
    fs::create_directories(inbox.root / "pop3d-index" / "in-the-way");
    CHECK(inbox.sizes() == std::vector<std::uint64_t>{3});
    CHECK(fs::is_directory(inbox.root / "pop3d-index" / "in-the-way"));
    for (const auto& entry : fs::directory_iterator(inbox.root))
        CHECK(entry.path().filename().string().rfind("pop3d-index.tmp.", 0) != 0);
}

TEST_CASE("an unchanged Maildir is listed from the index, without a scan", "[shell][index]") {
    Inbox inbox;
    inbox.write("cur/100.M1.h:2,S", "a\nb\n");
    inbox.write("new/101.M2.h,S=4", "c\r\nd");
    inbox.age();
    auto first = open_maildir(inbox.root.string(), false);
    REQUIRE(first);
    CHECK_FALSE(first->listed_from_index());
    CHECK(inbox.read("pop3d-index").rfind("pop3d-index 4 -\n", 0) == std::string::npos);

    auto second = open_maildir(inbox.root.string(), false);
    REQUIRE(second);
    CHECK(second->listed_from_index());
    CHECK(second->path_of(0) == "cur/100.M1.h:2,S");
    CHECK(second->path_of(1) == "new/101.M2.h,S=4");
    CHECK((*second->snapshot())[0] == pop3::core::MessageRef{6, "100.M1.h"});
    CHECK((*second->snapshot())[1] == pop3::core::MessageRef{6, "101.M2.h"});
    // The names work as names: mark seen, then remove.
    REQUIRE(second->mark_seen(1));
    CHECK(fs::exists(inbox.root / "cur/101.M2.h,S=4:2,S"));
    CHECK(second->remove({0}) == pop3::shell::RemoveCounts{1, 0, 0});
    CHECK_FALSE(fs::exists(inbox.root / "cur/100.M1.h:2,S"));

    // Those changes moved cur/'s mtime: the next session scans.
    auto third = open_maildir(inbox.root.string(), false);
    REQUIRE(third);
    CHECK_FALSE(third->listed_from_index());
    CHECK(third->size() == 1);
}

TEST_CASE("where directory stamps are cached, an unchanged Maildir is still "
          "scanned, with the index as a size cache",
          "[shell][index][file_system]") {
    // Issue 12: on a GlusterFS mount another host's rename showed here
    // only a second later, and a new session was served the old listing.
    using pop3::shell::DirectoryStamps;
    Inbox inbox;
    inbox.write("cur/100.M1.h:2,S", "a\nb\n");
    inbox.write("new/101.M2.h", "c\r\nd");
    inbox.age();
    auto first = open_maildir(inbox.root.string(), false, DirectoryStamps::cached);
    REQUIRE(first);
    CHECK(first->directory_stamps() == DirectoryStamps::cached);
    CHECK_FALSE(first->listed_from_index());
    // Sizes only: no stamp another session could take as a listing.
    CHECK(inbox.read("pop3d-index").rfind("pop3d-index 4 -\n", 0) == 0);
    CHECK(inbox.read("pop3d-index").find("new/101.M2.h 4 6\n") != std::string::npos);

    auto second = open_maildir(inbox.root.string(), false, DirectoryStamps::cached);
    REQUIRE(second);
    CHECK_FALSE(second->listed_from_index());
    CHECK(second->size() == 2);
    // A session on a local file system over the same index scans too: a
    // sizes-only index names no directory state.
    auto local = open_maildir(inbox.root.string(), false, DirectoryStamps::exact);
    REQUIRE(local);
    CHECK_FALSE(local->listed_from_index());
    auto local_again = open_maildir(inbox.root.string(), false, DirectoryStamps::exact);
    REQUIRE(local_again);
    CHECK(local_again->listed_from_index()); // the control: the fast path works here
}

TEST_CASE("a local temporary directory has exact directory stamps",
          "[shell][index][file_system]") {
    // The other tests here rely on /tmp being local (ext4, tmpfs, ...).
    Inbox inbox;
    auto box = open_maildir(inbox.root.string(), false);
    REQUIRE(box);
    CHECK(box->directory_stamps() == pop3::shell::DirectoryStamps::exact);
}

TEST_CASE("the listing is trusted exactly as far as the directory stamps", "[shell][index]") {
    Inbox inbox;
    inbox.write("cur/100.M1.h", "a\n");
    inbox.age();
    REQUIRE(inbox.sizes() == std::vector<std::uint64_t>{3});
    auto unchanged = open_maildir(inbox.root.string(), false);
    REQUIRE(unchanged);
    CHECK(unchanged->listed_from_index());
    // Any real change is seen: the mtime moves.
    inbox.write("new/300.M3.h", "cc\n");
    CHECK(inbox.sizes() == std::vector<std::uint64_t>{3, 4});
}

TEST_CASE("a stale index is not trusted when old directory mtimes are put back",
          "[shell][index]") {
    // Issue 11, 3.7: restoring a backup over a live INBOX (tar, rsync -a,
    // cp -a) puts the directories' old mtimes back; a message delivered
    // since must not stay hidden behind the old listing. utimensat(2) here
    // is that restore: it cannot set the ctime back.
    Inbox inbox;
    inbox.write("cur/100.M1.h", "a\n");
    inbox.age();
    REQUIRE(inbox.sizes() == std::vector<std::uint64_t>{3});
    inbox.write("cur/200.M2.h", "b\n"); // delivered after the index was written
    inbox.age();                         // the restore puts the mtimes back
    auto box = open_maildir(inbox.root.string(), false);
    REQUIRE(box);
    CHECK_FALSE(box->listed_from_index());
    CHECK(box->size() == 2);
    // The stamp names both directories' device, inode, mtime and ctime.
    const std::string index = inbox.read("pop3d-index");
    struct stat cur {};
    REQUIRE(::stat((inbox.root / "cur").c_str(), &cur) == 0);
    CHECK(index.find(" " + std::to_string(cur.st_dev) + "." + std::to_string(cur.st_ino) +
                     ".1700000000.0." + std::to_string(cur.st_ctim.tv_sec) + "." +
                     std::to_string(cur.st_ctim.tv_nsec) + "\n") != std::string::npos);
}

TEST_CASE("a forged index cannot name files outside new/ and cur/", "[shell][index]") {
    Inbox inbox;
    inbox.write("cur/100.M1.h", "a\n");
    inbox.write("tmp/555.M5.h", "not delivered\n");
    inbox.age();
    REQUIRE(inbox.sizes() == std::vector<std::uint64_t>{3});
    const std::string index = inbox.read("pop3d-index");
    const std::string header = index.substr(0, index.find('\n') + 1);
    for (const char* line : {"tmp/555.M5.h 14 15\n", "cur/../tmp/555.M5.h 14 15\n",
                             "cur/.hidden 1 3\n", "../../etc/passwd 1 3\n",
                             "cur/100.M1.h 2\n"}) {
        inbox.write("pop3d-index", header + line);
        auto box = open_maildir(inbox.root.string(), false);
        REQUIRE(box);
        CHECK_FALSE(box->listed_from_index());
        CHECK(box->path_of(0) == "cur/100.M1.h");
        CHECK(box->size() == 1);
    }
}

TEST_CASE("a file changed in place is reported at RETR and the index dropped", "[shell][index]") {
    Inbox inbox;
    inbox.write("cur/100.M1.h", "a\nb\n");
    inbox.age();
    REQUIRE(inbox.sizes() == std::vector<std::uint64_t>{6});
    auto box = open_maildir(inbox.root.string(), false);
    REQUIRE(box);
    REQUIRE(box->listed_from_index());
    inbox.write("cur/100.M1.h", "a\nb\nc\n"); // rewritten, not renamed
    REQUIRE(box->open_message(0));
    CHECK(box->take_changed_in_place() == std::vector<std::size_t>{0});
    CHECK(box->take_changed_in_place().empty());
    CHECK_FALSE(fs::exists(inbox.root / "pop3d-index"));
    CHECK(inbox.sizes() == std::vector<std::uint64_t>{9});
}

TEST_CASE("a name the index cannot hold keeps it a size cache", "[shell][index]") {
    Inbox inbox;
    inbox.write("cur/100.M1.h", "a\n");
    inbox.write("cur/101 M2.h", "b\n"); // a blank: not storable
    inbox.age();
    REQUIRE(inbox.sizes() == std::vector<std::uint64_t>{3, 3});
    CHECK(inbox.read("pop3d-index").rfind("pop3d-index 4 -\n", 0) == 0);
    auto box = open_maildir(inbox.root.string(), false);
    REQUIRE(box);
    CHECK_FALSE(box->listed_from_index());
    CHECK(box->size() == 2);
}

TEST_CASE("an index entry with an over-long name makes the index invalid", "[shell][index]") {
    // Issue 11, 3.6: a 65,539-octet name once passed as 3 octets (a 16-bit
    // length) and the next refresh aborted on std::out_of_range.
    Inbox inbox;
    inbox.write("cur/100.M1.h", "a\n");
    inbox.age();
    REQUIRE(inbox.sizes() == std::vector<std::uint64_t>{3});
    const std::string index = inbox.read("pop3d-index");
    const std::string header = index.substr(0, index.find('\n') + 1);
    for (const std::size_t octets : {std::size_t{256}, std::size_t{65535 - 4},
                                     std::size_t{65536 + 3 - 4}, std::size_t{70000}}) {
        const std::string name = "cur/1700000000." + std::string(octets - 11, 'x');
        inbox.write("pop3d-index", header + name + " 2 3\n" + index.substr(header.size()));
        auto box = open_maildir(inbox.root.string(), false);
        REQUIRE(box);
        CHECK_FALSE(box->listed_from_index());
        CHECK(box->size() == 1);
        CHECK(box->path_of(0) == "cur/100.M1.h");
        CHECK(box->refresh().empty());
    }
    CHECK_FALSE(pop3::shell::MaildirIndex::parse_entry(
        "cur/1." + std::string(254, 'x') + " 1 1"));
    CHECK(pop3::shell::MaildirIndex::parse_entry(
        "cur/1." + std::string(253, 'x') + " 1 1"));
}

TEST_CASE("No index line shorter than k_min_entry_line_octets is an entry", "[maildir_index]") {
    using pop3::shell::MaildirIndex;
    const std::string shortest = "new/x 0 0";
    CHECK(shortest.size() + 1 == MaildirIndex::k_min_entry_line_octets);
    CHECK(MaildirIndex::parse_entry(shortest));
    // Every line one octet shorter after "new/" or "cur/", over the
    // characters an entry is made of (12^4 suffixes each).
    const std::string alphabet = "newcur/x0 :,";
    const std::size_t suffix = MaildirIndex::k_min_entry_line_octets - 2 - 4;
    std::size_t accepted = 0, tried = 0;
    for (const std::string prefix : {"new/", "cur/"}) {
        std::size_t count = 1;
        for (std::size_t i = 0; i < suffix; ++i) count *= alphabet.size();
        for (std::size_t code = 0; code < count; ++code) {
            std::string line = prefix;
            for (std::size_t rest = code, i = 0; i < suffix; ++i, rest /= alphabet.size())
                line += alphabet[rest % alphabet.size()];
            if (MaildirIndex::parse_entry(line)) ++accepted;
            ++tried;
        }
    }
    CHECK(tried == 2 * 12 * 12 * 12 * 12);
    CHECK(accepted == 0);
}

TEST_CASE("An index line is an entry exactly when its name is storable and a Maildir name",
          "[maildir_index]") {
    // parse_entry checks in one pass what storable() and
    // core::parse_maildir_name() say, and the base name is theirs.
    using pop3::shell::MaildirIndex;
    const std::string alphabet = std::string("xM.,:/ 09S=W2") + '\x7f' + '\x01' + '\xe9' + '\0';
    std::uint64_t state = 0x9E3779B97F4A7C15ull; // fixed: the same lines every run
    auto next = [&] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    std::size_t agreed = 0, entries = 0;
    for (int n = 0; n < 20000; ++n) {
        std::string name = next() % 2 ? "new/" : "cur/";
        const std::size_t length = next() % 14;
        for (std::size_t i = 0; i < length; ++i) name += alphabet[next() % alphabet.size()];
        const std::string line = name + " " + std::to_string(next() % 100) + " 7";
        const auto parsed = MaildirIndex::parse_entry(line);
        const auto as_name = pop3::core::parse_maildir_name(std::string_view(name).substr(4));
        const bool expected = MaildirIndex::storable(name) && as_name.has_value();
        INFO("line: " << line);
        REQUIRE(parsed.has_value() == expected);
        if (parsed) {
            REQUIRE(parsed->rel == name);
            REQUIRE(parsed->base_size == as_name->base.size());
            REQUIRE(parsed->wire_size == 7u);
            ++entries;
        }
        ++agreed;
    }
    CHECK(agreed == 20000u);
    CHECK(entries > 1000u); // the generator reaches valid names too
}
