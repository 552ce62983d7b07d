// SASL cryptography against the RFCs' own test vectors and Dovecot's
// stored SCRAM secrets.
#include <catch2/catch.hpp>

#include "pop3/core/passwd_line.hpp"
#include "pop3/core/sasl.hpp"
#include "sasl_crypto.hpp"

using namespace pop3::core;
using namespace pop3::shell;

namespace {
PasswdEntry entry(std::string scheme, std::string secret) {
    PasswdEntry e;
    e.user = "user@example.org";
    e.scheme = std::move(scheme);
    e.secret = std::move(secret);
    return e;
}
} // namespace

TEST_CASE("CRAM-MD5 matches RFC 2195's example", "[sasl_crypto]") {
    auto tim = entry("PLAIN", "tanstaaftanstaaf");
    CHECK(verify_cram_md5(tim, "<1896.697170952@postoffice.reston.mci.net>",
                          "b913a602c7eda7a495b4e6e7334d3890"));
    CHECK_FALSE(verify_cram_md5(tim, "<1896.697170952@postoffice.reston.mci.net>",
                                "b913a602c7eda7a495b4e6e7334d3891"));
    CHECK_FALSE(verify_cram_md5(entry("SHA512-CRYPT", "$6$x$y"), "<c>", "00"));
}

TEST_CASE("SCRAM-SHA-256 keys verify RFC 7677's proof and signature", "[sasl_crypto]") {
    // RFC 7677 section 3: user "user", password "pencil". The keys are held
    // in Dovecot's {SCRAM-SHA-256} stored form: iterations, salt, StoredKey,
    // ServerKey; the RFC's proof must verify and its signature come out.
    std::string auth_message =
        "n=user,r=rOprNGfwEbeRWgbNEkqO,"
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    auto stored = entry("SCRAM-SHA-256",
                        "4096,W22ZaJ0SNY7soEsUEjb6gQ==,"
                        "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
                        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
    auto rfc = scram_credentials(Mechanism::scram_sha256, stored, "key");
    REQUIRE(rfc);
    CHECK(rfc->iterations == 4096);
    auto check = verify_scram(Mechanism::scram_sha256, *rfc, auth_message,
                              *base64_decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));
    CHECK(check.proof_ok);
    CHECK(base64_encode(check.server_signature) ==
          "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    auto wrong = verify_scram(Mechanism::scram_sha256, *rfc, auth_message,
                              *base64_decode("AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));
    CHECK_FALSE(wrong.proof_ok);
}

TEST_CASE("SCRAM-SHA-1 matches RFC 5802's example from a plaintext secret", "[sasl_crypto]") {
    auto keys = scram_credentials(Mechanism::scram_sha1, entry("PLAIN", "pencil"), "key");
    REQUIRE(keys);
    CHECK(keys->iterations == 4096);
    CHECK(keys->stored_key.size() == 20);
    // The RFC's exchange uses its own salt; rebuild keys with it through the
    // stored form to check the algorithm end to end.
    auto rfc = scram_credentials(Mechanism::scram_sha1,
                                 entry("SCRAM-SHA-1",
                                       "4096,QSXCR+Q6sek8bf92,"
                                       "6dlGYMOdZcOPutkcNY8U2g7vK9Y=,"
                                       "D+CSWLOshSulAsxiupA+qs2/fTE="),
                                 "key");
    REQUIRE(rfc);
    std::string auth_message =
        "n=user,r=fyko+d2lbbFgONRv9qkxdawL,"
        "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096,"
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j";
    auto check = verify_scram(Mechanism::scram_sha1, *rfc, auth_message,
                              *base64_decode("v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="));
    CHECK(check.proof_ok);
    CHECK(base64_encode(check.server_signature) == "rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

TEST_CASE("malformed stored SCRAM secrets and hashed schemes give no keys", "[sasl_crypto]") {
    CHECK_FALSE(scram_credentials(Mechanism::scram_sha256, entry("SCRAM-SHA-256", "4096,abc"), "k"));
    CHECK_FALSE(scram_credentials(Mechanism::scram_sha256, entry("SCRAM-SHA-256", "x,YQ==,YQ==,YQ=="), "k"));
    CHECK_FALSE(scram_credentials(Mechanism::scram_sha1, entry("SCRAM-SHA-256",
        "4096,W22ZaJ0SNY7soEsUEjb6gQ==,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="), "k"));
    CHECK_FALSE(scram_credentials(Mechanism::scram_sha256, entry("SHA512-CRYPT", "$6$a$b"), "k"));
}

TEST_CASE("decoys share the real users' salt rule, keyed by a server secret", "[sasl_crypto]") {
    auto decoy = scram_decoy(Mechanism::scram_sha256, "nobody@x.org", "key");
    CHECK_FALSE(decoy.known);
    CHECK(decoy.salt == scram_decoy(Mechanism::scram_sha256, "nobody@x.org", "key").salt);
    CHECK(decoy.salt != scram_decoy(Mechanism::scram_sha256, "nobody@x.org", "other").salt);
    auto real = scram_credentials(Mechanism::scram_sha256, entry("PLAIN", "pw"), "key");
    REQUIRE(real);
    CHECK(real->salt == salt_for("key", "user@example.org"));
    CHECK(decoy.salt == salt_for("key", "nobody@x.org"));
    CHECK(decoy.iterations == real->iterations);
}

TEST_CASE("USER/PASS works for users with a stored SCRAM secret", "[sasl_crypto]") {
    auto rfc = entry("SCRAM-SHA-256",
                     "4096,W22ZaJ0SNY7soEsUEjb6gQ==,"
                     "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
                     "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
    CHECK(scram_password_matches(rfc, "pencil") == std::optional<bool>(true));
    CHECK(scram_password_matches(rfc, "pen") == std::optional<bool>(false));
    CHECK_FALSE(scram_password_matches(entry("SCRAM-SHA-256", "x"), "pencil"));
}

TEST_CASE("Dovecot's stored {CRAM-MD5} context verifies CRAM-MD5", "[sasl_crypto]") {
    // `doveadm pw -s CRAM-MD5 -p secret`; the expected digest is
    // HMAC-MD5("secret", "<c@x>") from Python's hmac module.
    auto stored = entry("CRAM-MD5",
                        "cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56");
    CHECK(cram_md5_usable(stored));
    CHECK(verify_cram_md5(stored, "<c@x>", "6402df2b4d48e7b592de8d053924d48d"));
    CHECK_FALSE(verify_cram_md5(stored, "<c@y>", "6402df2b4d48e7b592de8d053924d48d"));
    CHECK_FALSE(cram_md5_usable(entry("CRAM-MD5", "xyz")));
    CHECK(cram_password_matches(stored, "secret") == std::optional<bool>(true));
    CHECK(cram_password_matches(stored, "Secret") == std::optional<bool>(false));
}
