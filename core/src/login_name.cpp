// Login name validation. Both parts end up as directory names under the
// mailstore root, so anything that could climb out of it or confuse a log
// line is refused rather than escaped.
#include "pop3/core/ascii.hpp"
#include "pop3/core/login_name.hpp"

namespace pop3::core {
namespace {

// `what` is "user name" or "domain", used as the subject of the error text.
tl::expected<void, std::string>
check_part(std::string_view part, std::string_view what, std::size_t max_len)
{
    const std::string subject(what);
    if (part.empty())
        return tl::make_unexpected(subject + " is empty");
    if (part.size() > max_len)
        return tl::make_unexpected(subject + " is longer than " +
                                   std::to_string(max_len) + " octets");
    if (part == "." || part == "..")
        return tl::make_unexpected(subject + " is '" + std::string(part) +
                                   "'");
    if (part.front() == '.')
        return tl::make_unexpected(subject + " starts with '.'");
    for (const char c : part) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte == 0)
            return tl::make_unexpected(subject + " contains a NUL byte");
        if (byte < 0x20 || byte == 0x7F)
            return tl::make_unexpected(subject +
                                       " contains a control character");
        if (c == ' ')
            return tl::make_unexpected(subject + " contains a space");
        if (c == '/' || c == '\\' || c == '%')
            return tl::make_unexpected(subject + " contains '" +
                                       std::string(1, c) + "'");
    }
    return {};
}

} // namespace

std::string LoginName::full() const { return local + '@' + domain; }

tl::expected<LoginName, std::string>
parse_login(std::string_view login, std::string_view default_domain)
{
    std::string_view local = login;
    std::string_view domain = default_domain;
    const auto at = login.rfind('@');
    if (at != std::string_view::npos) {
        local = login.substr(0, at);
        domain = login.substr(at + 1);
    } else if (default_domain.empty()) {
        return tl::make_unexpected(std::string(
            "no domain given and no default domain configured"));
    }

    if (auto ok = check_part(local, "user name", k_max_login_local); !ok)
        return tl::make_unexpected(std::move(ok.error()));
    if (auto ok = check_part(domain, "domain", k_max_login_domain); !ok)
        return tl::make_unexpected(std::move(ok.error()));

    // Both parts are lower-cased, as Dovecot does by default
    // (auth_username_format = %Lu), so that one passwd-file and one store
    // layout serve both servers with the same names.
    LoginName name;
    name.local.reserve(local.size());
    for (const char c : local)
        name.local.push_back(ascii_lower(c));
    name.domain.reserve(domain.size());
    for (const char c : domain)
        name.domain.push_back(ascii_lower(c));
    return name;
}

} // namespace pop3::core
