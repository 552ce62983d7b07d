#!/usr/bin/env python3
"""Mutation check of the pure core: do the core's own tests catch small bugs?

Applies each mutation below to one file under core/ (one at a time), rebuilds
the core test targets incrementally and runs only `ctest -L 'core|props'`.
A mutation is killed when the build's tests fail, survives when they pass.
Every file is restored byte for byte after each mutation (and on Ctrl-C).

Not part of CI: it takes a while (one core file recompiled per mutation).

    scripts/mutation-check.py [--build DIR] [-j N] [--only ID,ID] [--list]
                              [--fixed-seeds-only]

With --fixed-seeds-only the props run that draws a new seed is left out:
every kill then comes from a test that does the same on every run.

Runs only in a linked git worktree (never in the main checkout, where others
build), with core/ as committed. A mutation marked `equivalent` cannot change
what the core does (the reason is given); it is run and reported, but not
counted as a survivor. Exit status: 0 when no non-equivalent mutation
survives, 1 otherwise, 2 on a usage or set-up error.
"""
import argparse
import hashlib
import os
import pathlib
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGETS = ["test_core", "props"]


def m(ident, path, find, replace, bug, equivalent=None):
    return dict(id=ident, path=path, find=find, replace=replace, bug=bug,
                equivalent=equivalent)


S = "core/src/"
MUTATIONS = [
    # --- response.cpp: rendering to wire bytes --------------------------------
    m("render-lone-dot-unstuffed", S + "response.cpp",
      "if (!line.empty() && line[0] == '.') out += '.';",
      "if (line.size() > 1 && line[0] == '.') out += '.';",
      "a body line that is a lone '.' is sent unstuffed (ends the body early)"),
    m("render-no-terminator-empty-body", S + "response.cpp",
      '            out += ".\\r\\n";\n            part_ = Part::done;',
      '            if (line_ > 0) out += ".\\r\\n";\n            part_ = Part::done;',
      "a multi-line response with an empty body has no terminating .CRLF"),
    m("listing-piece-skips-a-message", S + "response.cpp",
      "        if (out.size() >= limit) return i;",
      "        if (out.size() >= limit) return i + 1;",
      "a listing sent in pieces loses the first message of each later piece"),
    m("render-sys-perm-as-temp", S + "response.cpp",
      'case RespCode::sys_perm: return "SYS/PERM";',
      'case RespCode::sys_perm: return "SYS/TEMP";',
      "[SYS/PERM] rendered as [SYS/TEMP]"),
    m("render-in-use-misspelt", S + "response.cpp",
      'case RespCode::in_use: return "IN-USE";',
      'case RespCode::in_use: return "IN USE";',
      "[IN-USE] misspelt"),
    m("render-login-delay-misspelt", S + "response.cpp",
      'case RespCode::login_delay: return "LOGIN-DELAY";',
      'case RespCode::login_delay: return "LOGIN_DELAY";',
      "[LOGIN-DELAY] misspelt"),
    m("render-513-octet-lines", S + "response.cpp",
      "if (out.size() - line_start > k_max_response_line - 2)",
      "if (out.size() - line_start > k_max_response_line - 1)",
      "status lines of 513 octets with CRLF"),
    m("render-lf-in-text", S + "response.cpp",
      "if (out[i] == '\\r' || out[i] == '\\n' || out[i] == '\\0') out[i] = ' ';",
      "if (out[i] == '\\r' || out[i] == '\\0') out[i] = ' ';",
      "a LF in a text splits the status line"),
    m("render-continuation-as-ok", S + "response.cpp",
      'out += "+ ";',
      'out += "+OK ";',
      "a SASL continuation is sent as +OK"),
    m("render-sanitises-earlier-output", S + "response.cpp",
      "std::size_t line_start = out.size();",
      "std::size_t line_start = 0;",
      "render_to rewrites the responses already in the buffer"),

    # --- step.cpp: the session --------------------------------------------------
    m("retr-keeps-bad-count", S + "step.cpp",
      "                state.bad_commands = 0;\n                Step s{std::move(state), {}, {}};\n"
      "                s.effects.emplace_back(SendMessage{\n                    *index, size, std::nullopt,",
      "                Step s{std::move(state), {}, {}};\n"
      "                s.effects.emplace_back(SendMessage{\n                    *index, size, std::nullopt,",
      "RETR does not reset the bad-command count"),
    m("top-keeps-bad-count", S + "step.cpp",
      "                state.bad_commands = 0;\n                Step s{std::move(state), {}, {}};\n"
      "                s.effects.emplace_back(SendMessage{\n                    *index, size, c.lines,",
      "                Step s{std::move(state), {}, {}};\n"
      "                s.effects.emplace_back(SendMessage{\n                    *index, size, c.lines,",
      "TOP does not reset the bad-command count"),
    m("noop-keeps-bad-count", S + "step.cpp",
      '[&](const Noop&) -> Step { return good(std::move(state), ok("")); },',
      '[&](const Noop&) -> Step { return respond(std::move(state), ok("")); },',
      "NOOP does not reset the bad-command count"),
    m("bad-limit-off-by-one", S + "step.cpp",
      "if (state.bad_commands >= config.max_bad_commands) {",
      "if (state.bad_commands > config.max_bad_commands) {",
      "one bad command more than the limit"),
    m("auth-limit-off-by-one", S + "step.cpp",
      "if (++back.auth_failures >= config.max_auth_failures) {",
      "if (++back.auth_failures > config.max_auth_failures) {",
      "one failed login more than the limit"),
    m("missing-message-counts-as-bad", S + "step.cpp",
      "        return respond(std::move(state), err(std::move(text)));\n    };",
      "        return bad_command(std::move(state), std::move(text), config);\n    };",
      "refusals about missing messages count towards the bad-command limit"),
    m("sasl-credentials-without-auth-code", S + "step.cpp",
      "f.credentials ? bad_credentials() : err(f.reason),",
      "err(f.reason),",
      "a SCRAM credential failure is -ERR without [AUTH]"),
    m("capa-no-stls-with-allow-plaintext", S + "step.cpp",
      "if (before_login && config.tls_available && !tls) r.body.emplace_back(\"STLS\");",
      "if (before_login && config.tls_available && !tls && !config.allow_plaintext)"
      " r.body.emplace_back(\"STLS\");",
      "STLS missing from CAPA with a certificate and --allow-plaintext"),
    m("capa-stls-after-login", S + "step.cpp",
      "auto caps = capability_list(state.tls, false, config);",
      "auto caps = capability_list(state.tls, true, config);",
      "STLS listed in TRANSACTION"),
    m("tls-started-not-recorded", S + "step.cpp",
      "        next.tls = true;\n",
      "",
      "after STLS the session still thinks it is in the clear"),
    m("plaintext-ignores-allow", S + "step.cpp",
      "return tls || config.allow_plaintext || !config.tls_available;",
      "return tls || !config.tls_available;",
      "--allow-plaintext has no effect"),
    m("sasl-offers-plain-before-tls", S + "step.cpp",
      "if (!sends_password(m) || plaintext_allowed(tls, config))",
      "if (!sends_password(m) || login_allowed(tls, config))",
      "PLAIN and LOGIN offered in the clear with a certificate"),
    m("apop-banner-ignores-config", S + "step.cpp",
      "next.apop_banner = config.apop && !c->apop_banner.empty();",
      "next.apop_banner = !c->apop_banner.empty();",
      "APOP advertised when the site turned it off"),
    m("apop-stamp-after-text", S + "step.cpp",
      'std::string text = next.apop_banner ? c->apop_banner\n',
      'std::string text = next.apop_banner ? "POP3 server ready " + c->apop_banner\n',
      "the APOP timestamp after a text, not right after +OK (BusyBox)"),
    m("gone-message-not-hidden", S + "step.cpp",
      "                    box.mark_vanished(g.index);\n                    return respond",
      "                    return respond",
      "a message found gone during RETR stays listed"),
    m("stat-counts-deleted", S + "step.cpp",
      "auto r = ok(std::to_string(box.visible_count()) + ' ' +",
      "auto r = ok(std::to_string(box.size()) + ' ' +",
      "STAT counts deleted messages"),
    m("update-failure-needs-two", S + "step.cpp",
      "if (u->failed > 0)",
      "if (u->failed > 1)",
      "one failed removal is answered +OK"),
    m("auth-unavailable-without-code", S + "step.cpp",
      '"unavailable; try again later",\n                                       RespCode::sys_temp',
      '"unavailable; try again later",\n                                       RespCode::none',
      "an unavailable password database is -ERR without [SYS/TEMP]"),
    m("listing-shows-deleted", S + "response.cpp",
      "[&view](std::size_t i) { return view.visible(i); }",
      "[&view](std::size_t i) { return view.fate(i) != Fate::vanished; }",
      "LIST and UIDL list deleted messages"),
    m("dele-is-unrestorable", S + "step.cpp",
      "box.mark_deleted(*index);",
      "box.mark_vanished(*index);",
      "DELE marks a message as vanished (RSET cannot restore it, QUIT does not remove it)"),
    m("last-message-unreachable", S + "step.cpp",
      "if (msg == 0 || msg > box.size())",
      "if (msg == 0 || msg >= box.size())",
      "the last message cannot be named"),

    m("summary-counts-messages-as-octets", S + "step.cpp",
      'plural(box.visible_octets(), "octet") + ")";',
      'plural(box.visible_count(), "octet") + ")";',
      "the maildrop summary gives the message count as its size"),
    m("top-marks-seen", S + "step.cpp",
      "*index, size, c.lines, false,",
      "*index, size, c.lines, config.mark_seen,",
      "TOP marks the message Seen"),
    m("capa-user-when-login-allowed", S + "step.cpp",
      'if (plaintext_allowed(tls, config)) r.body.emplace_back("USER");',
      'if (login_allowed(tls, config)) r.body.emplace_back("USER");',
      "USER advertised where plaintext logins are refused"),
    m("vanished-index-unchecked", S + "step.cpp",
      "if (index < box.size()) box.mark_vanished(index);",
      "box.mark_vanished(index);",
      "an expunge report past the snapshot is not ignored (out of bounds)"),

    # --- mailbox.cpp: fates and totals ---------------------------------------
    m("rset-skips-last-message", S + "mailbox.cpp",
      "for (std::size_t i = 0; i < fates_.size(); ++i) {\n        if (fates_[i] == Fate::deleted) {",
      "for (std::size_t i = 0; i + 1 < fates_.size(); ++i) {\n        if (fates_[i] == Fate::deleted) {",
      "RSET does not restore the last message"),
    m("rset-forgets-octets", S + "mailbox.cpp",
      "            ++count_;\n            octets_ += info(i).size;",
      "            ++count_;",
      "RSET restores the count but not the octets"),
    m("delete-keeps-octets", S + "mailbox.cpp",
      "        octets_ -= info(index).size;\n",
      "",
      "a deleted message's octets stay in STAT"),
    m("update-includes-vanished", S + "mailbox.cpp",
      "if (fates_[i] == Fate::deleted) out.push_back(i);",
      "if (fates_[i] != Fate::present) out.push_back(i);",
      "QUIT also removes messages another client expunged"),
    m("delete-any-fate", S + "mailbox.cpp",
      "if (fates_[index] == Fate::present) hide(index, Fate::deleted);",
      "hide(index, Fate::deleted);",
      "mark_deleted of a message that is not present",
      equivalent="step() calls mark_deleted only after locate() found the message "
                 "present, and hide() adjusts the totals only for present messages"),

    # --- dotstuff.cpp: message bodies ----------------------------------------
    m("stuff-scalar-no-dot", S + "dotstuff.cpp",
      "        if (c == '.' && at_line_start_) *w++ = '.';\n",
      "",
      "lines starting with '.' are not stuffed (octet-at-a-time path)"),
    m("stuff-block-misses-last-octet", S + "dotstuff.cpp",
      "unsigned insert = ((lfs & ~after_cr) | (dots & line_start)) & 0xFFFFu;",
      "unsigned insert = ((lfs & ~after_cr) | (dots & line_start)) & 0x7FFFu;",
      "the block scanner ignores the 16th octet of each block"),
    m("stuff-block-forgets-cr", S + "dotstuff.cpp",
      "prev_cr_ = p[15] == '\\r';",
      "prev_cr_ = false;",
      "a CRLF split across blocks gets a second CR"),
    m("finish-no-final-crlf", S + "dotstuff.cpp",
      '    if (!at_line_start_) out += "\\r\\n";\n',
      "",
      "a message without a final line end runs into the terminator"),
    m("size-bare-lf-one-octet", S + "dotstuff.cpp",
      "if (!had_cr) ++octets_; // bare LF is sent as CRLF",
      "if (!had_cr) octets_ += 0; // bare LF counted as sent",
      "LIST sizes count bare LF as one octet"),
    m("size-unterminated-line", S + "dotstuff.cpp",
      "return octets_ + (at_line_start_ ? 0 : 2);",
      "return octets_ + (at_line_start_ ? 0 : 1);",
      "LIST size of a message without a final line end is one short"),
    m("top-one-line-too-many", S + "dotstuff.cpp",
      "if (--body_left_ == 0) { done_ = true; return i; }",
      "if (body_left_-- == 0) { done_ = true; return i; }",
      "TOP n sends n+1 body lines"),

    # --- uidl.cpp -------------------------------------------------------------
    m("uidl-lets-del-through", S + "uidl.cpp",
      "return u >= 0x21 && u <= 0x7E;",
      "return u >= 0x21 && u <= 0x7F;",
      "0x7F passes into a UIDL"),
    m("uidl-encoded-shape-collides", S + "uidl.cpp",
      "std::all_of(base_name.begin(), base_name.end(), uidl_char) &&\n           !looks_encoded(base_name);",
      "std::all_of(base_name.begin(), base_name.end(), uidl_char) &&\n           (!looks_encoded(base_name) || true);",
      "a file named like another's encoded UIDL takes that UIDL"),
    m("uidl-71-octets", S + "uidl.cpp",
      "constexpr std::size_t k_prefix = k_max_uidl - k_hash_digits - 1;",
      "constexpr std::size_t k_prefix = k_max_uidl - k_hash_digits;",
      "encoded UIDLs of 71 octets"),
    m("uidl-hash-changed", S + "uidl.cpp",
      "hash *= 0x100000001b3ULL;",
      "hash *= 0x100000001b5ULL;",
      "another hash: every encoded UIDL changes on upgrade"),
    m("base-name-keeps-attributes", S + "uidl.cpp",
      "file_name[end] != ':' && file_name[end] != ','",
      "file_name[end] != ':'",
      "the ,S= and ,W= attributes become part of the UIDL"),

    # --- parse.cpp ------------------------------------------------------------
    m("top-count-trailing-junk", S + "parse.cpp",
      "line_count(std::string_view text) {\n    if (!all_digits(text))",
      "line_count(std::string_view text) {\n    if (text.empty() || text[0] < '0' || text[0] > '9')",
      "TOP 1 5x is TOP 1 5"),
    m("top-count-plus-sign", S + "parse.cpp",
      "line_count(std::string_view text) {\n    if (!all_digits(text))",
      "line_count(std::string_view text) {\n    if (!all_digits(text.substr(text.substr(0, 1) == \"+\")))",
      "TOP 1 +5 is accepted"),
    m("msg-number-trailing-junk", S + "parse.cpp",
      "    if (!all_digits(text))\n        return fail(ParseError::Kind::bad_arguments,\n"
      "                    \"invalid message number",
      "    if (text[0] < '0' || text[0] > '9')\n        return fail(ParseError::Kind::bad_arguments,\n"
      "                    \"invalid message number",
      "RETR 1x is RETR 1"),
    m("msg-number-max-refused", S + "parse.cpp",
      "value > k_max_message_number)",
      "value >= k_max_message_number)",
      "message 4294967295 cannot be named"),
    m("msg-number-zero-accepted", S + "parse.cpp",
      "    if (value == 0)\n",
      "    if (value == 0 && text.size() > 1)\n",
      "RETR 0 parses"),
    m("del-in-command-line", S + "parse.cpp",
      "if (u < 0x20 || u == 0x7F)\n            return fail(",
      "if (u < 0x20)\n            return fail(",
      "0x7F accepted in command lines"),
    m("command-line-254", S + "parse.cpp",
      "if (line.size() + 2 > k_max_command_line)",
      "if (line.size() + 1 > k_max_command_line)",
      "a 255-octet command line is refused"),
    m("apop-digest-longer", S + "parse.cpp",
      "return text.size() == 32 &&",
      "return text.size() >= 32 &&",
      "APOP digests longer than 32 digits accepted"),
    m("trailing-space-ignored", S + "parse.cpp",
      "    if (space != std::string_view::npos && args.empty()) args.emplace_back();\n",
      "",
      "\"LIST \" is LIST"),
    m("redact-unparsed-auth", S + "parse.cpp",
      ' || ascii_iequals(word, "AUTH"))',
      ")",
      "an unparsable AUTH line is logged with its credentials"),

    # --- framing.cpp ----------------------------------------------------------
    m("framing-keeps-cr", S + "framing.cpp",
      "std::size_t content = (len > 0 && base[len - 1] == '\\r') ? len - 1 : len;",
      "std::size_t content = len;",
      "the CR of CRLF stays in the command line"),
    m("framing-limit-off-by-one", S + "framing.cpp",
      "if (discarded > 0 || content + 2 > max_line_)",
      "if (discarded > 0 || content + 1 > max_line_)",
      "a 255-octet line is overlong"),
    m("framing-holds-a-full-line", S + "framing.cpp",
      "if (held >= max_line_) {",
      "if (held > max_line_) {",
      "the framer buffers a line past the limit"),

    m("framing-bare-lf-unseen", S + "framing.cpp",
      "last_bare_lf_ = content == len;",
      "last_bare_lf_ = false;",
      "the conduct report never sees a bare LF"),

    # --- conduct.cpp ----------------------------------------------------------
    m("conduct-pipelining-always-known", S + "conduct.cpp",
      "c.pipelining_known = listed(c, cap_pipelining);",
      "c.pipelining_known = true;",
      "pipelining is never blamed, PIPELINING listed or not"),
    m("conduct-zero-not-blamed", S + "conduct.cpp",
      "if (n == 0) note(c, Kind::message_zero, label);",
      "if (n == 0) (void)0;",
      "RETR 0 goes unreported"),
    m("conduct-range-off-by-one", S + "conduct.cpp",
      "else if (n > line.where.messages)",
      "else if (n >= line.where.messages)",
      "the last message's number is blamed as out of range"),
    m("conduct-retry-unseen", S + "conduct.cpp",
      ": hash == c.pending_hash    ? Reaction::retried",
      ": false ? Reaction::retried",
      "a retried command is told as continuing"),
    m("conduct-retry-by-label", S + "conduct.cpp",
      ": hash == c.pending_hash    ? Reaction::retried",
      ": label == c.pending->label ? Reaction::retried",
      "XTND then XFOO (or USER a then USER b) told as a retry"),
    m("conduct-plaintext-over-tls", S + "conduct.cpp",
      "!line.where.tls && listed(c, cap_stls) &&",
      "listed(c, cap_stls) &&",
      "USER/PASS over TLS blamed as plaintext"),
    m("conduct-plaintext-without-capa", S + "conduct.cpp",
      "!line.where.tls && listed(c, cap_stls) &&",
      "!line.where.tls &&",
      "a client that never saw STLS listed is blamed for plaintext"),
    m("conduct-capa-survives-tls", S + "conduct.cpp",
      "        c.advertised = 0;\n",
      "",
      "CAPA from before STLS still counts over TLS"),
    m("conduct-no-quit-blames-server-close", S + "conduct.cpp",
      "if (!quit && (end == End::client_disconnected || end == End::timeout ||",
      "if (!quit && (true ||",
      "a session the server or a time limit ended is blamed for no QUIT"),
    m("conduct-time-limit-is-silence", S + "conduct.cpp",
      ": end == End::timeout           ? Reaction::silent",
      ": end == End::timeout || end == End::time_limit ? Reaction::silent",
      "a -ERR pending at the session time limit is told as silence"),
    m("conduct-sasl-overlong-as-command", S + "conduct.cpp",
      "note(c, line.where.phase == Phase::sasl_response ? Kind::overlong_sasl_response",
      "note(c, false ? Kind::overlong_sasl_response",
      "an overlong SASL response is blamed with the 255-octet rule"),
    m("privsep-handoff-conduct-unchecked", S + "privsep_wire.cpp",
      "        if (!f[5].empty())\n",
      "        if (false)\n",
      "the login process's conduct part reaches the monitor unchecked"),
    m("conduct-obsolete-marked-malformed", S + "conduct.cpp",
      "if (label.keyword == k_unknown || label.keyword >= k_last) return label;",
      "if (label.keyword == k_unknown) return label;",
      "LAST is reported as a malformed known command"),
    m("conduct-decode-trailing-data", S + "conduct.cpp",
      'if (!r.rest.empty()) return tl::unexpected(std::string("conduct: trailing data"));',
      "",
      "a hand-over form with trailing numbers is accepted"),

    # --- sasl.cpp -------------------------------------------------------------
    m("scram-failure-not-credentials", S + "sasl.cpp",
      'SaslFailure{"invalid user name or password", true}',
      'SaslFailure{"invalid user name or password", false}',
      "a wrong SCRAM proof is not reported as a credential failure"),
    m("base64-noncanonical", S + "sasl.cpp",
      "(pad == 1 && (n & 0xFF) != 0)",
      "(pad == 1 && (n & 0x3F) != 0)",
      "non-canonical base64 with one '=' accepted"),
    m("plain-authzid-length-only", S + "sasl.cpp",
      "if (!authzid.empty() && authzid != user)",
      "if (!authzid.empty() && authzid.size() != user.size())",
      "PLAIN lets one user act as another of the same name length"),
    m("scram-nonce-prefix", S + "sasl.cpp",
      "if (attributes[1].substr(2) != s.nonce)",
      "if (attributes[1].substr(2, s.nonce.size()) != s.nonce)",
      "a SCRAM nonce that only starts with ours is accepted"),
    m("login-empty-password", S + "sasl.cpp",
      '        if (response.empty()) return fail(std::move(s), "empty LOGIN password");\n',
      "",
      "LOGIN verifies an empty password"),
    m("login-is-not-plaintext", S + "sasl.cpp",
      "return m == Mechanism::plain || m == Mechanism::login;",
      "return m == Mechanism::plain;",
      "LOGIN offered before TLS"),

    # --- effect.cpp -----------------------------------------------------------
    m("effect-prints-index", S + "effect.cpp",
      "                           << (e.index + 1);",
      "                           << e.index;",
      "effects print 0-based message numbers"),
    m("indices-print-0-based", S + "effect.cpp",
      "for (auto i : v) out << ' ' << (i + 1);",
      "for (auto i : v) out << ' ' << i;",
      "update and vanished events print 0-based numbers"),

    # --- access_rules.cpp, ip_address.cpp, proxy_header.cpp ------------------
    m("access-shortest-prefix-wins", S + "access_rules.cpp",
      "(!best || r.prefix.bits > best->prefix.bits)",
      "(!best || r.prefix.bits < best->prefix.bits)",
      "the shortest matching prefix decides the access level"),
    m("access-later-equal-prefix-wins", S + "access_rules.cpp",
      "(!best || r.prefix.bits > best->prefix.bits)",
      "(!best || r.prefix.bits >= best->prefix.bits)",
      "of two matching prefixes of one length, the later wins",
      equivalent="two distinct prefixes of the same length never both contain an "
                 "address, and a repeated prefix is refused by the parser"),
    m("access-level-leading-zero", S + "access_rules.cpp",
      "if (rest.empty() || (rest.size() > 1 && rest[0] == '0') || ec != std::errc{} ||",
      "if (rest.empty() || ec != std::errc{} ||",
      "access levels with leading zeros accepted"),
    m("ipv4-leading-zero", S + "ip_address.cpp",
      "if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0'))",
      "if (part.empty() || part.size() > 3)",
      "01.2.3.4 accepted (octal in other parsers)"),
    m("rfc5952-last-equal-run", S + "ip_address.cpp",
      "if (j - i > best_len) { best = i; best_len = j - i; }",
      "if (j - i >= best_len) { best = i; best_len = j - i; }",
      "of equal zero runs the last becomes ::, against RFC 5952"),
    m("prefix-family-ignored", S + "ip_address.cpp",
      "    if (prefix.base.v6 != address.v6) return false;\n",
      "",
      "an IPv4 prefix matches IPv6 addresses"),
    m("prefix-first-host-bit-unchecked", S + "ip_address.cpp",
      "for (unsigned bit = bits; bit < width; ++bit)",
      "for (unsigned bit = bits + 1; bit < width; ++bit)",
      "a prefix with its first host bit set accepted"),
    m("proxy-crc-field-not-zeroed", S + "proxy_header.cpp",
      "for (std::size_t i = 0; i < 4; ++i) copy[*crc_at + i] = '\\0';",
      "for (std::size_t i = 0; i < 3; ++i) copy[*crc_at + i] = '\\0';",
      "every CRC32C is computed wrongly"),
    m("proxy-v2-unknown-command", S + "proxy_header.cpp",
      "if (command > 1) return Unexpected",
      "if (command > 2) return Unexpected",
      "PROXY v2 command 2 accepted"),
    m("proxy-ssl-wrong-bit", S + "proxy_header.cpp",
      "h.client_tls = (client & 0x01) != 0;",
      "h.client_tls = (client & 0x02) != 0;",
      "the balancer's TLS bit read from the wrong flag"),
    m("proxy-v1-limit-off-by-one", S + "proxy_header.cpp",
      "if (end + 2 > k_v1_max) return Unexpected",
      "if (end + 1 > k_v1_max) return Unexpected",
      "a PROXY v1 line of exactly 107 octets refused"),

    # --- dovecot_uidlist.cpp (issue 14), dovecot_auth.cpp (issue 13) ----------
    m("uidl-format-hex-ignored", S + "dovecot_uidlist.cpp",
      "if (m == 'X') value = hex_of_decimal_prefix(value);",
      "if (m == 'x') value = hex_of_decimal_prefix(value);",
      "%08Xu gives decimal, not Dovecot's hex"),
    m("uidl-format-space-padding", S + "dovecot_uidlist.cpp",
      "out.append(d->width - value.size(), '0');",
      "out.append(d->width - value.size(), ' ');",
      "a zero-padded width pads with spaces"),
    m("uidlist-order-records-not-first", S + "dovecot_uidlist.cpp",
      "keys.emplace_back(0, *record->pop3_order, i);",
      "keys.emplace_back(1, *record->pop3_order, i);",
      "O records do not number messages first"),
    m("uidlist-empty-p-not-file-name", S + "dovecot_uidlist.cpp",
      "uidl_of[i] = record->pop3_uidl->empty() ? std::string(unique_names[i])",
      "uidl_of[i] = !record->pop3_uidl->empty() ? std::string(unique_names[i])",
      "an empty P record is not the file name (and a full one is ignored)"),
    m("uidlist-repeats-kept", S + "dovecot_uidlist.cpp",
      "!used.insert(uidl).second && attempt < 8",
      "false && attempt < 8",
      "a format without %u repeats UIDLs within the mailbox"),
    m("courier-uidl-shape", S + "dovecot_uidlist.cpp",
      'record.pop3_uidl = "UID" + std::to_string(*uid) + "-" + std::to_string(*validity);',
      'record.pop3_uidl = "UID" + std::to_string(*uid) + "." + std::to_string(*validity);',
      "Courier's UID<n>-<uidv> written with a dot"),
    m("dovecot-auth-tab-not-escaped", S + "dovecot_auth.cpp",
      """        case '\\t': out += "\\001t"; break;\n""",
      "",
      "a TAB inside a field is sent as a field separator"),
    m("dovecot-auth-unknown-escape-kept", S + "dovecot_auth.cpp",
      'default: return tl::unexpected(std::string("an unknown escape"));',
      "default: out += field[i]; break;",
      "an unknown escape in the service's line is accepted"),
    m("dovecot-auth-line-limit-off", S + "dovecot_auth.cpp",
      "if (line.size() > k_max_dovecot_auth_line)",
      "if (line.size() > k_max_dovecot_auth_line + 1)",
      "a line one octet over the limit is parsed"),
    m("delivery-usec-letter", S + "maildir_name.cpp",
      "base[dot + 1] != 'M')",
      "base[dot + 1] != 'N')",
      "same-second deliveries are not ordered by their M<usec>"),
    # --- login_name.cpp, maildir_name.cpp, passwd_line.cpp ---------------------
    m("login-split-at-first-at", S + "login_name.cpp",
      "const auto at = login.rfind('@');",
      "const auto at = login.find('@');",
      "a login is split at the first '@'"),
    m("login-trailing-dot-instead", S + "login_name.cpp",
      "if (part.front() == '.')",
      "if (part.back() == '.')",
      "a leading dot accepted, a trailing one refused"),
    m("login-domain-case-kept", S + "login_name.cpp",
      "name.domain.push_back(ascii_lower(c));",
      "name.domain.push_back(c);",
      "the domain is not lower-cased"),
    m("flags-unsorted", S + "maildir_name.cpp",
      "    std::sort(flags.begin(), flags.end());\n",
      "",
      "added flags are not kept in ASCII order"),
    m("maildir-size-trailing-junk", S + "maildir_name.cpp",
      "if (ec != std::errc{} || ptr != text.data() + text.size())",
      "if (ec != std::errc{})",
      ",W=12a read as 12"),
    m("maildir-flags-with-comma", S + "maildir_name.cpp",
      'if (info.substr(0, 2) == "2,") out.flags = info.substr(2);',
      'if (info.substr(0, 2) == "2,") out.flags = info.substr(1);',
      "the flags keep the comma of :2,"),
    m("passwd-id-minus-one-accepted", S + "passwd_line.cpp",
      "if (value == UINT32_MAX)",
      "if (value == UINT32_MAX - 1)",
      "uid 4294967295 ((uid_t)-1) accepted"),
    m("passwd-keeps-cr", S + "passwd_line.cpp",
      "if (!line.empty() && line.back() == '\\r')",
      "if (!line.empty() && line.back() == '\\n')",
      "a CRLF passwd-file keeps the CR in its last field"),
    m("passwd-scheme-case-kept", S + "passwd_line.cpp",
      "? static_cast<char>(c - 'a' + 'A') : c;",
      "? static_cast<char>(c) : c;",
      "{sha512-crypt} is not SHA512-CRYPT"),

    # --- privsep_wire.cpp -----------------------------------------------------
    m("netstring-leading-zero", S + "privsep_wire.cpp",
      "if (digits.size() > 1 && digits[0] == '0')",
      "if (digits.size() > 2 && digits[0] == '0')",
      "netstring lengths like 05 accepted"),
    m("scram-verdict-half-checked", S + "privsep_wire.cpp",
      "if (*ok != (login->result.outcome == AuthResult::Outcome::accepted))",
      "if (!*ok && login->result.outcome == AuthResult::Outcome::accepted)",
      "a SCRAM verdict that rejects a right proof is accepted as well-formed"),
    m("origin-not-canonical", S + "privsep_wire.cpp",
      "if (!address || to_string(*address) != f[1])",
      "if (!address)",
      "ORIGIN accepts non-canonical address text"),

    # --- scenario.cpp: --scenario files ---------------------------------------
    m("scenario-mailbox-action-before-login", S + "scenario.cpp",
      "if (needs_mailbox(*action) && before_login(*trigger))",
      "if (needs_mailbox(*action) && before_login(*trigger) && !needs_mailbox(*action))",
      "expunge at login is accepted, though no mailbox is open then"),
    m("scenario-rule-fires-twice", S + "scenario.cpp",
      "if (progress.fired[i] || !matches(",
      "if (!matches(",
      "a rule fires at every match, not once"),
    m("scenario-verb-argument-ignored", S + "scenario.cpp",
      "c.verb == t.verb && (!t.argument || c.argument == t.argument);",
      "c.verb == t.verb;",
      "before RETR 2 fires on RETR 1 too"),
    m("scenario-trailing-words-accepted", S + "scenario.cpp",
      "        if (w.size() > n + 1)\n",
      "        if (false)\n",
      "'expunge 2 3' or 'close now' accepted"),
    m("scenario-line-number-off-by-one", S + "scenario.cpp",
      "rule->line = number_of_line;",
      "rule->line = number_of_line - 1;",
      "rules name the line before theirs"),
    m("scenario-crlf-kept", S + "scenario.cpp",
      "if (!line.empty() && line.back() == '\\r') line.remove_suffix(1);",
      "",
      "a CRLF file's rules end in CR"),
    m("scenario-delay-unbounded", S + "scenario.cpp",
      "number(\"the delay in ms\", w[1], 0, k_max_scenario_delay_ms)",
      "number(\"the delay in ms\", w[1], 0, k_max_number)",
      "a delay of hours accepted"),
]


def run(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, **kw)


def git(*args):
    return run(["git", *args]).stdout.strip()


def build(build_dir, jobs):
    return run(["cmake", "--build", str(build_dir), "--target", *TARGETS,
                "-j", str(jobs)]).returncode == 0


def tests_pass(build_dir, fixed_seeds_only):
    cmd = ["ctest", "--test-dir", str(build_dir), "-L", "core|props",
           "--stop-on-failure", "--timeout", "120", "-j", "2"]
    if fixed_seeds_only:
        cmd += ["-E", "^props$"]  # the run that draws a new seed
    return run(cmd).returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--only", help="comma-separated mutation ids")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--fixed-seeds-only", action="store_true",
                    help="leave out the props run with a new seed, so that a kill "
                         "never depends on the seed drawn")
    args = ap.parse_args()

    ids = [x["id"] for x in MUTATIONS]
    if len(set(ids)) != len(ids):
        sys.exit("mutation-check: duplicate mutation ids")
    if args.list:
        for x in MUTATIONS:
            tag = " (equivalent)" if x["equivalent"] else ""
            print(f'{x["id"]:36} {x["path"]:28} {x["bug"]}{tag}')
        return 0

    # Only in a linked worktree: the main checkout is where others build.
    if git("rev-parse", "--git-dir") == git("rev-parse", "--git-common-dir"):
        print("mutation-check: run it in a linked git worktree, not the main checkout",
              file=sys.stderr)
        return 2
    if git("status", "--porcelain", "--", "core"):
        print("mutation-check: core/ has uncommitted changes; commit them first",
              file=sys.stderr)
        return 2

    covered = {x["path"] for x in MUTATIONS}
    missing = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "core/src").glob("*.cpp")
                     if str(p.relative_to(ROOT)) not in covered)
    if missing:
        print("mutation-check: no mutation for " + ", ".join(missing), file=sys.stderr)
        return 2

    chosen = MUTATIONS
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - set(ids)
        if unknown:
            print("mutation-check: unknown ids " + ", ".join(sorted(unknown)), file=sys.stderr)
            return 2
        chosen = [x for x in MUTATIONS if x["id"] in wanted]

    # Every mutation must apply to exactly one place, checked before any run.
    originals = {}
    for x in chosen:
        path = ROOT / x["path"]
        originals.setdefault(x["path"], path.read_bytes())
        count = originals[x["path"]].decode().count(x["find"])
        if count != 1:
            print(f'mutation-check: {x["id"]}: the text to mutate occurs {count} times '
                  f'in {x["path"]}', file=sys.stderr)
            return 2

    build_dir = pathlib.Path(args.build)
    start = time.monotonic()
    if not build(build_dir, args.jobs) or not tests_pass(build_dir, args.fixed_seeds_only):
        print("mutation-check: the unmutated core does not build or pass its tests",
              file=sys.stderr)
        return 2
    print(f"baseline: builds and passes ({time.monotonic() - start:.0f} s)", flush=True)

    def restore(rel):
        path = ROOT / rel
        path.write_bytes(originals[rel])
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != hashlib.sha256(originals[rel]).hexdigest():
            raise SystemExit(f"mutation-check: could not restore {rel}")

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    results = []
    try:
        for n, x in enumerate(chosen, 1):
            t0 = time.monotonic()
            path = ROOT / x["path"]
            try:
                path.write_bytes(originals[x["path"]].decode()
                                 .replace(x["find"], x["replace"]).encode())
                if not build(build_dir, args.jobs):
                    status = "build-failed"
                elif tests_pass(build_dir, args.fixed_seeds_only):
                    status = "equivalent" if x["equivalent"] else "SURVIVED"
                else:
                    status = "killed"
            finally:
                restore(x["path"])
            results.append((x, status))
            print(f'[{n:2}/{len(chosen)}] {status:12} {x["id"]:36} '
                  f'{time.monotonic() - t0:5.1f} s', flush=True)
    except KeyboardInterrupt:
        print("mutation-check: interrupted; files restored", file=sys.stderr)
        build(build_dir, args.jobs)
        return 2
    build(build_dir, args.jobs)  # leave the build matching the sources

    elapsed = time.monotonic() - start
    killed = sum(1 for _, s in results if s == "killed")
    equivalent = [x for x, s in results if s == "equivalent"]
    survived = [x for x, s in results if s == "SURVIVED"]
    broken = [x for x, s in results if s == "build-failed"]
    print(f"\nkilled {killed}/{len(results) - len(equivalent)} "
          f"(+{len(equivalent)} equivalent, run and surviving as expected), "
          f"survived {len(survived)}, build failed {len(broken)}; "
          f"{elapsed / 60:.1f} min")
    for x in survived:
        print(f'  survived: {x["id"]} ({x["path"]}): {x["bug"]}')
    for x in broken:
        print(f'  build failed (fix the mutation): {x["id"]}')
    for x, s in results:
        if x["equivalent"] and s != "equivalent":
            print(f'  marked equivalent but {s}: {x["id"]}')
    return 0 if not survived and not broken else 1


if __name__ == "__main__":
    sys.exit(main())
