// What pop3d decides about secrets without a hashing library
// (password_scheme.hpp): the plaintext comparison it makes itself, and which
// schemes can be checked that way.
#include <catch2/catch.hpp>

#include <string>

#include "password_scheme.hpp"

using pop3::shell::plaintext_equal;
using pop3::shell::verifiable_without_crypto;

TEST_CASE("plaintext_equal is true only for the same octets", "[password_scheme]")
{
    CHECK(plaintext_equal("secret", "secret"));
    CHECK_FALSE(plaintext_equal("secret", "secreT"));
    CHECK_FALSE(plaintext_equal("secret", "Secret"));
    CHECK_FALSE(plaintext_equal("secret", "secre"));   // a prefix
    CHECK_FALSE(plaintext_equal("secret", "secretx")); // longer
    CHECK_FALSE(plaintext_equal("secret", "secretsecret"));
    CHECK_FALSE(plaintext_equal("s", "ss"));           // given reads past stored
    CHECK_FALSE(plaintext_equal("secret", ""));
    CHECK_FALSE(plaintext_equal("", ""));              // no empty secret matches
    CHECK(plaintext_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
    CHECK_FALSE(plaintext_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST_CASE("only unencoded plaintext schemes are verified without the crypto module",
          "[password_scheme]")
{
    CHECK(verifiable_without_crypto("PLAIN"));
    CHECK(verifiable_without_crypto("CLEAR"));
    CHECK(verifiable_without_crypto("CLEARTEXT"));
    CHECK_FALSE(verifiable_without_crypto("PLAIN.B64"));
    CHECK_FALSE(verifiable_without_crypto("PLAIN.HEX"));
    CHECK_FALSE(verifiable_without_crypto("SHA512-CRYPT"));
    CHECK_FALSE(verifiable_without_crypto("CRAM-MD5"));
    CHECK_FALSE(verifiable_without_crypto("SSHA256"));
    CHECK_FALSE(verifiable_without_crypto("plain")); // entries carry upper case
}
