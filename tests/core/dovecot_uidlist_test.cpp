#include <catch2/catch.hpp>

#include "pop3/core/dovecot_uidlist.hpp"
#include "pop3/core/uidl.hpp"

using namespace pop3::core;

// The uidlist Dovecot 2.3.19 wrote for four deliveries (one with ,S=,W=).
constexpr std::string_view k_written_by_dovecot =
    "3 V1796169124 N5 Gfa5aff2ba45d0f6b0167000083ecc375\n"
    "1 W23 :1700000000.M9P1.host\n"
    "2 W25 :1700000000.M10P1.host\n"
    "3 W27 :1700000000.M100P1.host\n"
    "4 :1700000001.M5P2.host,S=20,W=21\n";

TEST_CASE("A version 3 uidlist as Dovecot writes it", "[dovecot_uidlist]") {
    auto list = parse_dovecot_uidlist(k_written_by_dovecot);
    REQUIRE(list);
    CHECK(list->uid_validity == 1796169124u);
    REQUIRE(list->by_name.size() == 4);
    CHECK(list->by_name.at("1700000000.M10P1.host").uid == 2u);
    CHECK(list->by_name.at("1700000001.M5P2.host,S=20,W=21").uid == 4u);
    CHECK_FALSE(list->by_name.at("1700000000.M9P1.host").pop3_uidl);
}

TEST_CASE("P, O and G records; names with spaces; unknown keys", "[dovecot_uidlist]") {
    auto list = parse_dovecot_uidlist("3 V7 N11\n"
                                      "8 P1796150912.8 O2 Gabc W74 :1796150911.M4P1.vm,S=69,W=74\n"
                                      "9 P O1 Z42 :name with space:2,S\n");
    REQUIRE(list);
    const auto& eight = list->by_name.at("1796150911.M4P1.vm,S=69,W=74");
    CHECK(eight.pop3_uidl == std::optional<std::string>("1796150912.8"));
    CHECK(eight.pop3_order == std::optional<std::uint32_t>(2));
    CHECK(eight.guid == "abc");
    const auto& nine = list->by_name.at("name with space");
    CHECK(nine.pop3_uidl == std::optional<std::string>("")); // empty P: the file name
    CHECK(nine.pop3_order == std::optional<std::uint32_t>(1));
}

TEST_CASE("A version 1 uidlist (also Courier's courierimapuiddb)", "[dovecot_uidlist]") {
    auto list = parse_dovecot_uidlist("1 1700000000 4\n1 1699.M1P1.h,S=5:2,S\n3 1699.M2P1.h\n");
    REQUIRE(list);
    CHECK(list->uid_validity == 1700000000u);
    CHECK(list->by_name.at("1699.M1P1.h,S=5").uid == 1u);
    CHECK(list->by_name.at("1699.M2P1.h").uid == 3u);
}

TEST_CASE("An append in progress is ignored; anything else malformed is an error",
          "[dovecot_uidlist]") {
    auto torn = parse_dovecot_uidlist("3 V7 N3\n1 :a\n2 W1");
    REQUIRE(torn);
    CHECK(torn->by_name.size() == 1);
    for (std::string_view bad : {"", "2 V7\n", "3 N5\n", "3 V7\nx :a\n", "3 V7\n0 :a\n",
                                 "3 V7\n2 :a\n1 :b\n", "3 V7\n1 W3 a\n", "3 V7\n1 :\n",
                                 "3 V7\n1 Ox :a\n", "1 7\n", "1 x 3\n"}) {
        INFO(bad);
        CHECK_FALSE(parse_dovecot_uidlist(bad));
    }
    auto error = parse_dovecot_uidlist("3 V7\n1 :a\n1 :b\n");
    REQUIRE_FALSE(error);
    CHECK(error.error() == "line 3: UIDs not increasing");
}

TEST_CASE("pop3_uidl_format expands as Dovecot's", "[dovecot_uidlist]") {
    const UidlVariables vars{1, 1796169124, "1700000000.M9P1.host,S=3", ""};
    CHECK(expand_uidl_format(k_dovecot_default_uidl_format, vars) == "000000016b0f5da4");
    CHECK(expand_uidl_format("%v.%u", vars) == "1796169124.1");
    CHECK(expand_uidl_format("%f", vars) == "1700000000.M9P1.host,S=3");
    CHECK(expand_uidl_format("%g", vars) == "1700000000.M9P1.host,S=3");
    CHECK(expand_uidl_format("%{uidvalidity}-%{uid}", vars) == "1796169124-1");
    CHECK(expand_uidl_format("%Uf", vars) == "1700000000.M9P1.HOST,S=3");
    CHECK(expand_uidl_format("%4f", vars) == "1700"); // a width cuts
    CHECK(expand_uidl_format("%04u%%", vars) == "0001%");
    CHECK(expand_uidl_format("%08XUv", vars) == "6B0F5DA4");
    const UidlVariables big{0xFFFFFFFFu, 1, "f", "guid"};
    CHECK(expand_uidl_format("%08Xu%g", big) == "ffffffffguid");
}

TEST_CASE("Unsupported formats are refused", "[dovecot_uidlist]") {
    CHECK(check_uidl_format("%08Xu%08Xv"));
    CHECK(check_uidl_format("%v.%u"));
    CHECK(check_uidl_format("x%%y"));
    for (std::string_view bad : {"", "%", "%m", "%{md5}", "%08", "%{uid", "%0%", "%Xn"}) {
        INFO(bad);
        CHECK_FALSE(check_uidl_format(bad));
    }
}

TEST_CASE("dovecot_listing: O records, then UIDs, then the rest; pinned names keep "
          "pop3d's UIDL", "[dovecot_uidlist]") {
    const std::string text = std::string("3 V5 N9\n"
                                      "3 :c\n"
                                      "4 O1 :d\n"
                                      "6 P :f\n"
                                      "7 Psaved.7 :g\n"
                                      "8 P") + std::string(80, 'x') + " :h\n";
    auto list = parse_dovecot_uidlist(text);
    REQUIRE(list);
    const std::vector<std::string_view> names{"new1", "c", "d", "f", "g", "h", "pinned", "new2"};
    const std::vector<std::string_view> own{"o1", "oc", "od", "of", "og", "oh", "op", "o2"};
    const std::unordered_set<std::string_view> pinned{"pinned", "g"};
    auto out = dovecot_listing(&*list, pinned, names, own, "%v.%u");
    // d (O1) first; then c, f, h by UID (g is pinned); then the rest in order.
    CHECK(out.order == std::vector<std::size_t>{2, 1, 3, 5, 0, 4, 6, 7});
    CHECK(out.uidls == std::vector<std::string>{"5.4", "5.3", "f", uidl_for(std::string(80, 'x')),
                                                "o1", "og", "op", "o2"});
    CHECK(out.newly_pinned == std::vector<std::size_t>{0, 7});
    CHECK(out.from_uidlist == 4u);
    // No uidlist: every message keeps pop3d's UIDL and order, and is pinned.
    auto none = dovecot_listing(nullptr, {}, names, own, "%v.%u");
    CHECK(none.order == std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7});
    CHECK(none.newly_pinned.size() == 8u);
}

TEST_CASE("Courier's courierpop3dsizelist as courierpop3d 1.0.16 wrote it",
          "[dovecot_uidlist]") {
    auto list = parse_courier_sizelist("/3 4 1796169787\n"
                                       "1700000000.M10P1.host:2, 25 1:1796169787:0\n"
                                       "1700000000.M9P1.host:2, 23 2:1796169787:0\n"
                                       "1700000001.M5P2.host,S=20,W=21:2,S 21 3:1796169787:0\n"
                                       "old+3Aname 12\n");
    REQUIRE(list);
    CHECK(list->uid_validity == 1796169787u);
    const auto& first = list->by_name.at("1700000000.M10P1.host");
    CHECK(first.uid == 1u);
    CHECK(first.pop3_uidl == std::optional<std::string>("UID1-1796169787"));
    CHECK(list->by_name.at("1700000001.M5P2.host,S=20,W=21").pop3_uidl ==
          std::optional<std::string>("UID3-1796169787"));
    CHECK(list->by_name.at("old+3Aname").pop3_uidl == std::optional<std::string>("old+3Aname"));
    for (std::string_view bad : {"", "/2 4 5\n", "/3 x 5\n", "/3 4 5\nname\n",
                                 "/3 4 5\nname x 1:5\n", "/3 4 5\nname 1 0:5\n",
                                 "/3 4 5\nname 1 2:5\nother 1 1:5\n", "/3 4 5\nn 1 2\n"}) {
        INFO(bad);
        CHECK_FALSE(parse_courier_sizelist(bad));
    }
}

TEST_CASE("dovecot_listing: every O record comes before every message without one, "
          "whatever the numbers", "[dovecot_uidlist]") {
    auto list = parse_dovecot_uidlist("3 V5 N9\n1 :a\n2 O9 :b\n3 :c\n");
    REQUIRE(list);
    const std::vector<std::string_view> names{"a", "b", "c"};
    const std::vector<std::string_view> own{"oa", "ob", "oc"};
    auto out = dovecot_listing(&*list, {}, names, own, "%u");
    CHECK(out.order == std::vector<std::size_t>{1, 0, 2});
    CHECK(out.uidls == std::vector<std::string>{"2", "1", "3"});
}
