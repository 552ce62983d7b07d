// Password verification against secrets produced by Dovecot's own
// `doveadm pw` (dovecot-core 2.3.19.1, Debian 12), so pop3d accepts exactly
// the passwd-file the IMAP server uses. Every hash below was generated once
// with the command quoted next to it and pasted in; no tool runs at test time.
#include <catch2/catch.hpp>

#include <string>

#include "password_check.hpp"

using pop3::core::PasswdEntry;
using pop3::shell::plaintext_secret;
using pop3::shell::Verdict;
using pop3::shell::verify_apop;
using pop3::shell::verify_password;

namespace {

PasswdEntry entry(std::string scheme, std::string secret)
{
    PasswdEntry e;
    e.user = "alice@example.com";
    e.scheme = std::move(scheme);
    e.secret = std::move(secret);
    return e;
}

// Checks the right password matches and a few wrong ones do not.
void check_scheme(const std::string& scheme, const std::string& secret,
                  const std::string& password = "secret")
{
    INFO("{" << scheme << "}" << secret);
    const auto e = entry(scheme, secret);
    CHECK(verify_password(e, password) == Verdict::match);
    CHECK(verify_password(e, "wrong") == Verdict::mismatch);
    CHECK(verify_password(e, "") == Verdict::mismatch);
    CHECK(verify_password(e, password + "x") == Verdict::mismatch);
    CHECK(verify_password(e, password.substr(0, password.size() - 1)) ==
          Verdict::mismatch);
}

} // namespace

TEST_CASE("PLAIN and CLEAR secrets from doveadm verify", "[password]")
{
    // doveadm pw -s PLAIN -p secret
    check_scheme("PLAIN", "secret");
    // doveadm pw -s CLEAR -p secret
    check_scheme("CLEAR", "secret");
    // doveadm pw -s CLEARTEXT -p secret
    check_scheme("CLEARTEXT", "secret");
    // doveadm pw -s PLAIN.B64 -p secret
    check_scheme("PLAIN.B64", "c2VjcmV0");
}

TEST_CASE("A CRYPT secret from doveadm verifies", "[password]")
{
    // doveadm pw -s CRYPT -p secret (Dovecot 2.3 on Debian 12 makes bcrypt)
    check_scheme("CRYPT",
                 "$2y$05$UKr/.JWzuwrxM5lbV3/o0.7QklyOi.YmbSEBl.NfyKFxidvB79Zfq");
}

TEST_CASE("A DES-CRYPT secret from doveadm verifies", "[password]")
{
    // doveadm pw -s DES-CRYPT -p secret
    check_scheme("DES-CRYPT", "vpwbvxR0P07wU");
}

TEST_CASE("MD5-CRYPT secrets from doveadm verify", "[password]")
{
    // doveadm pw -s MD5-CRYPT -p secret
    check_scheme("MD5-CRYPT", "$1$jBWYL.W6$6Y1grvWY9K.XLNzvJeiEs/");
    // doveadm pw -s MD5 -p secret (Dovecot's MD5 is an alias of MD5-CRYPT)
    check_scheme("MD5", "$1$UXWINife$67TDZry.F/ExQ0J7FICuU0");
}

TEST_CASE("A SHA256-CRYPT secret from doveadm verifies", "[password]")
{
    // doveadm pw -s SHA256-CRYPT -p secret
    check_scheme("SHA256-CRYPT",
                 "$5$QjoYbd5/jdxQBuex$YPGtr/eghwZGKZSOyGouGrPWyoo.9gwT87f8B03vsh6");
    // doveadm pw -s SHA256-CRYPT -p 'pässwörd with spaces' (UTF-8)
    check_scheme("SHA256-CRYPT",
                 "$5$TA.rBMjMZlqYENhU$B6Kqm16DOE2yEbvWCKD08UuAOXFuTqz3zaTXf.5bEx8",
                 "p\xC3\xA4ssw\xC3\xB6rd with spaces");
}

TEST_CASE("A SHA512-CRYPT secret from doveadm verifies", "[password]")
{
    // doveadm pw -s SHA512-CRYPT -p secret
    check_scheme("SHA512-CRYPT",
                 "$6$.8tcpKSKxnvHB3d7$qYt4GizoEbQE08gN2MRsAnkYitr.yTinskmI71j39D"
                 "bRdSyL36a8zaNiq2RKBptIPEGb3jWCOF2NC2Fy1ILZk.");
    // doveadm pw -s SHA512-CRYPT -p 'pässwörd with spaces' (UTF-8)
    check_scheme("SHA512-CRYPT",
                 "$6$tyeTIr8hvEVBDpEP$wxiF7mBSRFA1nyGdFZmZuXoiBL/kJHvKgVXHCJF6r4"
                 "uiUOWuuPLuY5dzNd7jAEjeqQN8DN8.AyFjSJLcZYCF21",
                 "p\xC3\xA4ssw\xC3\xB6rd with spaces");
}

TEST_CASE("A BLF-CRYPT secret from doveadm verifies", "[password]")
{
    // doveadm pw -s BLF-CRYPT -p secret
    check_scheme("BLF-CRYPT",
                 "$2y$05$a32XlB1CirLjQU385x1muuCq0vxXouIrtypzzyzmhyPMoGso/4SPy");
}

TEST_CASE("A yescrypt CRYPT secret verifies", "[password]")
{
    // doveadm pw cannot generate yescrypt, so this was made with libxcrypt
    // itself from Python 3.11 (/usr/bin/python3):
    //   lib = ctypes.CDLL("libcrypt.so.1")
    //   salt = lib.crypt_gensalt(b"$y$", 0, None, 0)  -> $y$j9T$14btCeCs...
    //   crypt.crypt("secret", salt)
    // and checked with Dovecot:
    //   doveadm pw -t '{CRYPT}$y$j9T$14btCeCs...' -p secret  -> (verified)
    check_scheme("CRYPT", "$y$j9T$14btCeCshCnRA7NDG1lZq/$Tbk2lFm1AmOC15VKFLJ"
                          "ChgY0dPXKqjTlmvyX1rtzfr7");
}

TEST_CASE("SHA256 and SSHA256 secrets from doveadm verify", "[password]")
{
    // doveadm pw -s SHA256 -p secret
    check_scheme("SHA256", "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=");
    // doveadm pw -s SHA256.HEX -p secret
    check_scheme("SHA256.HEX", "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef"
                               "6a25fe97bf527a25b");
    // The same hex under plain {SHA256}: doveadm pw -t accepts it too.
    check_scheme("SHA256", "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a2"
                           "5fe97bf527a25b");
    // doveadm pw -s SSHA256 -p secret
    check_scheme("SSHA256",
                 "FFhE/gGT2uf8zzCfrV607fgalj/61WKxffgQFjNm/OXMwM8o");
    // doveadm pw -s SSHA256.HEX -p secret
    check_scheme("SSHA256.HEX", "dc5240f56c12a7be55124991fc840d3b6c3af22dce39b8"
                                "a262c827a827447d9763e439d7");
}

TEST_CASE("SHA512 and SSHA512 secrets from doveadm verify", "[password]")
{
    // doveadm pw -s SHA512 -p secret
    check_scheme("SHA512", "vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKn"
                           "vCXdhztmeD2cmW192CF5bDufKRpayrW/isg==");
    // doveadm pw -s SHA512.HEX -p secret
    check_scheme("SHA512.HEX",
                 "bd2b1aaf7ef4f09be9f52ce2d8d599674d81aa9d6a4421696dc4d93dd0619"
                 "d682ce56b4d64a9ef097761ced99e0f67265b5f76085e5b0ee7ca4696b2ad"
                 "6fe2b2");
    // doveadm pw -s SSHA512 -p secret
    check_scheme("SSHA512", "sMv0kBGclQTZc9+QZ6iSPvIWCKjRfveg5H1ctAZS99jG2XqqFbb"
                            "WMlzPR9LrUeXllBg2+PxErH5otqlRfj/qujSSeX8=");
    // doveadm pw -s SSHA512 -p 'pässwörd with spaces' (UTF-8)
    check_scheme("SSHA512",
                 "DYxDlbKp298bD4yIWh3Ho06xFDXqcuvaZeENY8McsznOXiqHlRlmGuggTU0M6"
                 "Co9+lftX4uxyUJTq8JWVDLIWb0zC+A=",
                 "p\xC3\xA4ssw\xC3\xB6rd with spaces");
}

TEST_CASE("SHA1, SSHA and the MD5 digest secrets from doveadm verify",
          "[password]")
{
    // doveadm pw -s SHA1 -p secret
    check_scheme("SHA1", "5en6G6MezRroT3XKqkdPOmY/BfQ=");
    // doveadm pw -s SHA -p secret
    check_scheme("SHA", "5en6G6MezRroT3XKqkdPOmY/BfQ=");
    // doveadm pw -s SSHA -p secret
    check_scheme("SSHA", "BcwyqXJT0qhbUg9O3mS6NoITtFlMoa/d");
    // doveadm pw -s PLAIN-MD5 -p secret
    check_scheme("PLAIN-MD5", "5ebe2294ecd0e0f08eab7690d2a6ee69");
    // doveadm pw -s LDAP-MD5 -p secret
    check_scheme("LDAP-MD5", "Xr4ilOzQ4PCOq3aQ0qbuaQ==");
    // doveadm pw -s SMD5 -p secret
    check_scheme("SMD5", "Fk32iH9HF+wlXoi6GLZwc3ft79Q=");
}

TEST_CASE("ARGON2I and ARGON2ID secrets from doveadm verify", "[password]")
{
    // doveadm pw -s ARGON2I -p secret
    check_scheme("ARGON2I", "$argon2i$v=19$m=32768,t=4,p=1$bDtix1b+7BwMAYj7BCXMj"
                            "Q$Q/3QbtsmWGMeaJ1oYXP2s6CxrHLzCcKwRBjzBS9+msc");
    // doveadm pw -s ARGON2ID -p secret
    check_scheme("ARGON2ID", "$argon2id$v=19$m=65536,t=3,p=1$M0vc5JueQnR2P2R02d"
                             "/CjA$iGJD9UCBB88vE1IdnC4bUPrTnYauUOXx8XwkaZ2gpgM");
}

TEST_CASE("Base64 secrets without their '=' padding still verify",
          "[password]")
{
    // doveadm pw -s SHA256 -p secret, with the trailing '=' removed.
    check_scheme("SHA256", "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols");
}

TEST_CASE("An unknown scheme is unsupported, not a mismatch", "[password]")
{
    CHECK(verify_password(entry("SCRAM-SHA-256", "x"), "secret") ==
          Verdict::unsupported);
    CHECK(verify_password(entry("NOSUCH", "x"), "secret") ==
          Verdict::unsupported);
    CHECK(verify_password(entry("SHA256.ROT13", "x"), "secret") ==
          Verdict::unsupported);
    CHECK(verify_password(entry("SHA512-CRYPT.HEX", "$6$a$b"), "secret") ==
          Verdict::unsupported);
}

TEST_CASE("A secret that cannot be decoded for its scheme is unsupported",
          "[password]")
{
    // Not base64.
    CHECK(verify_password(entry("SHA256", "not*base64!"), "secret") ==
          Verdict::unsupported);
    // Valid base64 of the wrong length for SHA-256.
    CHECK(verify_password(entry("SHA256", "c2VjcmV0"), "secret") ==
          Verdict::unsupported);
    // A salted digest with no salt at all.
    CHECK(verify_password(entry("SSHA256", "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72"
                                           "ol/pe/Unols="),
                          "secret") == Verdict::unsupported);
    CHECK(verify_password(entry("SHA256.HEX", "zz"), "secret") ==
          Verdict::unsupported);
    // Not a crypt(3) setting libxcrypt knows.
    CHECK(verify_password(entry("CRYPT", "$9$nosuchmethod"), "secret") ==
          Verdict::unsupported);
    CHECK(verify_password(entry("ARGON2ID", "$argon2id$garbage"), "secret") ==
          Verdict::unsupported);
    CHECK(verify_password(entry("ARGON2ID", "notargon"), "secret") ==
          Verdict::unsupported);
}

TEST_CASE("An empty secret never matches, whatever the scheme",
          "[password]")
{
    for (const char* scheme : {"PLAIN", "CRYPT", "SHA256", "ARGON2ID"}) {
        CHECK(verify_password(entry(scheme, ""), "") == Verdict::mismatch);
        CHECK(verify_password(entry(scheme, ""), "x") == Verdict::mismatch);
    }
}

TEST_CASE("A password with a NUL byte never matches a crypt secret",
          "[password]")
{
    using namespace std::string_literals;
    // doveadm pw -s SHA512-CRYPT -p secret
    const auto e = entry("SHA512-CRYPT",
                         "$6$.8tcpKSKxnvHB3d7$qYt4GizoEbQE08gN2MRsAnkYitr.yTin"
                         "skmI71j39DbRdSyL36a8zaNiq2RKBptIPEGb3jWCOF2NC2Fy1ILZk.");
    CHECK(verify_password(e, "secret\0junk"s) == Verdict::mismatch);
    CHECK(verify_password(entry("PLAIN", "secret"), "secret\0"s) ==
          Verdict::mismatch);
}

TEST_CASE("Only PLAIN and CLEAR entries expose a plaintext secret",
          "[password]")
{
    CHECK(plaintext_secret(entry("PLAIN", "secret")) == "secret");
    CHECK(plaintext_secret(entry("CLEAR", "secret")) == "secret");
    CHECK(plaintext_secret(entry("CLEARTEXT", "secret")) == "secret");
    CHECK(plaintext_secret(entry("PLAIN.B64", "c2VjcmV0")) == "secret");
    CHECK_FALSE(plaintext_secret(entry("CRYPT", "$1$a$b")).has_value());
    CHECK_FALSE(plaintext_secret(entry("SHA256", "K7gN")).has_value());
    CHECK_FALSE(plaintext_secret(entry("PLAIN-MD5", "5ebe")).has_value());
}

TEST_CASE("APOP verifies the RFC 1939 example digest", "[password][apop]")
{
    // RFC 1939 section 7: banner, secret "tanstaaf", digest.
    const auto e = entry("PLAIN", "tanstaaf");
    const std::string banner = "<1896.697170952@dbc.mtview.ca.us>";
    CHECK(verify_apop(e, banner, "c4c9334bac560ecc979e58001b3e22fb"));
    CHECK(verify_apop(e, banner, "C4C9334BAC560ECC979E58001B3E22FB"));
    CHECK(verify_apop(entry("CLEAR", "tanstaaf"), banner,
                      "c4c9334bac560ecc979e58001b3e22fb"));
}

TEST_CASE("APOP rejects wrong digests, banners and secrets",
          "[password][apop]")
{
    const auto e = entry("PLAIN", "tanstaaf");
    const std::string banner = "<1896.697170952@dbc.mtview.ca.us>";
    CHECK_FALSE(verify_apop(e, banner, "c4c9334bac560ecc979e58001b3e22fc"));
    CHECK_FALSE(verify_apop(e, banner, "c4c9334bac560ecc979e58001b3e22f"));
    CHECK_FALSE(verify_apop(e, banner, "c4c9334bac560ecc979e58001b3e22fbb"));
    CHECK_FALSE(verify_apop(e, banner, ""));
    CHECK_FALSE(verify_apop(e, "<1897.697170952@dbc.mtview.ca.us>",
                            "c4c9334bac560ecc979e58001b3e22fb"));
    CHECK_FALSE(verify_apop(entry("PLAIN", "tanstaafl"), banner,
                            "c4c9334bac560ecc979e58001b3e22fb"));
}

TEST_CASE("APOP is refused for entries without a plaintext secret",
          "[password][apop]")
{
    const std::string banner = "<1896.697170952@dbc.mtview.ca.us>";
    // doveadm pw -s PLAIN-MD5 -p tanstaaf would not help: APOP needs the
    // secret itself, so hashed entries can never use it.
    CHECK_FALSE(verify_apop(entry("SHA256", "tanstaaf"), banner,
                            "c4c9334bac560ecc979e58001b3e22fb"));
    CHECK_FALSE(verify_apop(entry("CRYPT", "tanstaaf"), banner,
                            "c4c9334bac560ecc979e58001b3e22fb"));
    // An empty secret: MD5(banner), the digest an empty secret would give,
    // must not log anyone in.
    CHECK_FALSE(verify_apop(entry("PLAIN", ""), banner,
                            "6d7379174f7df9fb329480e5c47c1f1a"));
}

TEST_CASE("The cost estimate orders schemes by the work they take",
          "[password][cost]")
{
    using pop3::shell::estimated_cost;
    const auto argon2id = estimated_cost(
        "ARGON2ID", "$argon2id$v=19$m=65536,t=3,p=1$M0vc5JueQnR2P2R02d/CjA$x");
    const auto argon2_small = estimated_cost(
        "ARGON2I", "$argon2i$v=19$m=32768,t=4,p=1$bDtix1b+7BwMAYj7BCXMjQ$x");
    const auto bcrypt5 = estimated_cost("BLF-CRYPT", "$2y$05$a32XlB1CirLjQU385x1muu");
    const auto bcrypt14 = estimated_cost("CRYPT", "$2y$14$a32XlB1CirLjQU385x1muu");
    const auto sha512 = estimated_cost("SHA512-CRYPT", "$6$salt$hash");
    const auto sha512_many = estimated_cost("SHA512-CRYPT", "$6$rounds=500000$salt$hash");
    const auto md5 = estimated_cost("MD5-CRYPT", "$1$salt$hash");
    const auto scram = estimated_cost("SCRAM-SHA-256", "4096,salt,a,b");
    const auto digest = estimated_cost("SSHA512", "abcd");
    const auto plain = estimated_cost("PLAIN", "secret");
    CHECK(bcrypt14 > argon2id);
    CHECK(argon2id > argon2_small);
    CHECK(argon2_small > sha512);
    CHECK(sha512_many > argon2id);
    CHECK(sha512 > bcrypt5 / 2);
    CHECK(sha512 > md5);
    CHECK(scram > md5);
    CHECK(md5 > digest);
    CHECK(digest == plain);
}
