// The shared size cache: used when a file is unchanged, never over a file
// that changed, harmless when corrupt, and pruned of messages that left.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "maildir.hpp"
#include "size_cache.hpp"

namespace fs = std::filesystem;
using pop3::shell::Maildir;

namespace {

struct Inbox {
    fs::path root;
    Inbox() {
        std::string pattern = "/tmp/pop3d-size-cache-XXXXXX";
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
    std::vector<std::uint64_t> sizes() const {
        auto box = Maildir::open(root.string(), false);
        REQUIRE(box);
        std::vector<std::uint64_t> out;
        for (const auto& m : *box->snapshot()) out.push_back(m.size);
        return out;
    }
};

} // namespace

TEST_CASE("sizes counted once are served from the cache while files are unchanged",
          "[shell][size_cache]") {
    Inbox inbox;
    inbox.write("cur/100.M1.h:2,S", "a\nb\n");      // 6 octets as CRLF
    inbox.write("new/101.M2.h,S=4", "c\r\nd");     // S= in the name: no stat; 6 as sent
    CHECK(inbox.sizes() == std::vector<std::uint64_t>{6, 6});
    CHECK(inbox.read("pop3d-sizes").rfind("pop3d-sizes 1\n", 0) == 0);
    // Same length, different line ends: only a cache hit can still say 6.
    inbox.write("cur/100.M1.h:2,S", "ab\r\n");
    CHECK(inbox.sizes() == std::vector<std::uint64_t>{6, 6});
}

TEST_CASE("a file whose size changed is counted again", "[shell][size_cache]") {
    Inbox inbox;
    inbox.write("cur/100.M1.h", "a\nb\n");
    CHECK(inbox.sizes() == std::vector<std::uint64_t>{6});
    inbox.write("cur/100.M1.h", "a\nb\nc\n");
    CHECK(inbox.sizes() == std::vector<std::uint64_t>{9});
    CHECK(inbox.read("pop3d-sizes").find("100.M1.h 6 9\n") != std::string::npos);
}

TEST_CASE("a corrupt or foreign cache is ignored", "[shell][size_cache]") {
    Inbox inbox;
    inbox.write("cur/100.M1.h", "a\nb\n");
    for (const char* junk : {"garbage", "pop3d-sizes 1\n100.M1.h 4 999999", // torn line
                             "pop3d-sizes 1\n100.M1.h x 1\n", "pop3d-sizes 2\n100.M1.h 4 1\n"}) {
        inbox.write("pop3d-sizes", junk);
        CHECK(inbox.sizes() == std::vector<std::uint64_t>{6});
    }
    // A cache that lies about a file of the right size is believed: it is
    // the mailbox owner's own file (see docs/performance.md).
    inbox.write("pop3d-sizes", "pop3d-sizes 1\n100.M1.h 4 7\n");
    CHECK(inbox.sizes() == std::vector<std::uint64_t>{7});
}

TEST_CASE("messages that left the mailbox leave the cache", "[shell][size_cache]") {
    Inbox inbox;
    inbox.write("cur/100.M1.h", "a\n");
    inbox.write("cur/101.M2.h", "b\n");
    inbox.sizes();
    CHECK(inbox.read("pop3d-sizes").find("101.M2.h") != std::string::npos);
    fs::remove(inbox.root / "cur/101.M2.h");
    inbox.sizes();
    CHECK(inbox.read("pop3d-sizes").find("101.M2.h") == std::string::npos);
    CHECK(inbox.read("pop3d-sizes").find("100.M1.h") != std::string::npos);
}

TEST_CASE("an unwritable mailbox still opens, without a cache", "[shell][size_cache]") {
    Inbox inbox;
    inbox.write("cur/100.M1.h", "a\n");
    fs::create_directory(inbox.root / ("pop3d-sizes.tmp." + std::to_string(::getpid())));
    CHECK(inbox.sizes() == std::vector<std::uint64_t>{3});
    CHECK_FALSE(fs::exists(inbox.root / "pop3d-sizes"));
}
