// SASL cryptography against the RFCs' own test vectors and Dovecot's
// stored SCRAM secrets.
#include <catch2/catch.hpp>

#include "pop3/core/passwd_line.hpp"
#include "pop3/core/sasl.hpp"
#include "password_check.hpp"
#include "sasl_crypto.hpp"

using namespace pop3::core;
using namespace pop3::shell;

namespace {
// `doveadm pw -s SCRAM-SHA-256 -p ''` and `doveadm pw -s CRAM-MD5 -p ''`:
// Dovecot writes secrets of the empty password without complaint.
const char* const EMPTY_SCRAM_SHA256 =
    "4096,ehwSBdhDUfh4X7omLOfi5g==,cyh1ycm2JZnZerl9wl6QU7Y9tPndMJ/PQjtpw4vUSZ4=,"
    "FmerGevkMY0jTaOlXnl2cXRBz3SjWOMq9ZIyj9cgv6w=";
const char* const EMPTY_CRAM_CONTEXT =
    "00747cf2ffaf11c5ea4a64979c3901fc1d20dee13f480bb598f7d8575b23e61b";
// hex(HMAC-MD5("", "<c@x>")): Python's hmac.new(b"", b"<c@x>", "md5")
const char* const EMPTY_KEY_DIGEST = "d4b324d26f411d4ff8c2d0dfa48a5317";
const char* const ONE_KEY_DIGEST = "5d33c54fb07e980475c68f4d97d6c7e7";

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
    CHECK(real->salt == salt_for("key", Mechanism::scram_sha256, "user@example.org"));
    CHECK(decoy.salt == salt_for("key", Mechanism::scram_sha256, "nobody@x.org"));
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

TEST_CASE("an empty plaintext secret is unusable by CRAM-MD5 and SCRAM", "[sasl_crypto]") {
    // Before: CRAM-MD5 accepted HMAC-MD5 under an empty key, SCRAM the
    // empty password, though USER/PASS, PLAIN and APOP refused the entry.
    for (const char* scheme : {"PLAIN", "CLEAR", "CLEARTEXT", "PLAIN.HEX"}) {
        INFO(scheme);
        auto empty = entry(scheme, "");
        CHECK_FALSE(cram_md5_usable(empty));
        CHECK_FALSE(verify_cram_md5(empty, "<c@x>", EMPTY_KEY_DIGEST));
        CHECK_FALSE(scram_credentials(Mechanism::scram_sha1, empty, "k"));
        CHECK_FALSE(scram_credentials(Mechanism::scram_sha256, empty, "k"));
    }
    // the same HMAC with a one-octet secret does verify: the digest rule
    // itself is not what refuses the empty one
    // (hmac.new(b"x", b"<c@x>", "md5").hexdigest())
    CHECK(verify_cram_md5(entry("PLAIN", "x"), "<c@x>", ONE_KEY_DIGEST));
}

TEST_CASE("stored SCRAM and CRAM-MD5 secrets that are empty, malformed or the "
          "empty password's give no keys", "[sasl_crypto]") {
    for (auto m : {Mechanism::scram_sha1, Mechanism::scram_sha256}) {
        std::string scheme = m == Mechanism::scram_sha1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
        INFO(scheme);
        CHECK_FALSE(scram_credentials(m, entry(scheme, ""), "k"));
        CHECK_FALSE(scram_credentials(m, entry(scheme, ",,,"), "k"));
    }
    // an empty salt with well-formed keys (RFC 7677's, whose salt is not empty)
    CHECK_FALSE(scram_credentials(Mechanism::scram_sha256, entry("SCRAM-SHA-256",
        "4096,,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="), "k"));
    CHECK_FALSE(scram_credentials(Mechanism::scram_sha256,
                                  entry("SCRAM-SHA-256", EMPTY_SCRAM_SHA256), "k"));
    // the same shape with the RFC 7677 password "pencil" is usable
    CHECK(scram_credentials(Mechanism::scram_sha256, entry("SCRAM-SHA-256",
        "4096,W22ZaJ0SNY7soEsUEjb6gQ==,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="), "k"));
    auto empty_context = entry("CRAM-MD5", EMPTY_CRAM_CONTEXT);
    CHECK_FALSE(cram_md5_usable(empty_context));
    CHECK_FALSE(verify_cram_md5(empty_context, "<c@x>", EMPTY_KEY_DIGEST));
    CHECK_FALSE(cram_md5_usable(entry("CRAM-MD5", "")));
    CHECK_FALSE(verify_cram_md5(entry("CRAM-MD5", ""), "<c@x>", EMPTY_KEY_DIGEST));
}

TEST_CASE("no scheme accepts an empty password", "[sasl_crypto]") {
    CHECK(verify_password(entry("PLAIN", "x"), "") == Verdict::mismatch);
    CHECK(verify_password(entry("CRAM-MD5", EMPTY_CRAM_CONTEXT), "") == Verdict::mismatch);
    CHECK(verify_password(entry("SCRAM-SHA-256", EMPTY_SCRAM_SHA256), "") == Verdict::mismatch);
    // the stored secrets themselves are the empty password's
    CHECK(cram_password_matches(entry("CRAM-MD5", EMPTY_CRAM_CONTEXT), "") ==
          std::optional<bool>(true));
    CHECK(scram_password_matches(entry("SCRAM-SHA-256", EMPTY_SCRAM_SHA256), "") ==
          std::optional<bool>(true));
}

TEST_CASE("derived salts differ per mechanism, for plaintext users and decoys alike",
          "[sasl_crypto]") {
    // Before, both mechanisms got one salt per login, while a stored
    // secret's salts differ: the difference told the two kinds apart.
    CHECK(salt_for("key", Mechanism::scram_sha1, "a@x.org") !=
          salt_for("key", Mechanism::scram_sha256, "a@x.org"));
    CHECK(scram_decoy(Mechanism::scram_sha1, "nobody@x.org", "key").salt !=
          scram_decoy(Mechanism::scram_sha256, "nobody@x.org", "key").salt);
    auto one = scram_credentials(Mechanism::scram_sha1, entry("PLAIN", "pw"), "key");
    auto two = scram_credentials(Mechanism::scram_sha256, entry("PLAIN", "pw"), "key");
    REQUIRE(one);
    REQUIRE(two);
    CHECK(one->salt != two->salt);
    CHECK(one->salt.size() == two->salt.size());
}
