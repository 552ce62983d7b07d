// passwd-file lookup against real temporary files.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "passwd_file.hpp"

using pop3::shell::find_user;

namespace {

// A temporary directory holding one passwd-file, removed afterwards.
class TempPasswdFile {
public:
    explicit TempPasswdFile(const std::string& content)
    {
        std::string tmpl = "/tmp/pop3d-passwd-test.XXXXXX";
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        dir_ = tmpl;
        path_ = dir_ + "/passwd";
        std::ofstream out(path_, std::ios::binary);
        out << content;
        REQUIRE(out.good());
    }
    TempPasswdFile(const TempPasswdFile&) = delete;
    TempPasswdFile& operator=(const TempPasswdFile&) = delete;
    ~TempPasswdFile()
    {
        ::unlink(path_.c_str());
        ::rmdir(dir_.c_str());
    }
    const std::string& path() const { return path_; }
    const std::string& dir() const { return dir_; }

private:
    std::string dir_;
    std::string path_;
};

const std::string k_sample =
    "# pop3d test passwd-file\n"
    "\n"
    "alice@example.com:{PLAIN}alicepw:1000:1000::/home/alice::\n"
    "   \n"
    "this line is malformed\n"
    "bob@Example.COM:{SHA512-CRYPT}$6$x$y:1001:1001\n"
    "carol@example.com:{SHA256:1002:1002\n"
    "  # indented comment\n"
    "Dave@example.org:{CLEAR}davepw\r\n"
    "noDomain:{PLAIN}nd\n"
    "alice@example.com:{PLAIN}second-alice\n"
    "erin@example.net:{PLAIN}erinpw";  // no final newline

struct Lookup {
    std::optional<pop3::core::PasswdEntry> entry;
    std::vector<std::string> warnings;
};

Lookup lookup(const std::string& path, std::string_view user)
{
    Lookup result;
    const auto found = find_user(path, user, [&](std::string_view w) {
        result.warnings.emplace_back(w);
    });
    REQUIRE(found.has_value());
    result.entry = *found;
    return result;
}

} // namespace

TEST_CASE("A user is found among comments, blank and malformed lines",
          "[passwd_file]")
{
    const TempPasswdFile file(k_sample);
    const auto bob = lookup(file.path(), "bob@example.com");
    REQUIRE(bob.entry.has_value());
    CHECK(bob.entry->scheme == "SHA512-CRYPT");
    CHECK(bob.entry->secret == "$6$x$y");
    CHECK(bob.entry->uid == 1001u);
}

TEST_CASE("A malformed line is warned about with its line number and skipped",
          "[passwd_file]")
{
    const TempPasswdFile file(k_sample);
    const auto bob = lookup(file.path(), "bob@example.com");
    REQUIRE(bob.warnings.size() == 1);
    CHECK(bob.warnings[0] == "passwd-file " + file.path() +
                                 " line 5: no ':' after the user name");
}

TEST_CASE("The first entry for a user wins", "[passwd_file]")
{
    const TempPasswdFile file(k_sample);
    const auto alice = lookup(file.path(), "alice@example.com");
    REQUIRE(alice.entry.has_value());
    CHECK(alice.entry->secret == "alicepw");
    CHECK(alice.entry->home == "/home/alice");
    CHECK(alice.warnings.empty()); // found before the malformed line
}

TEST_CASE("Domains compare case-insensitively", "[passwd_file]")
{
    const TempPasswdFile file(k_sample);
    CHECK(lookup(file.path(), "bob@EXAMPLE.com").entry.has_value());
    CHECK(lookup(file.path(), "alice@Example.Com").entry.has_value());
    CHECK(lookup(file.path(), "Dave@EXAMPLE.ORG").entry.has_value());
}

TEST_CASE("Local parts compare case-sensitively", "[passwd_file]")
{
    const TempPasswdFile file(k_sample);
    CHECK_FALSE(lookup(file.path(), "Alice@example.com").entry.has_value());
    CHECK_FALSE(lookup(file.path(), "dave@example.org").entry.has_value());
    CHECK(lookup(file.path(), "Dave@example.org").entry->secret == "davepw");
}

TEST_CASE("A CRLF line end is not part of the entry", "[passwd_file]")
{
    const TempPasswdFile file(k_sample);
    CHECK(lookup(file.path(), "Dave@example.org").entry->secret == "davepw");
}

TEST_CASE("The last line is read without a final newline", "[passwd_file]")
{
    const TempPasswdFile file(k_sample);
    CHECK(lookup(file.path(), "erin@example.net").entry->secret == "erinpw");
}

TEST_CASE("A user field without '@' matches only a login without '@'",
          "[passwd_file]")
{
    const TempPasswdFile file(k_sample);
    CHECK(lookup(file.path(), "noDomain").entry.has_value());
    CHECK_FALSE(lookup(file.path(), "nodomain").entry.has_value());
    CHECK_FALSE(lookup(file.path(), "noDomain@example.com").entry.has_value());
    CHECK_FALSE(lookup(file.path(), "alice").entry.has_value());
}

TEST_CASE("An unknown user is no entry, with every bad line warned",
          "[passwd_file]")
{
    const TempPasswdFile file(k_sample);
    const auto nobody = lookup(file.path(), "nobody@example.com");
    CHECK_FALSE(nobody.entry.has_value());
    REQUIRE(nobody.warnings.size() == 2);
    CHECK(nobody.warnings[1] ==
          "passwd-file " + file.path() +
              " line 7: password scheme has '{' but no closing '}'");
}

TEST_CASE("Warnings never contain a secret", "[passwd_file]")
{
    // frank's plaintext password "pass:word99" pushes "word99" into the uid
    // field; the warning must say what is wrong without quoting it.
    const TempPasswdFile bad("frank@example.com:{PLAIN}pass:word99:1:1\n"
                             "grace@example.com:{PLAIN}topsecret\n");
    const auto grace = lookup(bad.path(), "grace@example.com");
    REQUIRE(grace.entry.has_value());
    REQUIRE(grace.warnings.size() == 1);
    CHECK(grace.warnings[0].find("word99") == std::string::npos);
    CHECK(grace.warnings[0] == "passwd-file " + bad.path() +
                                   " line 1: uid field is not a decimal number");
}

TEST_CASE("A missing passwd-file is an error code", "[passwd_file]")
{
    const TempPasswdFile file(k_sample);
    const auto found =
        find_user(file.dir() + "/absent", "alice@example.com", nullptr);
    REQUIRE_FALSE(found.has_value());
    CHECK(found.error() == std::errc::no_such_file_or_directory);
}

TEST_CASE("A directory given as passwd-file is an error code",
          "[passwd_file]")
{
    const TempPasswdFile file(k_sample);
    const auto found = find_user(file.dir(), "alice@example.com", nullptr);
    REQUIRE_FALSE(found.has_value());
    CHECK(found.error() == std::errc::is_a_directory);
}

TEST_CASE("An empty passwd-file finds nobody", "[passwd_file]")
{
    const TempPasswdFile file("");
    const auto found = lookup(file.path(), "alice@example.com");
    CHECK_FALSE(found.entry.has_value());
    CHECK(found.warnings.empty());
}
