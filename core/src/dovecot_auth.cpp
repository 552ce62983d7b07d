// Dovecot's auth protocol lines. The service is trusted to authenticate
// but not to be well-formed: every field is checked before it is used,
// because what it says (the user name, uid, gid, mail location) decides
// whose mail is served.
#include "pop3/core/dovecot_auth.hpp"

#include "pop3/core/ascii.hpp"
#include "pop3/core/limits.hpp"
#include "pop3/core/sasl.hpp"

namespace pop3::core::dovecot {
namespace {

constexpr char k_escape = '\001';

// Canonical decimal (no sign, no leading zero but "0") up to `max`.
std::optional<std::uint64_t> parse_number(std::string_view text, std::uint64_t max) {
    if (text.empty() || text.size() > 20) return std::nullopt;
    if (text.size() > 1 && text[0] == '0') return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (value > (max - digit) / 10) return std::nullopt;
        value = value * 10 + digit;
    }
    return value;
}

std::vector<std::string_view> split_tabs(std::string_view line) {
    std::vector<std::string_view> fields;
    std::size_t start = 0;
    for (;;) {
        auto tab = line.find('\t', start);
        if (tab == std::string_view::npos) {
            fields.push_back(line.substr(start));
            return fields;
        }
        fields.push_back(line.substr(start, tab - start));
        start = tab + 1;
    }
}

using Fields = std::vector<std::string_view>;

tl::expected<std::uint32_t, std::string> id_field(const Fields& f, std::string_view verb) {
    if (f.size() < 2) return tl::unexpected(std::string(verb) + " without an id");
    auto id = parse_number(f[1], 0xFFFFFFFFu);
    if (!id) return tl::unexpected(std::string(verb) + " with a malformed id");
    return static_cast<std::uint32_t>(*id);
}

tl::expected<std::vector<std::string>, std::string> rest(const Fields& f, std::size_t from) {
    std::vector<std::string> out;
    for (std::size_t i = from; i < f.size(); ++i) {
        auto field = tab_unescape(f[i]);
        if (!field) return tl::unexpected(field.error());
        out.push_back(std::move(*field));
    }
    return out;
}

tl::expected<ServerLine, std::string> exactly(const Fields& f, std::size_t n,
                                              std::string_view verb) {
    if (f.size() != n)
        return tl::unexpected(std::string(verb) + " with " + std::to_string(f.size() - 1) +
                              " fields, not " + std::to_string(n - 1));
    return ServerLine{Done{}};
}

bool is_hex(std::string_view text) {
    for (char c : text)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    return true;
}

bool is_verb(std::string_view text) {
    if (text.empty() || text.size() > 32) return false;
    for (char c : text)
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    return true;
}

tl::expected<ServerLine, std::string> parse_fields(const Fields& f) {
    const std::string_view verb = f[0];
    auto number = [&](std::string_view what, std::uint64_t max)
        -> tl::expected<std::uint64_t, std::string> {
        if (auto n = exactly(f, 2, verb); !n) return tl::unexpected(n.error());
        auto value = parse_number(f[1], max);
        if (!value) return tl::unexpected(std::string(verb) + " with a malformed " +
                                          std::string(what));
        return *value;
    };
    if (verb == "VERSION") {
        if (auto n = exactly(f, 3, verb); !n) return n;
        auto major = parse_number(f[1], 0xFFFFFFFFu);
        auto minor = parse_number(f[2], 0xFFFFFFFFu);
        if (!major || !minor) return tl::unexpected(std::string("VERSION with malformed numbers"));
        return Version{static_cast<std::uint32_t>(*major), static_cast<std::uint32_t>(*minor)};
    }
    if (verb == "MECH") {
        if (f.size() < 2 || f[1].empty()) return tl::unexpected(std::string("MECH without a name"));
        auto fields = rest(f, 1);
        if (!fields) return tl::unexpected(fields.error());
        Mech m;
        m.name = std::move(fields->front());
        m.flags.assign(fields->begin() + 1, fields->end());
        return m;
    }
    if (verb == "SPID") {
        auto pid = number("pid", ~std::uint64_t{0});
        if (!pid) return tl::unexpected(pid.error());
        return Spid{*pid};
    }
    if (verb == "CUID") {
        auto id = number("id", ~std::uint64_t{0});
        if (!id) return tl::unexpected(id.error());
        return Cuid{*id};
    }
    if (verb == "COOKIE") {
        if (auto n = exactly(f, 2, verb); !n) return n;
        if (f[1].empty() || f[1].size() > 128 || !is_hex(f[1]))
            return tl::unexpected(std::string("COOKIE that is not hexadecimal"));
        return Cookie{std::string(f[1])};
    }
    if (verb == "DONE") {
        if (auto n = exactly(f, 1, verb); !n) return n;
        return Done{};
    }
    if (verb == "OK" || verb == "FAIL") {
        auto id = id_field(f, verb);
        if (!id) return tl::unexpected(id.error());
        auto params = rest(f, 2);
        if (!params) return tl::unexpected(params.error());
        if (verb == "OK") return Ok{*id, std::move(*params)};
        return Fail{*id, std::move(*params)};
    }
    if (verb == "CONT") {
        auto id = id_field(f, verb);
        if (!id) return tl::unexpected(id.error());
        if (auto n = exactly(f, 3, verb); !n) return n;
        if (!base64_decode(f[2])) return tl::unexpected(std::string("CONT with invalid base64"));
        return Cont{*id, std::string(f[2])};
    }
    if (verb == "USER") {
        auto id = id_field(f, verb);
        if (!id) return tl::unexpected(id.error());
        if (f.size() < 3) return tl::unexpected(std::string("USER without a name"));
        auto fields = rest(f, 2);
        if (!fields) return tl::unexpected(fields.error());
        if (fields->front().empty()) return tl::unexpected(std::string("USER with an empty name"));
        User u{*id, std::move(fields->front()), {}};
        u.params.assign(fields->begin() + 1, fields->end());
        return u;
    }
    if (verb == "NOTFOUND") {
        auto id = id_field(f, verb);
        if (!id) return tl::unexpected(id.error());
        if (auto n = exactly(f, 2, verb); !n) return n;
        return NotFound{*id};
    }
    if (!is_verb(verb)) return tl::unexpected(std::string("a line without a verb"));
    return Unknown{std::string(verb)};
}

void append_fields(std::string& out, const std::vector<std::string>& fields) {
    for (const auto& field : fields) {
        out += '\t';
        out += tab_escape(field);
    }
}

char hex_digit(unsigned v) { return "0123456789abcdef"[v & 15]; }

std::string to_hex(std::uint64_t v) {
    if (v == 0) return "0";
    std::string out;
    while (v != 0) {
        out.insert(out.begin(), hex_digit(static_cast<unsigned>(v & 15)));
        v >>= 4;
    }
    return out;
}

std::string challenge_part(std::string_view text) {
    std::string out;
    for (char c : text) out += (c > 0x20 && c < 0x7f && c != '<' && c != '>' && c != '@') ? c : 'x';
    return out.empty() ? std::string("x") : out;
}

} // namespace

std::string tab_escape(std::string_view field) {
    std::string out;
    out.reserve(field.size());
    for (char c : field) {
        switch (c) {
        case '\001': out += "\0011"; break;
        case '\t': out += "\001t"; break;
        case '\r': out += "\001r"; break;
        case '\n': out += "\001n"; break;
        case '\0': out += "\0010"; break;
        default: out += c;
        }
    }
    return out;
}

tl::expected<std::string, std::string> tab_unescape(std::string_view field) {
    std::string out;
    out.reserve(field.size());
    for (std::size_t i = 0; i < field.size(); ++i) {
        const char c = field[i];
        if (c == '\0' || c == '\r' || c == '\n')
            return tl::unexpected(std::string("a field holds a NUL, CR or LF octet"));
        if (c != k_escape) {
            out += c;
            continue;
        }
        if (++i == field.size()) return tl::unexpected(std::string("a truncated escape"));
        switch (field[i]) {
        case '0': out += '\0'; break;
        case '1': out += '\001'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'n': out += '\n'; break;
        default: return tl::unexpected(std::string("an unknown escape"));
        }
    }
    return out;
}

tl::expected<ServerLine, std::string> parse_server_line(std::string_view line) {
    if (line.size() > k_max_dovecot_auth_line)
        return tl::unexpected("a line of " + std::to_string(line.size()) + " octets, over the " +
                              std::to_string(k_max_dovecot_auth_line) + "-octet limit");
    if (line.empty()) return tl::unexpected(std::string("an empty line"));
    return parse_fields(split_tabs(line));
}

std::string render(const ServerLine& line) {
    return std::visit(
        [](const auto& l) -> std::string {
            using T = std::decay_t<decltype(l)>;
            if constexpr (std::is_same_v<T, Version>)
                return "VERSION\t" + std::to_string(l.major) + "\t" + std::to_string(l.minor);
            else if constexpr (std::is_same_v<T, Mech>) {
                std::string out = "MECH\t" + tab_escape(l.name);
                append_fields(out, l.flags);
                return out;
            } else if constexpr (std::is_same_v<T, Spid>)
                return "SPID\t" + std::to_string(l.pid);
            else if constexpr (std::is_same_v<T, Cuid>)
                return "CUID\t" + std::to_string(l.id);
            else if constexpr (std::is_same_v<T, Cookie>)
                return "COOKIE\t" + l.hex;
            else if constexpr (std::is_same_v<T, Done>)
                return "DONE";
            else if constexpr (std::is_same_v<T, Ok> || std::is_same_v<T, Fail>) {
                std::string out = std::is_same_v<T, Ok> ? "OK\t" : "FAIL\t";
                out += std::to_string(l.id);
                append_fields(out, l.params);
                return out;
            } else if constexpr (std::is_same_v<T, Cont>)
                return "CONT\t" + std::to_string(l.id) + "\t" + l.data;
            else if constexpr (std::is_same_v<T, User>) {
                std::string out = "USER\t" + std::to_string(l.id) + "\t" + tab_escape(l.name);
                append_fields(out, l.params);
                return out;
            } else if constexpr (std::is_same_v<T, NotFound>)
                return "NOTFOUND\t" + std::to_string(l.id);
            else
                return l.verb;
        },
        line);
}

std::ostream& operator<<(std::ostream& out, const ServerLine& line) {
    std::string text = render(line);
    for (char& c : text)
        if (c == '\t') c = ' ';
    return out << text;
}

std::optional<std::string_view> param(const std::vector<std::string>& params,
                                      std::string_view key) {
    for (const auto& p : params) {
        std::string_view v(p);
        if (v == key) return std::string_view();
        if (v.size() > key.size() && v.substr(0, key.size()) == key && v[key.size()] == '=')
            return v.substr(key.size() + 1);
    }
    return std::nullopt;
}

void LineReader::feed(std::string_view bytes) {
    if (failed_) return;
    if (start_ > 0 && start_ == buffer_.size()) {
        buffer_.clear();
        start_ = 0;
    }
    buffer_.append(bytes);
}

std::optional<tl::expected<std::string, std::string>> LineReader::next() {
    if (failed_) return tl::unexpected(std::string("the stream is out of step after an error"));
    const auto lf = buffer_.find('\n', start_);
    const std::size_t length = (lf == std::string::npos ? buffer_.size() : lf) - start_;
    if (length > k_max_dovecot_auth_line) {
        failed_ = true;
        buffer_.clear();
        start_ = 0;
        return tl::unexpected("a line over the " + std::to_string(k_max_dovecot_auth_line) +
                              "-octet limit");
    }
    if (lf == std::string::npos) {
        buffer_.erase(0, start_);
        start_ = 0;
        return std::nullopt;
    }
    std::string line = buffer_.substr(start_, length);
    start_ = lf + 1;
    return line;
}

bool Handshake::offers(std::string_view mechanism) const {
    for (const auto& m : mechs)
        if (ascii_iequals(m.name, mechanism)) return true;
    return false;
}

tl::expected<void, std::string> add(Handshake& handshake, const ServerLine& line) {
    if (handshake.done) return tl::unexpected(std::string("a handshake line after DONE"));
    if (const auto* v = std::get_if<Version>(&line)) {
        if (handshake.version) return tl::unexpected(std::string("a second VERSION"));
        if (v->major != 1)
            return tl::unexpected("protocol version " + std::to_string(v->major) +
                                  ", not 1");
        handshake.version = *v;
        return {};
    }
    if (!handshake.version) return tl::unexpected(std::string("a handshake without VERSION first"));
    return std::visit(
        [&](const auto& l) -> tl::expected<void, std::string> {
            using T = std::decay_t<decltype(l)>;
            if constexpr (std::is_same_v<T, Mech>) {
                handshake.mechs.push_back(l);
            } else if constexpr (std::is_same_v<T, Spid>) {
                handshake.spid = l.pid;
            } else if constexpr (std::is_same_v<T, Cuid>) {
                handshake.cuid = l.id;
            } else if constexpr (std::is_same_v<T, Done>) {
                handshake.done = true;
            } else if constexpr (std::is_same_v<T, Cookie> || std::is_same_v<T, Unknown>) {
                // nothing pop3d needs
            } else {
                return tl::unexpected("\"" + render(line).substr(0, 20) +
                                      "\" during the handshake");
            }
            return {};
        },
        line);
}

std::string client_handshake(std::uint64_t pid) {
    return "VERSION\t1\t2\nCPID\t" + std::to_string(pid) + "\n";
}

std::string userdb_handshake() { return "VERSION\t1\t0\n"; }

std::string encode(const AuthRequest& r) {
    std::string out = "AUTH\t" + std::to_string(r.id) + "\t" + tab_escape(r.mechanism) +
                      "\tservice=" + tab_escape(r.service);
    if (r.secured) out += "\tsecured";
    if (!r.local_ip.empty()) out += "\tlip=" + tab_escape(r.local_ip);
    if (!r.remote_ip.empty()) out += "\trip=" + tab_escape(r.remote_ip);
    if (r.local_port) out += "\tlport=" + std::to_string(*r.local_port);
    if (r.remote_port) out += "\trport=" + std::to_string(*r.remote_port);
    if (!r.session.empty()) out += "\tsession=" + tab_escape(r.session);
    // The protocol wants resp last; base64 needs no escaping.
    if (r.initial_response) out += "\tresp=" + base64_encode(*r.initial_response);
    return out + "\n";
}

std::string encode_continue(std::uint32_t id, std::string_view response) {
    return "CONT\t" + std::to_string(id) + "\t" + base64_encode(response) + "\n";
}

std::string encode_user_lookup(std::uint32_t id, std::string_view user, std::string_view service) {
    return "USER\t" + std::to_string(id) + "\t" + tab_escape(user) + "\tservice=" +
           tab_escape(service) + "\n";
}

std::string apop_challenge(std::uint64_t spid, std::uint64_t cuid, std::uint64_t unix_time,
                           std::string_view nonce, std::string_view host) {
    return "<" + to_hex(spid) + "." + to_hex(cuid) + "." + to_hex(unix_time) + "." +
           challenge_part(nonce) + "@" + challenge_part(host) + ">";
}

std::optional<std::string> apop_response(std::string_view challenge, std::string_view user,
                                         std::string_view digest_hex) {
    if (digest_hex.size() != 32) return std::nullopt;
    std::string out(challenge);
    out += '\0';
    out += user;
    out += '\0';
    for (std::size_t i = 0; i < 32; i += 2) {
        const int hi = ascii_hex_value(digest_hex[i]), lo = ascii_hex_value(digest_hex[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>((hi << 4) | lo);
    }
    return out;
}

tl::expected<std::string, std::string>
maildir_inbox(std::string_view mail, std::string_view home, std::string_view user) {
    constexpr std::string_view k_prefix = "maildir:";
    if (mail.size() < k_prefix.size() || !ascii_iequals(mail.substr(0, k_prefix.size()), k_prefix))
        return tl::unexpected("mail location \"" + std::string(mail.substr(0, 100)) +
                              "\" is not maildir:PATH (pop3d serves Maildirs only)");
    std::string_view rest = mail.substr(k_prefix.size());
    std::string_view path = rest.substr(0, rest.find(':'));
    // Options after the path: INBOX= moves the INBOX, the others (LAYOUT,
    // INDEX, CONTROL, ...) do not change where it is.
    for (std::size_t at = rest.find(':'); at != std::string_view::npos;) {
        auto next = rest.find(':', at + 1);
        auto option = rest.substr(at + 1, next == std::string_view::npos ? next : next - at - 1);
        if (option.size() > 6 && ascii_iequals(option.substr(0, 6), "INBOX=")) path = option.substr(6);
        at = next;
    }
    const auto at = user.rfind('@');
    const std::string_view local = at == std::string_view::npos ? user : user.substr(0, at);
    const std::string_view domain =
        at == std::string_view::npos ? std::string_view() : user.substr(at + 1);
    std::string out;
    if (!path.empty() && path[0] == '~') {
        if (path.size() > 1 && path[1] != '/')
            return tl::unexpected(std::string("mail location uses ~NAME; pop3d knows only ~/"));
        if (home.empty() || home[0] != '/')
            return tl::unexpected(std::string("mail location uses ~ but the userdb gives no "
                                              "absolute home"));
        out = std::string(home);
        path.remove_prefix(1);
    }
    for (std::size_t i = 0; i < path.size(); ++i) {
        if (path[i] != '%') {
            out += path[i];
            continue;
        }
        bool lower = false;
        if (i + 1 < path.size() && path[i + 1] == 'L') {
            lower = true;
            ++i;
        }
        if (i + 1 >= path.size())
            return tl::unexpected(std::string("mail location ends in a lone %"));
        const char v = path[++i];
        std::string value;
        if (v == 'u') value = std::string(user);
        else if (v == 'n') value = std::string(local);
        else if (v == 'd') value = std::string(domain);
        else if (v == '%' && !lower) value = "%";
        else
            return tl::unexpected("mail location uses %" + std::string(lower ? "L" : "") + v +
                                  ", which pop3d does not expand (it knows %u %n %d %Lu %Ln "
                                  "%Ld %%)");
        out += lower ? ascii_lower(value) : value;
    }
    if (out.empty() || out[0] != '/')
        return tl::unexpected("mail location \"" + std::string(mail.substr(0, 100)) +
                              "\" is not an absolute path");
    for (std::size_t start = 1; start <= out.size();) {
        auto slash = out.find('/', start);
        auto part = std::string_view(out).substr(
            start, (slash == std::string::npos ? out.size() : slash) - start);
        if (part == "." || part == "..")
            return tl::unexpected("mail location \"" + out.substr(0, 100) +
                                  "\" has a . or .. component");
        if (part.find('\0') != std::string_view::npos)
            return tl::unexpected(std::string("mail location holds a NUL octet"));
        if (slash == std::string::npos) break;
        start = slash + 1;
    }
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    return out;
}

} // namespace pop3::core::dovecot
