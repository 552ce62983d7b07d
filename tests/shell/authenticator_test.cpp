// The Authenticator against real temporary passwd-files, with its log
// written to a memory file that the test reads back.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include <sys/mman.h>
#include <unistd.h>

#include "authenticator.hpp"
#include "log.hpp"
#include "options.hpp"

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
