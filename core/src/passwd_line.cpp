// Dovecot passwd-file line parser. Field layout (passwd-file(5) in Dovecot's
// documentation): user:password:uid:gid:gecos:home:shell:extra_fields; every
// field after the password is optional and may be empty.
#include "pop3/core/passwd_line.hpp"

#include <cstdint>

#include <charconv>
#include <cstddef>
#include <system_error>
#include <vector>

namespace pop3::core {
namespace {

constexpr std::size_t k_passwd_fields_before_extra = 7;

bool is_blank(char c) { return c == ' ' || c == '\t'; }

char to_upper_ascii(char c)
{
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

bool is_scheme_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

// Splits into at most k_passwd_fields_before_extra + 1 fields: the extra
// fields (the eighth onwards) are kept together and may contain ':'.
std::vector<std::string_view> split_fields(std::string_view line)
{
    std::vector<std::string_view> fields;
    while (fields.size() < k_passwd_fields_before_extra) {
        const auto colon = line.find(':');
        if (colon == std::string_view::npos)
            break;
        fields.push_back(line.substr(0, colon));
        line.remove_prefix(colon + 1);
    }
    fields.push_back(line);
    return fields;
}

// Strict: ASCII digits only, no sign, no blanks, no overflow. Empty = absent.
tl::expected<std::optional<std::uint32_t>, std::string>
parse_id(std::string_view field, std::string_view name)
{
    if (field.empty())
        return std::optional<std::uint32_t>{};
    for (const char c : field) {
        if (c < '0' || c > '9')
            return tl::make_unexpected(std::string(name) +
                                       " field is not a decimal number");
    }
    std::uint32_t value = 0;
    const auto [end, ec] =
        std::from_chars(field.data(), field.data() + field.size(), value);
    if (ec == std::errc::result_out_of_range)
        return tl::make_unexpected(std::string(name) +
                                   " field is too large (over 4294967295)");
    if (ec != std::errc{} || end != field.data() + field.size())
        return tl::make_unexpected(std::string(name) +
                                   " field is not a decimal number");
    // 4294967295 is (uid_t)-1: "leave unchanged" to setresuid(2).
    if (value == UINT32_MAX)
        return tl::make_unexpected(std::string(name) +
                                   " field is 4294967295, which is not a valid id");
    return std::optional<std::uint32_t>{value};
}

} // namespace

tl::expected<std::optional<PasswdEntry>, std::string>
parse_passwd_line(std::string_view line)
{
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);

    std::size_t first = 0;
    while (first < line.size() && is_blank(line[first]))
        ++first;
    if (first == line.size() || line[first] == '#')
        return std::optional<PasswdEntry>{};

    const auto fields = split_fields(line);
    if (fields.size() < 2)
        return tl::make_unexpected(
            std::string("no ':' after the user name"));

    PasswdEntry entry;
    if (fields[0].empty())
        return tl::make_unexpected(std::string("user name is empty"));
    entry.user = std::string(fields[0]);

    std::string_view password = fields[1];
    if (!password.empty() && password.front() == '{') {
        const auto close = password.find('}');
        if (close == std::string_view::npos)
            return tl::make_unexpected(
                std::string("password scheme has '{' but no closing '}'"));
        const auto scheme = password.substr(1, close - 1);
        if (scheme.empty())
            return tl::make_unexpected(
                std::string("password scheme between '{}' is empty"));
        for (const char c : scheme) {
            if (!is_scheme_char(c))
                return tl::make_unexpected(std::string(
                    "password scheme contains a character other than "
                    "letters, digits, '-', '.' and '_'"));
            entry.scheme.push_back(to_upper_ascii(c));
        }
        password.remove_prefix(close + 1);
    } else {
        entry.scheme = "CRYPT";
    }
    entry.secret = std::string(password);

    if (fields.size() > 2) {
        auto uid = parse_id(fields[2], "uid");
        if (!uid)
            return tl::make_unexpected(std::move(uid.error()));
        entry.uid = *uid;
    }
    if (fields.size() > 3) {
        auto gid = parse_id(fields[3], "gid");
        if (!gid)
            return tl::make_unexpected(std::move(gid.error()));
        entry.gid = *gid;
    }
    // fields[4] is gecos, fields[6] the shell, fields[7] the extra fields:
    // pop3d has no use for them.
    if (fields.size() > 5)
        entry.home = std::string(fields[5]);
    return std::optional<PasswdEntry>{std::move(entry)};
}

} // namespace pop3::core
