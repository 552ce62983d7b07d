// needs_crypto (auth_service.hpp): which sessions load pop3d-crypto.so, for
// real passwd-files in a temporary directory.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>

#include <unistd.h>

#include "auth_service.hpp"

using namespace pop3::shell;
using pop3::core::Mechanism;
using pop3::core::privsep::Offer;

namespace {

// A passwd-file with `content`, read as pop3d reads it, removed afterwards.
class Passwd {
public:
    explicit Passwd(const std::string& content) {
        std::string tmpl = "/tmp/pop3d-needs-crypto.XXXXXX";
        const int fd = ::mkstemp(tmpl.data());
        REQUIRE(fd >= 0);
        ::close(fd);
        path_ = tmpl;
        std::ofstream(path_, std::ios::binary | std::ios::trunc) << content;
        auto read = PasswdFile::read(path_);
        REQUIRE(read);
        file_.emplace(std::move(*read));
    }
    Passwd(const Passwd&) = delete;
    Passwd& operator=(const Passwd&) = delete;
    ~Passwd() { (void)std::remove(path_.c_str()); }
    const PasswdFile* file() const { return &*file_; }

private:
    std::string path_;
    std::optional<PasswdFile> file_;
};

const Offer k_plain_offer{"", {Mechanism::plain, Mechanism::login}, false};

} // namespace

TEST_CASE("A plaintext passwd-file with USER/PASS, PLAIN and LOGIN needs no module",
          "[auth_service]") {
    Passwd passwd("a@example.org:{PLAIN}x::::::\nb@example.org:{CLEAR}y::::::\n");
    CHECK_FALSE(needs_crypto(k_plain_offer, secret_kinds(passwd.file())));
    CHECK_FALSE(needs_crypto(k_plain_offer, secret_kinds(nullptr))); // unreadable: no login at all
}

TEST_CASE("One hashed secret in the passwd-file needs the module", "[auth_service]") {
    Passwd passwd("a@example.org:{PLAIN}x::::::\n"
                  "b@example.org:{SHA256}n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=::::::\n");
    CHECK(needs_crypto(k_plain_offer, secret_kinds(passwd.file())));
}

TEST_CASE("APOP, CRAM-MD5 and SCRAM offered need the module", "[auth_service]") {
    Passwd passwd("a@example.org:{PLAIN}x::::::\n");
    CHECK(needs_crypto(Offer{"<1.2@h>", {Mechanism::plain}, false}, secret_kinds(passwd.file())));
    for (auto m : {Mechanism::cram_md5, Mechanism::scram_sha1, Mechanism::scram_sha256})
        CHECK(needs_crypto(Offer{"", {Mechanism::plain, m}, false}, secret_kinds(passwd.file())));
}
