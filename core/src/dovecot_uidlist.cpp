// dovecot-uidlist parsing and pop3_uidl_format expansion (see the header).
// Facts from Dovecot 2.3.19 as observed on our Maildirs (docs/migration.md).
#include <algorithm>
#include <charconv>
#include <tuple>

#include "pop3/core/ascii.hpp"
#include "pop3/core/dovecot_uidlist.hpp"
#include "pop3/core/uidl.hpp"

namespace pop3::core {
namespace {

template <class Number>
std::optional<Number> decimal(std::string_view text) {
    Number value = 0;
    if (text.empty()) return std::nullopt;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
    return value;
}

// Splits off the next space-separated word of `rest`.
std::string_view next_word(std::string_view& rest) {
    const auto space = rest.find(' ');
    const std::string_view word = rest.substr(0, space);
    rest.remove_prefix(space == std::string_view::npos ? rest.size() : space + 1);
    return word;
}

std::string at_line(std::size_t n, std::string_view what) {
    return "line " + std::to_string(n) + ": " + std::string(what);
}

// "3 V<uidvalidity> N<nextuid> ..." or "1 <uidvalidity> <nextuid>".
tl::expected<std::pair<int, std::uint32_t>, std::string> header(std::string_view line) {
    std::string_view rest = line;
    const auto version = next_word(rest);
    if (version == "1") {
        auto validity = decimal<std::uint32_t>(next_word(rest));
        if (!validity || !decimal<std::uint32_t>(next_word(rest)))
            return tl::unexpected(at_line(1, "not a version 1 header"));
        return std::pair{1, *validity};
    }
    if (version != "3") return tl::unexpected(at_line(1, "unknown uidlist version"));
    std::optional<std::uint32_t> validity;
    for (int i = 0; i < 64 && !rest.empty(); ++i) {
        const auto word = next_word(rest);
        if (!word.empty() && word[0] == 'V') validity = decimal<std::uint32_t>(word.substr(1));
    }
    if (!validity) return tl::unexpected(at_line(1, "no V<uidvalidity> in the header"));
    return std::pair{3, *validity};
}

} // namespace

tl::expected<Uidlist, std::string> parse_dovecot_uidlist(std::string_view text) {
    Uidlist out;
    std::size_t number = 0;
    int version = 0;
    std::uint32_t last_uid = 0;
    while (!text.empty()) {
        const auto newline = text.find('\n');
        if (newline == std::string_view::npos) break; // an append in progress
        const std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline + 1);
        ++number;
        if (number == 1) {
            auto h = header(line);
            if (!h) return tl::unexpected(h.error());
            version = h->first;
            out.uid_validity = h->second;
            continue;
        }
        std::string_view rest = line;
        auto uid = decimal<std::uint32_t>(next_word(rest));
        if (!uid || *uid == 0) return tl::unexpected(at_line(number, "no UID"));
        if (*uid <= last_uid) return tl::unexpected(at_line(number, "UIDs not increasing"));
        last_uid = *uid;
        UidlistRecord record;
        record.uid = *uid;
        std::string_view name;
        if (version == 1) {
            name = rest;
        } else {
            // Keys until the " :" that starts the name (a name may hold spaces).
            for (int i = 0; i < 64 && !rest.empty() && rest[0] != ':'; ++i) {
                const auto word = next_word(rest);
                if (word.empty()) continue;
                const auto value = word.substr(1);
                if (word[0] == 'P') {
                    record.pop3_uidl = std::string(value);
                } else if (word[0] == 'O') {
                    record.pop3_order = decimal<std::uint32_t>(value);
                    if (!record.pop3_order)
                        return tl::unexpected(at_line(number, "bad O record"));
                } else if (word[0] == 'G') {
                    record.guid = std::string(value);
                }
            }
            if (rest.empty() || rest[0] != ':')
                return tl::unexpected(at_line(number, "no ':' before the file name"));
            name = rest.substr(1);
        }
        name = name.substr(0, name.find(':'));
        if (name.empty()) return tl::unexpected(at_line(number, "no file name"));
        out.by_name.insert_or_assign(std::string(name), std::move(record));
    }
    if (number == 0) return tl::unexpected(std::string("empty uidlist"));
    return out;
}

tl::expected<Uidlist, std::string> parse_courier_sizelist(std::string_view text) {
    Uidlist out;
    std::size_t number = 0;
    std::uint32_t last_uid = 0;
    while (!text.empty()) {
        const auto newline = text.find('\n');
        if (newline == std::string_view::npos) break; // a write in progress
        std::string_view rest = text.substr(0, newline);
        text.remove_prefix(newline + 1);
        ++number;
        if (number == 1 && !rest.empty() && rest[0] == '/') {
            rest.remove_prefix(1);
            if (next_word(rest) != "3") return tl::unexpected(at_line(1, "unknown sizelist version"));
            auto next = decimal<std::uint32_t>(next_word(rest));
            auto validity = decimal<std::uint32_t>(next_word(rest));
            if (!next || !validity) return tl::unexpected(at_line(1, "bad sizelist header"));
            out.uid_validity = *validity;
            continue;
        }
        const std::string_view name = next_word(rest);
        if (name.empty() || !decimal<std::uint64_t>(next_word(rest)))
            return tl::unexpected(at_line(number, "no file name and size"));
        UidlistRecord record;
        if (rest.empty()) {
            record.pop3_uidl = std::string(name); // an older Courier's entry
        } else {
            const auto colon = rest.find(':');
            auto uid = decimal<std::uint32_t>(rest.substr(0, colon));
            if (!uid || *uid == 0 || colon == std::string_view::npos)
                return tl::unexpected(at_line(number, "bad UID"));
            auto tail = rest.substr(colon + 1);
            auto validity = decimal<std::uint32_t>(tail.substr(0, tail.find(':')));
            if (!validity) return tl::unexpected(at_line(number, "bad UIDVALIDITY"));
            if (*uid <= last_uid) return tl::unexpected(at_line(number, "UIDs not increasing"));
            last_uid = *uid;
            record.uid = *uid;
            record.pop3_uidl = "UID" + std::to_string(*uid) + "-" + std::to_string(*validity);
        }
        if (record.uid == 0) record.uid = last_uid; // keeps the file's order
        out.by_name.insert_or_assign(std::string(name.substr(0, name.find(':'))),
                                     std::move(record));
    }
    if (number == 0) return tl::unexpected(std::string("empty sizelist"));
    return out;
}

namespace {

struct Directive {
    bool zero_padding = false;
    std::size_t width = 0;
    std::string_view modifiers;
    char variable = 0; // u, v, f, g, or '%'
    std::size_t length = 0; // of the whole directive, '%' included
};

std::optional<Directive> directive_at(std::string_view format) {
    Directive d;
    std::size_t i = 1;
    if (i < format.size() && format[i] == '0') {
        d.zero_padding = true;
        ++i;
    }
    std::size_t digits = 0;
    for (; i < format.size() && is_ascii_digit(format[i]) && digits < 3; ++i, ++digits)
        d.width = d.width * 10 + static_cast<std::size_t>(format[i] - '0');
    const std::size_t modifiers_start = i;
    for (; i < format.size() && (format[i] == 'X' || format[i] == 'L' || format[i] == 'U'); ++i) {}
    d.modifiers = format.substr(modifiers_start, i - modifiers_start);
    if (i >= format.size()) return std::nullopt;
    if (format[i] == '{') {
        const auto close = format.find('}', i);
        if (close == std::string_view::npos) return std::nullopt;
        const auto name = format.substr(i + 1, close - i - 1);
        if (name == "uid") d.variable = 'u';
        else if (name == "uidvalidity") d.variable = 'v';
        else if (name == "filename") d.variable = 'f';
        else if (name == "guid") d.variable = 'g';
        else return std::nullopt;
        d.length = close + 1;
        return d;
    }
    const char c = format[i];
    if (c != 'u' && c != 'v' && c != 'f' && c != 'g' && c != '%') return std::nullopt;
    if (c == '%' && i != 1) return std::nullopt;
    d.variable = c;
    d.length = i + 1;
    return d;
}

std::string hex_of_decimal_prefix(std::string_view value) {
    unsigned long long n = 0;
    for (char c : value) {
        if (!is_ascii_digit(c)) break;
        n = n * 10 + static_cast<unsigned long long>(c - '0');
    }
    char buffer[32];
    auto [ptr, ec] = std::to_chars(buffer, buffer + sizeof buffer, n, 16);
    (void)ec; // 32 octets always hold a 64-bit number in hex
    return std::string(buffer, ptr);
}

} // namespace

tl::expected<void, std::string> check_uidl_format(std::string_view format) {
    if (format.empty()) return tl::unexpected(std::string("empty format"));
    for (std::size_t i = 0; i < format.size();) {
        if (format[i] != '%') {
            ++i;
            continue;
        }
        auto d = directive_at(format.substr(i));
        if (!d)
            return tl::unexpected("unsupported directive at offset " + std::to_string(i) +
                                  "; known: %u %v %f %g %% (or %{uid} ...), with "
                                  "[0][width] and the X, L, U modifiers");
        i += d->length;
    }
    return {};
}

std::string expand_uidl_format(std::string_view format, const UidlVariables& vars) {
    std::string out;
    for (std::size_t i = 0; i < format.size();) {
        if (format[i] != '%') {
            out += format[i++];
            continue;
        }
        auto d = directive_at(format.substr(i));
        if (!d) { // check_uidl_format refuses these; copy it as it is
            out += format[i++];
            continue;
        }
        i += d->length;
        std::string value;
        switch (d->variable) {
        case 'u': value = std::to_string(vars.uid); break;
        case 'v': value = std::to_string(vars.uid_validity); break;
        case 'f': value = std::string(vars.file_name); break;
        case 'g': value = std::string(vars.guid.empty() ? vars.file_name : vars.guid); break;
        default: value = "%"; break;
        }
        for (char m : d->modifiers) {
            if (m == 'X') value = hex_of_decimal_prefix(value);
            else if (m == 'L') value = ascii_lower(value);
            else value = ascii_upper(value);
        }
        if (d->width == 0) {
            out += value;
        } else if (!d->zero_padding) {
            out += value.substr(0, d->width); // Dovecot: a width cuts
        } else {
            if (value.size() < d->width) out.append(d->width - value.size(), '0');
            out += value;
        }
    }
    return out;
}

DovecotListing dovecot_listing(const Uidlist* uidlist,
                               const std::unordered_set<std::string_view>& pinned,
                               const std::vector<std::string_view>& unique_names,
                               const std::vector<std::string_view>& own_uidls,
                               std::string_view format) {
    const std::size_t n = unique_names.size();
    // (group, key) per message: 0 = O record by O, 1 = uidlist by UID,
    // 2 = the rest in the order given.
    std::vector<std::tuple<int, std::uint64_t, std::size_t>> keys;
    keys.reserve(n);
    std::vector<std::string> uidl_of(n);
    DovecotListing out;
    for (std::size_t i = 0; i < n; ++i) {
        const UidlistRecord* record = nullptr;
        if (uidlist && !pinned.count(unique_names[i])) {
            auto found = uidlist->by_name.find(std::string(unique_names[i]));
            if (found != uidlist->by_name.end()) record = &found->second;
        }
        if (record == nullptr) {
            uidl_of[i] = std::string(own_uidls[i]);
            keys.emplace_back(2, i, i);
            if (!pinned.count(unique_names[i])) out.newly_pinned.push_back(i);
            continue;
        }
        ++out.from_uidlist;
        if (record->pop3_uidl)
            uidl_of[i] = record->pop3_uidl->empty() ? std::string(unique_names[i])
                                                    : *record->pop3_uidl;
        else
            uidl_of[i] = expand_uidl_format(
                format, {record->uid, uidlist->uid_validity, unique_names[i], record->guid});
        uidl_of[i] = uidl_for(uidl_of[i]); // unchanged when RFC 1939-valid
        if (record->pop3_order)
            keys.emplace_back(0, *record->pop3_order, i);
        else
            keys.emplace_back(1, record->uid, i);
    }
    std::stable_sort(keys.begin(), keys.end());
    out.order.reserve(n);
    out.uidls.reserve(n);
    // RFC 1939: unique within the mailbox. A format without %u or %f (or
    // equal P records) can repeat a value: every repeat after the first
    // takes a value made from its own unique name instead, the same in every
    // session that sees the same files.
    std::unordered_set<std::string> used;
    used.reserve(n);
    for (const auto& key : keys) {
        const std::size_t i = std::get<2>(key);
        std::string uidl = std::move(uidl_of[i]);
        for (int attempt = 0; !used.insert(uidl).second && attempt < 8; ++attempt) {
            ++out.repeated;
            uidl = uidl_for("~" + std::to_string(attempt) + "~" + std::string(unique_names[i]));
        }
        out.order.push_back(i);
        out.uidls.push_back(std::move(uidl));
    }
    return out;
}

} // namespace pop3::core
