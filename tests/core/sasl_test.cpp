// SASL in the core: base64, the mechanism state machines, and the session's
// STLS and plaintext policy (RFC 2595, RFC 5034).
#include <catch2/catch.hpp>

#include "pop3/core/sasl.hpp"
#include "session_driver.hpp"

using namespace pop3::core;
using pop3::test::SessionDriver;

TEST_CASE("base64 matches RFC 4648 and rejects malformed input", "[sasl]") {
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode("foobar") == "Zm9vYmFy");
    CHECK(base64_decode("Zm9vYmE=") == std::optional<std::string>("fooba"));
    CHECK(base64_decode("") == std::optional<std::string>(""));
    CHECK_FALSE(base64_decode("Zm9"));       // length
    CHECK_FALSE(base64_decode("Zm9v YmFy")); // whitespace
    CHECK_FALSE(base64_decode("Zg=a"));      // data after padding
    CHECK_FALSE(base64_decode("Zh=="));      // non-canonical trailing bits
    CHECK_FALSE(base64_decode("Zm9="));      // the same under one '='
    CHECK(base64_decode("Zm8=") == std::optional<std::string>("fo"));
    CHECK_FALSE(base64_decode("!!!!"));
}

TEST_CASE("PLAIN takes authzid NUL user NUL password", "[sasl]") {
    auto s = sasl_start(Mechanism::plain, std::string("\0alice@x.org\0pw", 15), "n");
    auto* v = std::get_if<SaslVerifyPassword>(&s.action);
    REQUIRE(v);
    CHECK(v->user == "alice@x.org");
    CHECK(v->password == "pw");
    auto empty = sasl_start(Mechanism::plain, std::nullopt, "n");
    CHECK(std::get<SaslChallenge>(empty.action).raw == "");
    auto other = sasl_respond(empty.state, std::string("bob\0alice\0pw", 12));
    CHECK_THAT(std::get<SaslFailure>(other.action).reason, Catch::Contains("another user"));
    auto broken = sasl_respond(empty.state, "no nuls");
    CHECK(std::holds_alternative<SaslFailure>(broken.action));
    // Another user of the same length is still another user.
    auto same_length = sasl_respond(empty.state, std::string("bob\0ann\0pw", 10));
    CHECK(std::get<SaslFailure>(same_length.action).reason ==
          "acting as another user (authorization identity) is not supported");
    auto self = sasl_respond(empty.state, std::string("ann\0ann\0pw", 10));
    CHECK(std::get<SaslVerifyPassword>(self.action).user == "ann");
}

TEST_CASE("LOGIN asks for the user name, then the password", "[sasl]") {
    auto s = sasl_start(Mechanism::login, std::nullopt, "n");
    CHECK(std::get<SaslChallenge>(s.action).raw == "Username:");
    s = sasl_respond(s.state, "alice@x.org");
    CHECK(std::get<SaslChallenge>(s.action).raw == "Password:");
    s = sasl_respond(s.state, "secret");
    auto v = std::get<SaslVerifyPassword>(s.action);
    CHECK(v.user == "alice@x.org");
    CHECK(v.password == "secret");
    auto again = sasl_start(Mechanism::login, std::string("alice@x.org"), "n");
    CHECK(std::get<SaslChallenge>(again.action).raw == "Password:");
    CHECK(std::get<SaslFailure>(sasl_respond(again.state, "").action).reason ==
          "empty LOGIN password");
    CHECK(std::get<SaslFailure>(sasl_respond(sasl_start(Mechanism::login, std::nullopt, "n").state,
                                             "").action).reason == "empty LOGIN user name");
}

TEST_CASE("CRAM-MD5 sends a unique challenge and parses user and digest", "[sasl]") {
    auto s = sasl_start(Mechanism::cram_md5, std::nullopt, "abc.1");
    auto challenge = std::get<SaslChallenge>(s.action).raw;
    CHECK(challenge == "<abc.1@pop3d>");
    CHECK(std::get<SaslChallenge>(sasl_start(Mechanism::cram_md5, std::nullopt, "abc.2").action).raw !=
          challenge);
    auto r = sasl_respond(s.state, "tim B913A602C7EDA7A495B4E6E7334D3890");
    auto v = std::get<SaslVerifyCram>(r.action);
    CHECK(v.user == "tim");
    CHECK(v.challenge == challenge);
    CHECK(v.digest_hex == "b913a602c7eda7a495b4e6e7334d3890");
    CHECK(std::holds_alternative<SaslFailure>(sasl_respond(s.state, "tim xyz").action));
}

TEST_CASE("SCRAM-SHA-256 follows RFC 7677's example exchange", "[sasl]") {
    // RFC 7677 section 3, with the server nonce fixed to the RFC's.
    auto s = sasl_start(Mechanism::scram_sha256, std::string("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"),
                        "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    CHECK(std::get<SaslNeedScramCredentials>(s.action).user == "user");
    ScramCredentials c;
    c.user = "user@example.org";
    c.salt = *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
    c.iterations = 4096;
    c.known = true;
    s = sasl_credentials(s.state, c);
    CHECK(std::get<SaslChallenge>(s.action).raw ==
          "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
          "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
    s = sasl_respond(s.state, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                              "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    auto v = std::get<SaslVerifyScram>(s.action);
    CHECK(v.auth_message ==
          "n=user,r=rOprNGfwEbeRWgbNEkqO,"
          "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
          "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    CHECK(base64_encode(v.proof) == "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    auto sig = *base64_decode("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    auto done = sasl_verdict(s.state, true, sig);
    CHECK(std::get<SaslChallenge>(done.action).raw == "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    CHECK(std::holds_alternative<SaslSucceeded>(sasl_respond(done.state, "").action));
    auto bad = sasl_verdict(s.state, false, sig);
    CHECK(std::get<SaslFailure>(bad.action).credentials);
}

TEST_CASE("SCRAM refuses channel binding, bad nonces and decoy users", "[sasl]") {
    auto cb = sasl_start(Mechanism::scram_sha1, std::string("p=tls-unique,,n=u,r=abc"), "s");
    CHECK_THAT(std::get<SaslFailure>(cb.action).reason, Catch::Contains("channel binding"));
    auto s = sasl_start(Mechanism::scram_sha1, std::string("n,,n=u,r=abc"), "srv");
    ScramCredentials decoy{"", "salt", 4096, "k", "k", false};
    s = sasl_credentials(s.state, decoy);
    auto wrong_nonce = sasl_respond(s.state, "c=biws,r=abcXXX,p=AAAA");
    CHECK(std::get<SaslFailure>(wrong_nonce.action).reason == "SCRAM nonce does not match");
    // Ours followed by more is not ours either.
    auto longer_nonce = sasl_respond(s.state, "c=biws,r=abcsrvX,p=AAAA");
    CHECK(std::get<SaslFailure>(longer_nonce.action).reason == "SCRAM nonce does not match");
    auto wrong_cbind = sasl_respond(s.state, "c=eSws,r=abcsrv,p=AAAA");
    CHECK_THAT(std::get<SaslFailure>(wrong_cbind.action).reason, Catch::Contains("channel binding"));
    auto ok = sasl_respond(s.state, "c=biws,r=abcsrv,p=AAAA");
    REQUIRE(std::holds_alternative<SaslVerifyScram>(ok.action));
    // Even a proof the shell accepts fails for a decoy (unknown) user.
    CHECK(std::holds_alternative<SaslFailure>(sasl_verdict(ok.state, true, "x").action));
    CHECK(std::holds_alternative<SaslFailure>(
        sasl_start(Mechanism::scram_sha256, std::string("n,,n=a=2Xb,r=x"), "s").action));
    auto escaped = sasl_start(Mechanism::scram_sha256, std::string("n,,n=a=2Cb=3Dc,r=x"), "s");
    CHECK(std::get<SaslNeedScramCredentials>(escaped.action).user == "a,b=c");
}

namespace {
// A session whose site has a certificate, greeted in the clear.
SessionDriver tls_site(bool allow_plaintext = false) {
    SessionDriver d;
    d.config.tls_available = true;
    d.config.allow_plaintext = allow_plaintext;
    d.event(Connected{"", false, "seed"});
    return d;
}
} // namespace

TEST_CASE("with a certificate, plaintext logins wait for STLS", "[step][tls]") {
    auto d = tls_site();
    auto capa = d.line("CAPA");
    CHECK(capa.find("\r\nSTLS\r\n") != std::string::npos);
    CHECK(capa.find("\r\nUSER\r\n") == std::string::npos);
    CHECK(capa.find("SASL CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256\r\n") != std::string::npos);
    CHECK(d.line("USER a@b") ==
          "-ERR [AUTH] plaintext login is refused before TLS; use STLS first\r\n");
    CHECK(d.line("AUTH PLAIN") == "-ERR [AUTH] PLAIN is refused before TLS; use STLS first\r\n");
    CHECK(d.line("AUTH LOGIN") == "-ERR [AUTH] LOGIN is refused before TLS; use STLS first\r\n");
    CHECK(d.line("AUTH") ==
          "+OK SASL mechanisms follow\r\nCRAM-MD5\r\nSCRAM-SHA-1\r\nSCRAM-SHA-256\r\n.\r\n");

    CHECK(d.line("STLS") == "+OK begin TLS negotiation\r\n");
    CHECK(d.effects == std::vector<Effect>{StartTls{}});
    CHECK(d.line("USER injected") == ""); // bytes during the handshake: ignored
    d.event(TlsStarted{});
    auto after = d.line("CAPA");
    CHECK(after.find("STLS") == std::string::npos);
    CHECK(after.find("\r\nUSER\r\n") != std::string::npos);
    CHECK(after.find("SASL PLAIN LOGIN CRAM-MD5") != std::string::npos);
    CHECK(d.line("STLS") == "-ERR TLS is already active\r\n");
    CHECK(d.line("USER a@b") == "+OK send PASS for a@b\r\n");
}

TEST_CASE("with TLS required, no login of any kind is tried before STLS", "[step][tls]") {
    SessionDriver d;
    d.config.tls_available = true;
    d.config.tls_required = true;
    d.config.allow_plaintext = true; // overruled: no login at all in the clear
    d.event(Connected{"<1.2@h>", false, "seed"});
    auto capa = d.line("CAPA");
    CHECK(capa.find("\r\nSTLS\r\n") != std::string::npos);
    CHECK(capa.find("USER") == std::string::npos);
    CHECK(capa.find("SASL") == std::string::npos);
    const std::string refusal =
        "-ERR [AUTH] this server requires TLS for every login; use STLS first\r\n";
    CHECK(d.line("USER a@b") == refusal);
    CHECK(d.line("APOP a@b 0123456789abcdef0123456789abcdef") == refusal);
    CHECK(d.line("AUTH CRAM-MD5") == refusal);
    CHECK(d.line("AUTH SCRAM-SHA-256") == refusal);
    CHECK(d.line("AUTH PLAIN") == refusal);
    CHECK(d.line("AUTH") == "+OK SASL mechanisms follow\r\n.\r\n");
    CHECK(d.effects.empty());
    CHECK(d.line("STLS") == "+OK begin TLS negotiation\r\n");
    d.event(TlsStarted{});
    auto after = d.line("CAPA");
    CHECK(after.find("\r\nUSER\r\n") != std::string::npos);
    CHECK(after.find("SASL PLAIN LOGIN CRAM-MD5") != std::string::npos);
    CHECK(d.line("AUTH CRAM-MD5").rfind("+ ", 0) == 0);
    d.line("*");
    CHECK(d.line("APOP a@b 0123456789abcdef0123456789abcdef") == "");
    CHECK(d.effects == std::vector<Effect>{VerifyApop{"a@b", "0123456789abcdef0123456789abcdef", true}});
}

TEST_CASE("--allow-plaintext and sites without a certificate allow USER", "[step][tls]") {
    auto d = tls_site(true);
    CHECK(d.line("USER a@b") == "+OK send PASS for a@b\r\n");
    SessionDriver plain;
    plain.event(Connected{"", false, "seed"});
    CHECK(plain.line("STLS") ==
          "-ERR STLS is not available: no TLS certificate is configured\r\n");
    CHECK(plain.line("USER a@b") == "+OK send PASS for a@b\r\n");
}

TEST_CASE("a failed TLS handshake closes the session", "[step][tls]") {
    auto d = tls_site();
    d.line("STLS");
    CHECK(d.event(TlsFailed{"bad record"}) == "");
    CHECK(d.effects == std::vector<Effect>{Close{}});
    CHECK(d.closed());
}

TEST_CASE("STLS after login is refused", "[step][tls]") {
    SessionDriver d;
    d.config.tls_available = true;
    d.config.allow_plaintext = true;
    d.login({1});
    CHECK(d.line("STLS") == "-ERR STLS is only valid before login (RFC 2595)\r\n");
}

TEST_CASE("AUTH exchanges run through the session with continuations", "[step][sasl]") {
    SessionDriver d;
    d.event(Connected{"", false, "seed"});
    CHECK(d.line("AUTH PLAIN") == "+ \r\n");
    CHECK(line_limit(d.state) == k_max_sasl_line);
    CHECK(d.line(base64_encode(std::string("\0a@b\0pw", 7))) == "");
    CHECK(d.effects == std::vector<Effect>{VerifyPassword{"a@b", "pw", "AUTH PLAIN"}});
    d.event(AuthResult{AuthResult::Outcome::accepted, "a@b"});
    CHECK(d.effects == std::vector<Effect>{OpenMailbox{"a@b"}});
    CHECK(line_limit(d.state) == k_max_command_line);
}

TEST_CASE("AUTH errors: cancel, broken base64, unknown mechanism, overlong", "[step][sasl]") {
    SessionDriver d;
    d.config.max_auth_failures = 7;
    d.event(Connected{"", false, "seed"});
    d.line("AUTH LOGIN");
    CHECK(d.line("*") == "-ERR authentication cancelled\r\n"); // one failure
    d.line("AUTH LOGIN");
    CHECK(d.line("not base64!") == "-ERR malformed base64 in the SASL response\r\n");
    CHECK(d.line("AUTH PLAIN %%%") == "-ERR malformed base64 in the initial response\r\n");
    CHECK(d.line("AUTH GSSAPI") ==
          "-ERR unsupported SASL mechanism; AUTH alone lists the available ones\r\n");
    d.line("AUTH CRAM-MD5");
    CHECK(d.input(OverlongLine{20000}) == "-ERR SASL response too long\r\n");
    CHECK(state_name(d.state) == "AUTHORIZATION");
    CHECK(d.line("AUTH PLAIN =") == // empty: no user
          "-ERR malformed PLAIN response; expected authzid NUL user NUL password\r\n");
    CHECK(d.line("USER a@b") == "+OK send PASS for a@b\r\n");
    d.line("AUTH LOGIN"); // the 6th failure; the 7th ends the session
    d.line("*");
    d.line("AUTH LOGIN");
    CHECK(d.line("*") == "-ERR authentication cancelled; too many failures, closing\r\n");
    CHECK(d.closed());
}

TEST_CASE("each AUTH attempt gets a fresh nonce", "[step][sasl]") {
    SessionDriver d;
    d.event(Connected{"", false, "seed"});
    auto first = d.line("AUTH CRAM-MD5");
    d.line("*");
    auto second = d.line("AUTH CRAM-MD5");
    CHECK(first != second);
    CHECK(*base64_decode(first.substr(2, first.size() - 4)) == "<seed.1@pop3d>");
}

TEST_CASE("SCRAM runs its lookup and verdict through effects", "[step][sasl]") {
    SessionDriver d;
    d.event(Connected{"", false, "s"});
    CHECK(d.line("AUTH SCRAM-SHA-256 " + base64_encode("n,,n=a@b,r=cn")) == "");
    CHECK(d.effects == std::vector<Effect>{FetchScramCredentials{Mechanism::scram_sha256, "a@b"}});
    ScramCredentials c{"a@b", "salt", 4096, "stored", "server", true};
    auto first = d.event(ScramCredentialsFound{c});
    CHECK(first == "+ " + base64_encode("r=cns.1,s=" + base64_encode("salt") + ",i=4096") + "\r\n");
    d.line(base64_encode("c=biws,r=cns.1,p=" + base64_encode("proof")));
    REQUIRE(d.effects.size() == 1);
    CHECK(std::get<VerifyScram>(d.effects[0]).proof == "proof");
    CHECK(d.event(ScramVerdict{true, "sig"}) == "+ " + base64_encode("v=" + base64_encode("sig")) + "\r\n");
    CHECK(d.line("") == "");
    CHECK(d.effects == std::vector<Effect>{OpenMailbox{"a@b"}});
}

TEST_CASE("a relayed CRAM-MD5 exchange passes every message to the backend", "[sasl][relay]") {
    SessionDriver d;
    d.config.sasl_relay = true;
    d.event(Connected{"", false, "seed"});
    CHECK(d.line("AUTH CRAM-MD5") == "");
    CHECK(d.effects ==
          std::vector<Effect>{RelaySasl{Mechanism::cram_md5, std::nullopt, true, false}});
    CHECK(line_limit(d.state) == k_max_sasl_line);
    CHECK(d.event(SaslRelayChallenge{"<1.2@dovecot>"}) ==
          "+ " + base64_encode("<1.2@dovecot>") + "\r\n");
    CHECK(d.line(base64_encode("bob 0123456789abcdef0123456789abcdef")) == "");
    CHECK(d.effects == std::vector<Effect>{RelaySasl{
                           Mechanism::cram_md5, "bob 0123456789abcdef0123456789abcdef", false,
                           false}});
    d.event(AuthResult{AuthResult::Outcome::accepted, "bob@x.org"});
    CHECK(d.effects == std::vector<Effect>{OpenMailbox{"bob@x.org"}});
}

TEST_CASE("a relayed SCRAM exchange: initial response, server-final as a challenge, refusals",
          "[sasl][relay]") {
    SessionDriver d;
    d.config.sasl_relay = true;
    d.event(Connected{"", true, "seed"});
    CHECK(d.line("AUTH SCRAM-SHA-256 " + base64_encode("n,,n=bob,r=abc")) == "");
    CHECK(d.effects == std::vector<Effect>{RelaySasl{Mechanism::scram_sha256,
                                                     std::string("n,,n=bob,r=abc"), true, true}});
    CHECK(d.event(SaslRelayChallenge{"v=final"}) == "+ " + base64_encode("v=final") + "\r\n");
    CHECK(d.line("") == "");
    CHECK(d.effects ==
          std::vector<Effect>{RelaySasl{Mechanism::scram_sha256, std::string(), false, true}});
    CHECK(d.event(AuthResult{AuthResult::Outcome::rejected, ""}) ==
          "-ERR [AUTH] invalid user name or password\r\n");
    CHECK(d.line("AUTH SCRAM-SHA-1") == "");
    CHECK_THAT(d.event(AuthResult{AuthResult::Outcome::unavailable, ""}),
               Catch::StartsWith("-ERR [SYS/TEMP]"));
    CHECK(d.line("AUTH CRAM-MD5") == "");
    d.event(SaslRelayChallenge{"c"});
    CHECK_THAT(d.line("*"), Catch::Contains("cancelled"));
    // PLAIN is not relayed: it stays a password check.
    CHECK(d.line("AUTH PLAIN " + base64_encode(std::string("\0a@b\0pw", 7))) == "");
    CHECK(d.effects == std::vector<Effect>{VerifyPassword{"a@b", "pw", "AUTH PLAIN", true}});
}

TEST_CASE("a SCRAM credential failure is -ERR [AUTH] at the session level", "[step][sasl]") {
    // Through the whole exchange, up to the shell's verdict.
    auto scram_until_verdict = [](SessionDriver& d, bool known) {
        d.line("AUTH SCRAM-SHA-256 " + base64_encode("n,,n=a@b,r=cn"));
        d.event(ScramCredentialsFound{{"a@b", "salt", 4096, "stored", "server", known}});
        d.line(base64_encode("c=biws,r=cns.1,p=" + base64_encode("proof")));
        REQUIRE(d.effects.size() == 1);
        REQUIRE(std::holds_alternative<VerifyScram>(d.effects[0]));
    };
    const std::string refusal = "-ERR [AUTH] invalid user name or password\r\n";
    SECTION("a wrong proof") {
        SessionDriver d;
        d.event(Connected{"", false, "s"});
        scram_until_verdict(d, true);
        CHECK(d.event(ScramVerdict{false, ""}) == refusal);
        CHECK(state_name(d.state) == "AUTHORIZATION");
        CHECK(d.effects.empty());
    }
    SECTION("an unknown user, whose decoy proof cannot be right") {
        SessionDriver d;
        d.event(Connected{"", false, "s"});
        scram_until_verdict(d, false);
        CHECK(d.event(ScramVerdict{true, "sig"}) == refusal);
    }
    SECTION("at the failure limit the refusal still carries [AUTH]") {
        SessionDriver d;
        d.config.max_auth_failures = 1;
        d.event(Connected{"", false, "s"});
        scram_until_verdict(d, true);
        CHECK(d.event(ScramVerdict{false, ""}) ==
              "-ERR [AUTH] invalid user name or password; too many failures, closing\r\n");
        CHECK(d.closed());
    }
    SECTION("a malformed exchange is a plain -ERR, not [AUTH]") {
        SessionDriver d;
        d.event(Connected{"", false, "s"});
        CHECK(d.line("AUTH SCRAM-SHA-1 " + base64_encode("p=tls-unique,,n=a@b,r=cn")) ==
              "-ERR channel binding is not supported; use the mechanism without -PLUS\r\n");
        CHECK(d.effects.empty());
        SessionDriver n;
        n.event(Connected{"", false, "s"});
        n.line("AUTH SCRAM-SHA-256 " + base64_encode("n,,n=a@b,r=cn"));
        n.event(ScramCredentialsFound{{"a@b", "salt", 4096, "stored", "server", true}});
        CHECK(n.line(base64_encode("c=biws,r=other,p=" + base64_encode("proof"))) ==
              "-ERR SCRAM nonce does not match\r\n");
    }
}
