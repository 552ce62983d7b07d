// The Authenticator against real temporary passwd-files, with its log
// written to a memory file that the test reads back.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authenticator.hpp"
#include "hash_slots.hpp"
#include "log.hpp"
#include "options.hpp"
#include "server_secret.hpp"

using namespace pop3::shell;
using pop3::core::AuthResult;

namespace {

// A temporary directory for passwd-files and other auth files, removed
// afterwards with everything in it.
class TempDir {
public:
    TempDir() {
        std::string tmpl = "/tmp/pop3d-auth-test.XXXXXX";
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path_ = tmpl;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        const std::string command = "rm -rf '" + path_ + "'";
        (void)std::system(command.c_str());
    }
    std::string file(const std::string& name) const { return path_ + "/" + name; }
    std::string write(const std::string& name, const std::string& content) const {
        std::ofstream out(file(name), std::ios::binary | std::ios::trunc);
        out << content;
        REQUIRE(out.good());
        return file(name);
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// A Log whose lines the test can read back.
class CapturedLog {
public:
    CapturedLog() : fd_(::memfd_create("pop3d-test-log", MFD_CLOEXEC)), log_(fd_) {
        REQUIRE(fd_ >= 0);
    }
    CapturedLog(const CapturedLog&) = delete;
    CapturedLog& operator=(const CapturedLog&) = delete;
    ~CapturedLog() { ::close(fd_); }
    const Log& log() const { return log_; }
    std::string text() const {
        std::string out;
        char buffer[4096];
        for (off_t at = 0;;) {
            auto got = ::pread(fd_, buffer, sizeof buffer, at);
            if (got <= 0) break;
            out.append(buffer, static_cast<std::size_t>(got));
            at += got;
        }
        return out;
    }

private:
    int fd_;
    Log log_;
};

Options test_options(const std::string& passwd) {
    Options o;
    o.passwd_file = passwd;
    o.auth_failure_delay_ms = 0;
    // beside the passwd-file, not in /run/pop3d
    o.hash_slot_dir = passwd.substr(0, passwd.rfind('/')) + "/hash-slots";
    return o;
}

} // namespace

TEST_CASE("a passwd-file unreadable at start-up is not read later: the "
          "Authenticator opens no files after construction",
          "[authenticator]") {
    TempDir dir;
    auto options = test_options(dir.file("passwd")); // not there yet
    CapturedLog log;
    auto resources = open_auth_resources(options, log.log());
    CHECK_FALSE(resources.passwd);
    CHECK(log.text().find("cannot read passwd-file") != std::string::npos);
    Authenticator auth(options, log.log(), "", std::move(resources));
    dir.write("passwd", "alice@example.org:{PLAIN}secret::::::\n");
    auto result = auth.check_password("alice@example.org", "secret");
    CHECK(result.outcome == AuthResult::Outcome::unavailable);
}

TEST_CASE("the passwd-file is read once, at start-up: later edits do not "
          "change the session's logins",
          "[authenticator]") {
    TempDir dir;
    auto options = test_options(dir.write("passwd", "alice@example.org:{PLAIN}old::::::\n"));
    CapturedLog log;
    Authenticator auth(options, log.log(), "", open_auth_resources(options, log.log()));
    dir.write("passwd", "alice@example.org:{PLAIN}new::::::\n");
    CHECK(auth.check_password("alice@example.org", "new").outcome ==
          AuthResult::Outcome::rejected);
    CHECK(auth.check_password("alice@example.org", "old").outcome ==
          AuthResult::Outcome::accepted);
}

namespace {
// RFC 7677's SCRAM-SHA-256 example as Dovecot stores it (password "pencil").
const std::string k_rfc7677 =
    "{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==,"
    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
const std::string k_scram_passwd = "alice@example.org:{PLAIN}secret::::::\n"
                                   "bob@example.org:" + k_rfc7677 + "::::::\n";

struct Salts {
    std::string sha1, sha256;
    std::uint32_t iterations1 = 0, iterations256 = 0;
};

Salts salts_of(Authenticator& auth, std::string_view user) {
    auto one = auth.scram_lookup(pop3::core::Mechanism::scram_sha1, user);
    auto two = auth.scram_lookup(pop3::core::Mechanism::scram_sha256, user);
    return {one.salt, two.salt, one.iterations, two.iterations};
}

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}
} // namespace

TEST_CASE("in one connection, unknown, plaintext and stored-SCRAM users all get "
          "different salts per mechanism",
          "[authenticator][scram]") {
    TempDir dir;
    auto options = test_options(dir.write("passwd", k_scram_passwd));
    options.server_secret = dir.write("secret", std::string(32, 's'));
    CapturedLog log;
    Authenticator auth(options, log.log(), "", open_auth_resources(options, log.log()));
    for (const char* user : {"alice@example.org", "nobody@example.org", "bob@example.org"}) {
        INFO(user);
        auto s = salts_of(auth, user);
        CHECK(s.sha1 != s.sha256);
        CHECK(s.sha1.size() == 16);
        CHECK(s.sha256.size() == 16);
        CHECK(s.iterations1 == 4096);
        CHECK(s.iterations256 == 4096);
    }
    // bob's SCRAM-SHA-256 salt is the stored one; his SCRAM-SHA-1 one a decoy
    CHECK(salts_of(auth, "bob@example.org").sha256 ==
          std::string("\x5b\x6d\x99\x68\x9d\x12\x35\x8e\xec\xa0\x4b\x14\x12\x36\xfa\x81", 16));
    CHECK(log.text().find("no server secret") == std::string::npos);
}

TEST_CASE("with a server secret, derived and decoy salts survive passwd-file edits",
          "[authenticator][scram]") {
    TempDir dir;
    auto options = test_options(dir.write("passwd", k_scram_passwd));
    options.server_secret = dir.file("secret");
    REQUIRE(make_server_secret(options.server_secret));
    CapturedLog log;
    Authenticator before(options, log.log(), "", open_auth_resources(options, log.log()));
    dir.write("passwd", k_scram_passwd + "carol@example.org:{PLAIN}new::::::\n");
    Authenticator after(options, log.log(), "", open_auth_resources(options, log.log()));
    for (const char* user : {"alice@example.org", "nobody@example.org"}) {
        INFO(user);
        auto a = salts_of(before, user);
        auto b = salts_of(after, user);
        CHECK(a.sha1 == b.sha1);
        CHECK(a.sha256 == b.sha256);
    }
    CHECK(log.text().find("no server secret") == std::string::npos);
}

TEST_CASE("without a server secret, salts fall back to the passwd-file digest, "
          "with one warning",
          "[authenticator][scram]") {
    TempDir dir;
    auto options = test_options(dir.write("passwd", k_scram_passwd));
    options.server_secret = dir.file("missing-secret");
    CapturedLog log;
    Authenticator before(options, log.log(), "", open_auth_resources(options, log.log()));
    auto a = salts_of(before, "nobody@example.org");
    auto again = salts_of(before, "nobody@example.org");
    CHECK(a.sha1 == again.sha1);
    CHECK(count(log.text(), "warning: no server secret (" + options.server_secret +
                                ": No such file or directory)") == 1);
    dir.write("passwd", k_scram_passwd + "carol@example.org:{PLAIN}new::::::\n");
    Authenticator after(options, log.log(), "", open_auth_resources(options, log.log()));
    CHECK(salts_of(after, "nobody@example.org").sha1 != a.sha1);
}

TEST_CASE("--make-server-secret writes 32 octets for its owner only and never "
          "overwrites",
          "[server_secret]") {
    TempDir dir;
    auto path = dir.file("secret");
    ::umask(0); // the mode must not depend on the umask
    auto made = make_server_secret(path);
    ::umask(022);
    REQUIRE(made);
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    CHECK((info.st_mode & 07777) == 0600);
    auto first = read_server_secret(path);
    REQUIRE(first);
    CHECK(first->size() == 32);
    auto refused = make_server_secret(path);
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == path + " exists; not overwritten");
    CHECK(read_server_secret(path) == first);
    // a symlink, even a dangling one, is not followed
    REQUIRE(::symlink(dir.file("elsewhere").c_str(), dir.file("link").c_str()) == 0);
    CHECK_FALSE(make_server_secret(dir.file("link")));
    CHECK(::access(dir.file("elsewhere").c_str(), F_OK) != 0);
}

TEST_CASE("a server secret shorter than 16 octets is refused", "[server_secret]") {
    TempDir dir;
    auto shorter = read_server_secret(dir.write("short", "0123456789abcde"));
    REQUIRE_FALSE(shorter);
    CHECK(shorter.error() == "too short: 15 octets, at least 16");
    CHECK(read_server_secret(dir.write("ok", "0123456789abcdef")));
    CHECK_FALSE(read_server_secret(dir.file("missing")));
}

namespace {
// doveadm pw -s ARGON2ID -p secret (m=64 MiB, t=3: Dovecot's defaults)
const std::string k_argon2id =
    "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$M0vc5JueQnR2P2R02d/CjA$"
    "iGJD9UCBB88vE1IdnC4bUPrTnYauUOXx8XwkaZ2gpgM";
// doveadm pw -s BLF-CRYPT -p secret
const std::string k_bcrypt =
    "{BLF-CRYPT}$2y$05$a32XlB1CirLjQU385x1muuCq0vxXouIrtypzzyzmhyPMoGso/4SPy";
const std::string k_mixed_passwd = "alice@example.org:{PLAIN}secret::::::\n"
                                   "bob@example.org:" + k_bcrypt + "::::::\n"
                                   "carol@example.org:" + k_argon2id + "::::::\n"
                                   "dave@example.org:{DIGEST-MD5}abc::::::\n";
} // namespace

TEST_CASE("an unknown user's USER/PASS runs a dummy verification against the "
          "costliest secret in the passwd-file",
          "[authenticator][timing]") {
    TempDir dir;
    auto options = test_options(dir.write("passwd", k_mixed_passwd));
    CapturedLog log;
    Authenticator auth(options, log.log(), "", open_auth_resources(options, log.log()));
    CHECK(auth.check_password("nobody@example.org", "guess").outcome ==
          AuthResult::Outcome::rejected);
    CHECK(auth.stats().dummy_verifications == 1);
    CHECK(auth.stats().dummy_scheme == "ARGON2ID");
    // a real verification needs no dummy
    CHECK(auth.check_password("bob@example.org", "guess").outcome ==
          AuthResult::Outcome::rejected);
    CHECK(auth.check_password("alice@example.org", "guess").outcome ==
          AuthResult::Outcome::rejected);
    CHECK(auth.stats().dummy_verifications == 1);
    // a scheme that cannot verify gets one, like an unknown user
    CHECK(auth.check_password("dave@example.org", "guess").outcome ==
          AuthResult::Outcome::rejected);
    CHECK(auth.stats().dummy_verifications == 2);
    CHECK(auth.check_password("nobody@example.org", "guess", "AUTH PLAIN").outcome ==
          AuthResult::Outcome::rejected);
    CHECK(auth.stats().dummy_verifications == 3);
    // the dummy never lets anyone in, even with the dummy secret's password
    CHECK(auth.check_password("nobody@example.org", "secret").outcome ==
          AuthResult::Outcome::rejected);
    auto text = log.text();
    CHECK(text.find("login failed for \"nobody@example.org\"") != std::string::npos);
    CHECK(text.find("login nobody") == std::string::npos);
}

TEST_CASE("with only plaintext secrets the dummy is a plaintext comparison",
          "[authenticator][timing]") {
    TempDir dir;
    auto options = test_options(dir.write("passwd", "alice@example.org:{PLAIN}secret::::::\n"));
    CapturedLog log;
    Authenticator auth(options, log.log(), "", open_auth_resources(options, log.log()));
    CHECK(auth.check_password("nobody@example.org", "x").outcome ==
          AuthResult::Outcome::rejected);
    CHECK(auth.stats().dummy_scheme == "PLAIN");
}

TEST_CASE("a failure whose work outlasts the failure delay is logged once",
          "[authenticator][timing]") {
    // Argon2 with 64 MiB of memory takes well over a millisecond on any
    // machine; the log line, not a measured time, is what is checked.
    TempDir dir;
    auto options = test_options(dir.write("passwd", k_mixed_passwd));
    options.auth_failure_delay_ms = 1;
    CapturedLog log;
    Authenticator auth(options, log.log(), "", open_auth_resources(options, log.log()));
    (void)auth.check_password("carol@example.org", "guess");
    (void)auth.check_password("nobody@example.org", "guess");
    auto text = log.text();
    CHECK(count(text, "more than --auth-failure-delay 1 ms") == 1);
}

TEST_CASE("with one hash slot, a second verification waits for it and says so",
          "[hash_slots]") {
    TempDir dir;
    auto first = HashSlots::open(dir.file("slots"), 1);
    auto second = HashSlots::open(dir.file("slots"), 1);
    REQUIRE(first);
    REQUIRE(second);
    auto held = first->acquire([] { FAIL("the only slot was free"); });
    REQUIRE(held.held());
    bool waited = false;
    // Called just before blocking: releasing the holder here lets the wait
    // end, so the test needs neither threads nor timing.
    auto got = second->acquire([&] {
        waited = true;
        held.release();
    });
    CHECK(waited);
    CHECK(got.held());
    struct stat info {};
    REQUIRE(::stat(dir.file("slots").c_str(), &info) == 0);
    CHECK((info.st_mode & 07777) == 0700);
    REQUIRE(::stat(dir.file("slots/slot-0").c_str(), &info) == 0);
    CHECK((info.st_mode & 07777) == 0600);
}

TEST_CASE("free hash slots are taken without waiting; with none there is no cap",
          "[hash_slots]") {
    TempDir dir;
    auto a = HashSlots::open(dir.file("slots"), 2);
    auto b = HashSlots::open(dir.file("slots"), 2);
    auto c = HashSlots::open(dir.file("slots"), 2);
    REQUIRE((a && b && c));
    auto one = a->acquire([] { FAIL("two slots were free"); });
    auto two = b->acquire([] { FAIL("one slot was free"); });
    CHECK((one.held() && two.held()));
    bool waited = false;
    auto three = c->acquire([&] {
        waited = true;
        one.release();
    });
    CHECK(waited);
    CHECK(three.held());
    auto none = HashSlots::open(dir.file("unused"), 0);
    REQUIRE(none);
    CHECK_FALSE(none->acquire([] { FAIL("no slots: no wait"); }).held());
    CHECK(::access(dir.file("unused").c_str(), F_OK) != 0);
    CHECK_FALSE(HashSlots::open(dir.file("passwd-not-a-dir/x"), 1));
}

TEST_CASE("a passwd-file without hashed secrets takes no hash slot, for a known "
          "user or an unknown one",
          "[authenticator][hash_slots]") {
    // Plaintext comparisons take microseconds whoever logs in (issue 16: 32
    // concurrent logins queued on two slots). The only slot is held here:
    // a login that took it would block, so an alarm fails the test instead.
    TempDir dir;
    auto held_slots = HashSlots::open(dir.file("slots"), 1);
    REQUIRE(held_slots);
    auto held = held_slots->acquire([] { FAIL("the only slot was free"); });
    REQUIRE(held.held());
    auto options = test_options(dir.write("passwd", "alice@example.org:{PLAIN}secret::::::\n"
                                                    "bob@example.org:{CLEAR}pw::::::\n"));
    options.hash_slot_dir = dir.file("slots");
    options.hash_slots = 1;
    options.auth_failure_delay_ms = 1;
    CapturedLog log;
    Authenticator auth(options, log.log(), "", open_auth_resources(options, log.log()));
    ::alarm(20);
    CHECK(auth.check_password("alice@example.org", "secret").outcome ==
          AuthResult::Outcome::accepted);
    CHECK(auth.check_password("nobody@example.org", "secret").outcome ==
          AuthResult::Outcome::rejected);
    CHECK(auth.check_password("bob@example.org", "guess").outcome ==
          AuthResult::Outcome::rejected);
    ::alarm(0);
    CHECK(count(log.text(), "waiting for a hash slot") == 0);

    // (With one hashed secret in the file, a plaintext user's login waits
    // for a busy slot like anyone's: test_hostile_clients,
    // "unknown users and wrong passwords both wait for a busy hash slot".)
}

TEST_CASE("an unusable hash-slot directory is warned about once, and logins go on",
          "[authenticator][hash_slots]") {
    TempDir dir;
    auto options = test_options(dir.write("passwd", k_mixed_passwd));
    options.hash_slot_dir = dir.file("passwd") + "/slots"; // under a file
    CapturedLog log;
    Authenticator auth(options, log.log(), "", open_auth_resources(options, log.log()));
    CHECK(auth.check_password("alice@example.org", "secret").outcome ==
          AuthResult::Outcome::accepted);
    (void)auth.check_password("alice@example.org", "guess");
    CHECK(count(log.text(), "warning: no hash slots (" + options.hash_slot_dir +
                                ": Not a directory); password hashing is not capped") == 1);
}

TEST_CASE("the failed-login line names the client, and a user name cannot "
          "close its quotes",
          "[authenticator][log]") {
    TempDir dir;
    auto options = test_options(dir.write("passwd", "alice@example.org:{PLAIN}secret::::::\n"));
    CapturedLog log;
    Authenticator auth(options, log.log(), "", open_auth_resources(options, log.log()));
    auth.set_client("127.0.0.1");
    (void)auth.check_password("alice@example.org", "guess");
    CHECK(log.text().find("login failed for \"alice@example.org\" from 127.0.0.1 "
                          "(USER/PASS): wrong password") != std::string::npos);
    // a name that tries to end the quotes and supply its own address
    (void)auth.check_password("x\" from 127.6.6.6 (USER/PASS): unknown user \\", "guess",
                              "AUTH PLAIN");
    CHECK(log.text().find("login failed for \"x\\\" from 127.6.6.6 (USER/PASS): unknown "
                          "user \\\\\" from 127.0.0.1 (AUTH PLAIN): invalid user name") !=
          std::string::npos);
}

TEST_CASE("quoted user names escape exactly the backslash and the quote, and "
          "client addresses are one word",
          "[authenticator][log]") {
    CHECK(Authenticator::quoted_user("a@b") == "\"a@b\"");
    CHECK(Authenticator::quoted_user("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(Authenticator::quoted_user(std::string(150, 'u')) ==
          "\"" + std::string(100, 'u') + "\"");
    TempDir dir;
    auto options = test_options(dir.write("passwd", ""));
    CapturedLog log;
    Authenticator auth(options, log.log(), "", open_auth_resources(options, log.log()));
    auth.set_client("::1 from 127.6.6.6");
    (void)auth.check_password("nobody@example.org", "guess");
    CHECK(log.text().find("from ::1?from?127.6.6.6 (USER/PASS)") != std::string::npos);
}
