// Dovecot's POP3 UIDLs, read-only (--uidl dovecot, issue 14): its
// dovecot-uidlist file (version 3, and version 1 as Courier's courierimapuiddb
// also is) and its pop3_uidl_format, so that clients moving from Dovecot's
// POP3 server to pop3d on the same Maildir download nothing again.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <tl/expected.hpp>

namespace pop3::core {

// One message of the uidlist.
struct UidlistRecord {
    std::uint32_t uid = 0;
    std::optional<std::string> pop3_uidl;        // P: saved by pop3_save_uidl
    std::optional<std::uint32_t> pop3_order;     // O: saved POP3 order
    std::string guid;                            // G, if any
};

struct Uidlist {
    std::uint32_t uid_validity = 0;
    // Records by file name up to its first ':' (maildir_unique_name()).
    std::unordered_map<std::string, UidlistRecord> by_name;
};

// Parses the whole text of a dovecot-uidlist. Version 3: a header
// "3 V<uidvalidity> N<nextuid> [G<guid>] ..." then "<uid> [<key><value> ...]
// :<name>" lines; version 1: "1 <uidvalidity> <nextuid>" then
// "<uid> <name>". A last line without its line feed (an append in progress)
// is ignored; any other malformed line makes the whole file an error (with
// the line number), since a partial reading could renumber messages.
// Unknown keys are skipped. UIDs must be increasing, as Dovecot writes them.
[[nodiscard]] tl::expected<Uidlist, std::string> parse_dovecot_uidlist(std::string_view text);

// Parses Courier's courierpop3dsizelist (--uidl courier): a header
// "/3 <nextuid> <uidvalidity>", then "<file name> <size> <uid>:<uidvalidity>[:...]"
// lines. Each record's UIDL is Courier's "UID<uid>-<uidvalidity>" (as a P
// record, so dovecot_listing uses it as is); an entry without the UID part
// (written by an older Courier) has its file name as written for UIDL.
// Records are keyed by the name up to ':' as in parse_dovecot_uidlist.
[[nodiscard]] tl::expected<Uidlist, std::string> parse_courier_sizelist(std::string_view text);

// What pop3_uidl_format's variables stand for.
struct UidlVariables {
    std::uint32_t uid = 0;          // %u
    std::uint32_t uid_validity = 0; // %v
    std::string_view file_name;     // %f: the name up to ':'
    std::string_view guid;          // %g: the G record, else the file name
};

// Checks a pop3_uidl_format: "%" [0][width] [X|L|U]... (u|v|f|g|%), or
// the same with "{uid}", "{uidvalidity}", "{filename}", "{guid}"; anything
// else is an error naming the offending part.
[[nodiscard]] tl::expected<void, std::string> check_uidl_format(std::string_view format);

// Expands a format check_uidl_format() accepted, as Dovecot does: X is
// lower-case hexadecimal of a number, L and U change case, a width pads on
// the left (with zeros after "0"). "%08Xu%08Xv" gives "000000016b0f1680".
[[nodiscard]] std::string expand_uidl_format(std::string_view format, const UidlVariables& vars);

// The UIDLs and the numbering of a mailbox under --uidl dovecot.
struct DovecotListing {
    std::vector<std::size_t> order;     // message number - 1 -> index given
    std::vector<std::string> uidls;     // by message number - 1, RFC 1939-valid
    std::vector<std::size_t> newly_pinned; // indices given a pop3d UIDL now
    std::size_t from_uidlist = 0;       // how many Dovecot's rule decided
    std::size_t repeated = 0;           // values that repeated and were replaced
};

// Decides, for messages known by `unique_names` (maildir_unique_name(), in
// pop3d's own delivery order) and their pop3d UIDLs `own_uidls`: a message
// in `pinned` (given a pop3d UIDL by an earlier session) keeps it; else one
// in `uidlist` gets Dovecot's (its P record, an empty P meaning the file
// name, else `format` expanded); else it gets its pop3d UIDL and is listed
// in newly_pinned, for the caller to record. Numbering: messages with an O
// record by O, then the others of the uidlist by UID, then the rest in the
// order given. A UIDL that breaks RFC 1939's rule is encoded by uidl_for;
// one that repeats an earlier message's is replaced (counted in repeated),
// so UIDLs stay unique.
[[nodiscard]] DovecotListing
dovecot_listing(const Uidlist* uidlist, const std::unordered_set<std::string_view>& pinned,
                const std::vector<std::string_view>& unique_names,
                const std::vector<std::string_view>& own_uidls, std::string_view format);

// Dovecot's default pop3_uidl_format.
inline constexpr std::string_view k_dovecot_default_uidl_format = "%08Xu%08Xv";

} // namespace pop3::core
