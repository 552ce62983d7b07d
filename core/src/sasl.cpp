// SASL exchanges as pure state machines. Crypto-free: the SCRAM proof and
// signatures and the CRAM-MD5 digest are computed by the shell on request.
#include <algorithm>
#include <array>
#include <charconv>
#include <vector>

#include "pop3/core/ascii.hpp"
#include "pop3/core/sasl.hpp"

namespace pop3::core {
namespace {

constexpr char k_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

SaslStep fail(SaslState s, std::string reason) {
    return {std::move(s), SaslFailure{std::move(reason)}};
}

// RFC 5802 saslname: "=2C" is ',', "=3D" is '='; any other '=' is invalid.
std::optional<std::string> decode_saslname(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == ',') return std::nullopt;
        if (text[i] != '=') { out += text[i]; continue; }
        auto code = text.substr(i + 1, 2);
        if (code == "2C") out += ',';
        else if (code == "3D") out += '=';
        else return std::nullopt;
        i += 2;
    }
    return out;
}

// Splits "a=..,b=.." attributes; values may contain '=' but not ','.
std::vector<std::string_view> split_commas(std::string_view text) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (true) {
        auto comma = text.find(',', start);
        out.push_back(text.substr(start, comma - start));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return out;
}

bool valid_nonce(std::string_view n) {
    return !n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
        return c >= 0x21 && c <= 0x7E && c != ',';
    });
}

SaslStep plain_credentials(SaslState s, std::string_view message) {
    // authzid NUL authcid NUL passwd (RFC 4616 section 2)
    auto first = message.find('\0');
    auto second = first == std::string_view::npos ? first : message.find('\0', first + 1);
    if (second == std::string_view::npos || message.find('\0', second + 1) != std::string_view::npos)
        return fail(std::move(s), "malformed PLAIN response; expected authzid NUL user NUL password");
    auto authzid = message.substr(0, first);
    auto user = message.substr(first + 1, second - first - 1);
    auto password = message.substr(second + 1);
    if (user.empty() || password.empty())
        return fail(std::move(s), "PLAIN response without user name or password");
    if (!authzid.empty() && authzid != user)
        return fail(std::move(s), "acting as another user (authorization identity) is not supported");
    s.user = std::string(user);
    return {std::move(s), SaslVerifyPassword{std::string(user), std::string(password)}};
}

SaslStep scram_client_first(SaslState s, std::string_view message) {
    // gs2-header: "n,," or "y,," (no channel binding); "p=" asks for it.
    if (message.substr(0, 2) == "p=")
        return fail(std::move(s), "channel binding is not supported; use the mechanism without -PLUS");
    if (message.substr(0, 2) != "n," && message.substr(0, 2) != "y,")
        return fail(std::move(s), "malformed SCRAM client-first message");
    auto rest = message.substr(2);
    auto comma = rest.find(',');
    if (comma == std::string_view::npos)
        return fail(std::move(s), "malformed SCRAM client-first message");
    auto authzid = rest.substr(0, comma);
    auto bare = rest.substr(comma + 1);
    auto attributes = split_commas(bare);
    if (attributes.size() < 2 || attributes[0].substr(0, 2) != "n=" ||
        attributes[1].substr(0, 2) != "r=")
        return fail(std::move(s), "malformed SCRAM client-first message");
    auto user = decode_saslname(attributes[0].substr(2));
    if (!user || user->empty())
        return fail(std::move(s), "malformed SCRAM user name");
    if (!authzid.empty() && (authzid.substr(0, 2) != "a=" ||
                             decode_saslname(authzid.substr(2)) != user))
        return fail(std::move(s), "acting as another user (authorization identity) is not supported");
    auto client_nonce = attributes[1].substr(2);
    if (!valid_nonce(client_nonce))
        return fail(std::move(s), "malformed SCRAM nonce");
    s.user = *user;
    s.gs2_header = std::string(message.substr(0, 2 + comma + 1));
    s.client_first_bare = std::string(bare);
    s.nonce = std::string(client_nonce) + s.server_nonce;
    s.stage = SaslState::Stage::scram_credentials;
    return {std::move(s), SaslNeedScramCredentials{*user}};
}

SaslStep scram_client_final(SaslState s, std::string_view message) {
    auto proof_at = message.rfind(",p=");
    if (proof_at == std::string_view::npos)
        return fail(std::move(s), "malformed SCRAM client-final message");
    auto without_proof = message.substr(0, proof_at);
    auto attributes = split_commas(without_proof);
    if (attributes.size() < 2 || attributes[0].substr(0, 2) != "c=" ||
        attributes[1].substr(0, 2) != "r=")
        return fail(std::move(s), "malformed SCRAM client-final message");
    // Without channel binding c= must be base64 of the gs2 header we saw.
    auto cbind = base64_decode(attributes[0].substr(2));
    if (!cbind || *cbind != s.gs2_header)
        return fail(std::move(s), "SCRAM channel binding data does not match");
    if (attributes[1].substr(2) != s.nonce)
        return fail(std::move(s), "SCRAM nonce does not match");
    auto proof = base64_decode(message.substr(proof_at + 3));
    if (!proof || proof->empty())
        return fail(std::move(s), "malformed SCRAM proof");
    auto auth_message = s.client_first_bare + "," + s.server_first + "," +
                        std::string(without_proof);
    s.stage = SaslState::Stage::scram_verdict;
    return {std::move(s), SaslVerifyScram{std::move(auth_message), std::move(*proof)}};
}

} // namespace

std::optional<Mechanism> mechanism_from_name(std::string_view name) {
    if (ascii_iequals(name, "PLAIN")) return Mechanism::plain;
    if (ascii_iequals(name, "LOGIN")) return Mechanism::login;
    if (ascii_iequals(name, "CRAM-MD5")) return Mechanism::cram_md5;
    if (ascii_iequals(name, "SCRAM-SHA-1")) return Mechanism::scram_sha1;
    if (ascii_iequals(name, "SCRAM-SHA-256")) return Mechanism::scram_sha256;
    return std::nullopt;
}

std::string_view mechanism_name(Mechanism m) {
    switch (m) {
    case Mechanism::plain: return "PLAIN";
    case Mechanism::login: return "LOGIN";
    case Mechanism::cram_md5: return "CRAM-MD5";
    case Mechanism::scram_sha1: return "SCRAM-SHA-1";
    case Mechanism::scram_sha256: return "SCRAM-SHA-256";
    }
    return "";
}

bool sends_password(Mechanism m) {
    return m == Mechanism::plain || m == Mechanism::login;
}

std::string base64_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    auto byte = [&](std::size_t k) {
        return static_cast<unsigned>(static_cast<unsigned char>(bytes[k]));
    };
    for (; i + 2 < bytes.size(); i += 3) {
        unsigned v = (byte(i) << 16u) | (byte(i + 1) << 8u) | byte(i + 2);
        out += k_b64[(v >> 18) & 63];
        out += k_b64[(v >> 12) & 63];
        out += k_b64[(v >> 6) & 63];
        out += k_b64[v & 63];
    }
    if (i + 1 == bytes.size()) {
        unsigned v = byte(i) << 16u;
        out += k_b64[(v >> 18) & 63];
        out += k_b64[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == bytes.size()) {
        unsigned v = (byte(i) << 16u) | (byte(i + 1) << 8u);
        out += k_b64[(v >> 18) & 63];
        out += k_b64[(v >> 12) & 63];
        out += k_b64[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; ++k) {
            char c = text[i + static_cast<std::size_t>(k)];
            if (c == '=' && i + 4 == text.size() && k >= 2) {
                v[k] = 0;
                ++pad;
                continue;
            }
            if (pad > 0) return std::nullopt; // data after padding
            v[k] = b64_value(c);
            if (v[k] < 0) return std::nullopt;
        }
        unsigned n = (static_cast<unsigned>(v[0]) << 18u) | (static_cast<unsigned>(v[1]) << 12u) |
                     (static_cast<unsigned>(v[2]) << 6u) | static_cast<unsigned>(v[3]);
        out += static_cast<char>((n >> 16) & 0xFF);
        if (pad < 2) out += static_cast<char>((n >> 8) & 0xFF);
        if (pad < 1) out += static_cast<char>(n & 0xFF);
        // Canonical form only: bits under the padding must be zero.
        if ((pad == 1 && (n & 0xFF) != 0) || (pad == 2 && (n & 0xFFFF) != 0))
            return std::nullopt;
    }
    return out;
}

SaslStep sasl_start(Mechanism m, const std::optional<std::string>& initial,
                    std::string server_nonce) {
    SaslState s{m, SaslState::Stage::plain, {}, {}, std::move(server_nonce),
                {}, {}, {}, {}, {}};
    switch (m) {
    case Mechanism::plain:
        if (initial) return plain_credentials(std::move(s), *initial);
        return {std::move(s), SaslChallenge{""}};
    case Mechanism::login:
        if (initial && !initial->empty()) {
            s.user = *initial;
            s.stage = SaslState::Stage::login_password;
            return {std::move(s), SaslChallenge{"Password:"}};
        }
        s.stage = SaslState::Stage::login_user;
        return {std::move(s), SaslChallenge{"Username:"}};
    case Mechanism::cram_md5:
        if (initial) return fail(std::move(s), "CRAM-MD5 takes no initial response");
        s.stage = SaslState::Stage::cram_response;
        // RFC 2195: a msg-id-like challenge, unique per attempt.
        s.challenge = "<" + s.server_nonce + "@pop3d>";
        return {s, SaslChallenge{s.challenge}};
    case Mechanism::scram_sha1:
    case Mechanism::scram_sha256:
        s.stage = SaslState::Stage::scram_client_first;
        if (initial) return scram_client_first(std::move(s), *initial);
        return {std::move(s), SaslChallenge{""}};
    }
    return fail(std::move(s), "unknown mechanism");
}

SaslStep sasl_start_relayed(Mechanism m, const std::optional<std::string>& initial) {
    SaslState s{};
    s.mechanism = m;
    s.stage = SaslState::Stage::relayed;
    return {std::move(s), SaslRelay{initial, true}};
}

SaslStep sasl_respond(SaslState s, std::string_view response) {
    using Stage = SaslState::Stage;
    switch (s.stage) {
    case Stage::plain: return plain_credentials(std::move(s), response);
    case Stage::login_user:
        if (response.empty()) return fail(std::move(s), "empty LOGIN user name");
        s.user = std::string(response);
        s.stage = Stage::login_password;
        return {std::move(s), SaslChallenge{"Password:"}};
    case Stage::login_password: {
        if (response.empty()) return fail(std::move(s), "empty LOGIN password");
        auto user = s.user;
        return {std::move(s), SaslVerifyPassword{std::move(user), std::string(response)}};
    }
    case Stage::cram_response: {
        auto space = response.rfind(' ');
        if (space == std::string_view::npos || space == 0)
            return fail(std::move(s), "malformed CRAM-MD5 response; expected user and digest");
        auto digest = std::string(response.substr(space + 1));
        digest = ascii_lower(digest);
        if (digest.size() != 32 ||
            !std::all_of(digest.begin(), digest.end(), [](char c) {
                return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
            }))
            return fail(std::move(s), "malformed CRAM-MD5 digest; expected 32 hex digits");
        s.user = std::string(response.substr(0, space));
        auto user = s.user;
        auto challenge = s.challenge;
        return {std::move(s), SaslVerifyCram{std::move(user), std::move(challenge), std::move(digest)}};
    }
    case Stage::scram_client_first: return scram_client_first(std::move(s), response);
    case Stage::scram_client_final: return scram_client_final(std::move(s), response);
    case Stage::relayed: return {std::move(s), SaslRelay{std::string(response), false}};
    case Stage::scram_done:
        if (!response.empty())
            return fail(std::move(s), "unexpected data after SCRAM server-final message");
        return {std::move(s), SaslSucceeded{}};
    case Stage::scram_credentials:
    case Stage::scram_verdict: break;
    }
    return fail(std::move(s), "unexpected SASL response");
}

SaslStep sasl_credentials(SaslState s, ScramCredentials c) {
    if (s.stage != SaslState::Stage::scram_credentials)
        return fail(std::move(s), "unexpected SCRAM credentials");
    s.credentials = std::move(c);
    s.server_first = "r=" + s.nonce + ",s=" + base64_encode(s.credentials.salt) +
                     ",i=" + std::to_string(s.credentials.iterations);
    s.stage = SaslState::Stage::scram_client_final;
    auto first = s.server_first;
    return {std::move(s), SaslChallenge{std::move(first)}};
}

SaslStep sasl_verdict(SaslState s, bool proof_ok, const std::string& server_signature) {
    if (s.stage != SaslState::Stage::scram_verdict)
        return fail(std::move(s), "unexpected SCRAM verdict");
    if (!proof_ok || !s.credentials.known)
        return {std::move(s), SaslFailure{"invalid user name or password", true}};
    s.stage = SaslState::Stage::scram_done;
    return {std::move(s), SaslChallenge{"v=" + base64_encode(server_signature)}};
}

} // namespace pop3::core
