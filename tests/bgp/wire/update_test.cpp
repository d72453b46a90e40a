// UPDATE: every attribute both ways, IPv6 through MP_REACH/MP_UNREACH, ADD-PATH,
// End-of-RIB, the RFC 6793 AS4 merge, unknown attributes, and the packer.
#include <gtest/gtest.h>

#include "bgp/wire/codec.hpp"
#include "bgp/wire/format.hpp"
#include "bgp/wire/update_packer.hpp"
#include "tests/bgp/wire/wire_test_util.hpp"

namespace tern::bgp::wire {
namespace {

using testing::address;
using testing::from_hex;
using testing::prefix;
using testing::to_hex;
using testing::update_message;

Decoded decode_ok(const std::vector<uint8_t>& bytes, const Context& ctx = {}) {
  auto r = decode_message(bytes, ctx);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().reason);
  return r.ok() ? r.value() : Decoded{Keepalive{}, Verdict::kAccepted, {}};
}

PathAttributes full_attributes() {
  PathAttributes a;
  a.origin = Origin::kIncomplete;
  a.as_path = AsPath{{{AsSegmentType::kSequence, {65001, 4200000000u}}, {AsSegmentType::kSet, {65010, 65011}}}};
  a.next_hop = address("198.18.0.1");
  a.med = 50;
  a.local_pref = 200;
  a.atomic_aggregate = true;
  a.aggregator = Aggregator{4200000000u, address("198.18.0.9")};
  a.communities = {0xfde80064, community::kNoExport};
  a.originator_id = 0xc6120005;
  a.cluster_list = {0xc6120063, 0xc6120064};
  a.extended_communities = {0x0002fde800000064ull};
  a.large_communities = {{4200000000u, 1, 2}};
  a.unknown = {{attr_flag::kOptional | attr_flag::kTransitive | attr_flag::kPartial, 99, {1, 2, 3}}};
  return a;
}

TEST(Update, Ipv4WithEveryAttributeRoundTrips) {
  Update u;
  u.attributes = full_attributes();
  u.nlri = {{prefix("198.18.8.0/24"), 0}, {prefix("198.19.0.0/16"), 0}, {prefix("0.0.0.0/0"), 0}};
  u.withdrawn = {{prefix("198.18.9.128/25"), 0}};
  auto d = decode_ok(encode_message(u, {}));
  EXPECT_EQ(d.verdict, Verdict::kAccepted) << d.problems.front();
  EXPECT_EQ(std::get<Update>(d.message), u);
}

TEST(Update, GoldenIpv4Update) {
  auto bytes = update_message({}, from_hex(std::string(testing::kMandatoryAttrs) + " 80 04 04 00000064 c0 08 04 fde80064"),
                              from_hex("18 c6 12 08  17 c6 12 0a"));
  auto d = decode_ok(bytes);
  const auto& u = std::get<Update>(d.message);
  EXPECT_EQ(describe(d.message),
            "UPDATE announce 2 withdraw 0 origin igp as-path [65001] next-hop 198.18.0.1 med 100 communities 65000:100");
  EXPECT_EQ(u.nlri[1].prefix.to_string(), "198.18.10.0/23");
  EXPECT_EQ(to_hex(encode_message(u, {})), to_hex(bytes));
}

TEST(Update, Ipv6ThroughMpReachWithLinkLocalNextHop) {
  Update u;
  u.attributes.origin = Origin::kIgp;
  u.attributes.as_path = AsPath{{{AsSegmentType::kSequence, {65002}}}};
  u.attributes.mp_reach = MpReach{kIpv6Unicast, address("2001:db8::2"), address("fe80::2"),
                                  {{prefix("2001:db8:100::/48"), 0}, {prefix("2001:db8:200::/56"), 0}}};
  u.attributes.mp_unreach = MpUnreach{kIpv6Unicast, {{prefix("2001:db8:300::/48"), 0}}};
  auto bytes = encode_message(u, {});
  auto d = decode_ok(bytes);
  EXPECT_EQ(d.verdict, Verdict::kAccepted);
  EXPECT_EQ(std::get<Update>(d.message), u);
  EXPECT_NE(to_hex(bytes).find("000201" "20" "20010db8000000000000000000000002" "fe800000000000000000000000000002"), std::string::npos)
      << "a 32-octet next hop: global then link-local (RFC 2545)";
}

TEST(Update, Ipv4NlriWithIpv6NextHopRfc8950) {
  Update u;
  u.attributes.origin = Origin::kIgp;
  u.attributes.as_path = AsPath{};
  u.attributes.mp_reach = MpReach{kIpv4Unicast, address("2001:db8::1"), std::nullopt, {{prefix("198.18.4.0/24"), 0}}};
  Context ctx;
  auto bytes = encode_message(u, ctx);
  auto plain = decode_message(bytes, ctx);
  ASSERT_FALSE(plain.ok()) << "not negotiated: the next hop length is inconsistent (RFC 7606 §7.11)";
  EXPECT_EQ(plain.error().subcode, update_error::kOptionalAttributeError);
  ctx.extended_next_hop = true;
  EXPECT_EQ(std::get<Update>(decode_ok(bytes, ctx).message), u);
}

TEST(Update, AddPathIdentifiers) {
  Context ctx;
  ctx.add_path_ipv4 = ctx.add_path_ipv6 = true;
  Update u;
  u.attributes.origin = Origin::kIgp;
  u.attributes.as_path = AsPath{};
  u.attributes.next_hop = address("198.18.0.1");
  u.nlri = {{prefix("198.18.8.0/24"), 1}, {prefix("198.18.8.0/24"), 2}};
  u.withdrawn = {{prefix("198.18.9.0/24"), 7}};
  u.attributes.mp_reach = MpReach{kIpv6Unicast, address("2001:db8::1"), std::nullopt, {{prefix("2001:db8:1::/48"), 3}}};
  auto bytes = encode_message(u, ctx);
  EXPECT_EQ(std::get<Update>(decode_ok(bytes, ctx).message), u);
  EXPECT_FALSE(decode_message(bytes, Context{}).ok() &&
               std::get<Update>(decode_message(bytes, Context{}).value().message) == u)
      << "without ADD-PATH the same bytes mean something else";
}

TEST(Update, EndOfRibForBothFamilies) {
  for (auto family : {kIpv4Unicast, kIpv6Unicast}) {
    auto bytes = encode_message(end_of_rib_marker(family), {});
    auto d = decode_ok(bytes);
    EXPECT_EQ(end_of_rib(std::get<Update>(d.message)), family);
  }
  EXPECT_EQ(encode_message(end_of_rib_marker(kIpv4Unicast), {}).size(), 23u);
  Update not_eor;
  not_eor.attributes.mp_unreach = MpUnreach{kIpv6Unicast, {{prefix("2001:db8::/32"), 0}}};
  EXPECT_EQ(end_of_rib(not_eor), std::nullopt);
}

TEST(As4, TwoOctetPeerGetsAsTransAndAs4Path) {
  Context old_speaker;
  old_speaker.four_octet_as = false;
  Update u;
  u.attributes.origin = Origin::kIgp;
  u.attributes.as_path = AsPath{{{AsSegmentType::kSequence, {65001, 4200000000u, 65002}}}};
  u.attributes.next_hop = address("198.18.0.1");
  u.attributes.aggregator = Aggregator{4200000001u, address("198.18.0.9")};
  u.nlri = {{prefix("198.18.8.0/24"), 0}};
  auto bytes = encode_message(u, old_speaker);
  auto hex = to_hex(bytes);
  EXPECT_NE(hex.find("40020802" "03" "fde9" "5ba0" "fdea"), std::string::npos) << "AS_PATH with AS_TRANS: " << hex;
  EXPECT_NE(hex.find("c0110e0203" "0000fde9" "fa56ea00" "0000fdea"), std::string::npos) << "AS4_PATH: " << hex;
  EXPECT_NE(hex.find("c01208" "fa56ea01" "c6120009"), std::string::npos) << "AS4_AGGREGATOR: " << hex;
  auto d = decode_ok(bytes, old_speaker);
  EXPECT_EQ(d.verdict, Verdict::kAccepted);
  EXPECT_EQ(std::get<Update>(d.message), u) << "the RFC 6793 merge restores the 4-octet path";
}

std::vector<uint8_t> as_path_attr(const std::string& segments_hex) {
  auto v = from_hex(segments_hex);
  std::vector<uint8_t> a{0x40, 0x02, static_cast<uint8_t>(v.size())};
  a.insert(a.end(), v.begin(), v.end());
  return a;
}

Update decode_from_old_speaker(const std::string& extra_attrs_hex, const std::string& as_path_hex) {
  Context old_speaker;
  old_speaker.four_octet_as = false;
  auto attrs = from_hex("40 01 01 00");
  auto path = as_path_attr(as_path_hex);
  attrs.insert(attrs.end(), path.begin(), path.end());
  auto rest = from_hex("40 03 04 c6120001" + extra_attrs_hex);
  attrs.insert(attrs.end(), rest.begin(), rest.end());
  auto d = decode_ok(update_message({}, attrs, from_hex(testing::kOneNlri)), old_speaker);
  return std::get<Update>(d.message);
}

TEST(As4, MergeKeepsLeadingAsesThatAs4PathLacks) {
  // RFC 6793 §4.2.3: AS_PATH 65001 23456 23456 65002 (4), AS4_PATH 4200000000 4200000001 65002 (3):
  // the first 4 - 3 ASes of AS_PATH, then AS4_PATH.
  auto u = decode_from_old_speaker(" c0 11 0e 02 03 fa56ea00 fa56ea01 0000fdea", "02 04 fde9 5ba0 5ba0 fdea");
  EXPECT_EQ(to_string(*u.attributes.as_path), "65001 4200000000 4200000001 65002");
}

TEST(As4, LongerAs4PathIsIgnored) {
  auto u = decode_from_old_speaker(" c0 11 0e 02 03 fa56ea00 fa56ea01 0000fdea", "02 02 fde9 5ba0");
  EXPECT_EQ(to_string(*u.attributes.as_path), "65001 23456");
}

TEST(As4, AggregatorNotAsTransMeansAs4AttributesAreIgnored) {
  auto u = decode_from_old_speaker(" c0 07 06 fdeb c6120009  c0 11 06 02 01 fa56ea00  c0 12 08 fa56ea01 c6120009",
                                   "02 02 fde9 5ba0");
  EXPECT_EQ(to_string(*u.attributes.as_path), "65001 23456");
  EXPECT_EQ(u.attributes.aggregator->asn, 65003u);
}

TEST(As4, As4PathFromFourOctetPeerIsDiscarded) {
  auto attrs = from_hex(std::string(testing::kMandatoryAttrs) + " c0 11 06 02 01 fa56ea00");
  auto d = decode_ok(update_message({}, attrs, from_hex(testing::kOneNlri)));
  EXPECT_EQ(d.verdict, Verdict::kAttributeDiscard);
  EXPECT_EQ(to_string(*std::get<Update>(d.message).attributes.as_path), "65001");
}

TEST(UnknownAttributes, OptionalTransitiveIsKeptWithPartialSet) {
  auto attrs = from_hex(std::string(testing::kMandatoryAttrs) + " c0 63 02 abcd");
  auto d = decode_ok(update_message({}, attrs, from_hex(testing::kOneNlri)));
  EXPECT_EQ(d.verdict, Verdict::kAccepted);
  const auto& u = std::get<Update>(d.message);
  ASSERT_EQ(u.attributes.unknown.size(), 1u);
  EXPECT_EQ(u.attributes.unknown[0].flags, 0xe0) << "Partial set when passed on (RFC 4271 §5)";
  EXPECT_NE(to_hex(encode_message(u, {})).find("e06302abcd"), std::string::npos);
}

TEST(UnknownAttributes, OptionalNonTransitiveIsDroppedQuietly) {
  auto attrs = from_hex(std::string(testing::kMandatoryAttrs) + " 80 63 02 abcd");
  auto d = decode_ok(update_message({}, attrs, from_hex(testing::kOneNlri)));
  EXPECT_EQ(d.verdict, Verdict::kAccepted);
  EXPECT_TRUE(std::get<Update>(d.message).attributes.unknown.empty());
}

TEST(UnknownAttributes, LongOnesUseTheExtendedLength) {
  Update u;
  u.attributes.unknown = {{0xe0, 77, std::vector<uint8_t>(300, 7)}};
  auto bytes = encode_message(u, {});
  EXPECT_NE(to_hex(bytes).find("f04d012c"), std::string::npos);
  EXPECT_EQ(std::get<Update>(decode_ok(bytes).message), u);
}

std::vector<Nlri> many_ipv4(size_t n) {
  std::vector<Nlri> out;
  for (size_t i = 0; i < n; ++i) {
    uint32_t base = 0x0a000000u + static_cast<uint32_t>(i) * 256;  // RIB-only prefixes, never sent traffic
    out.push_back({Prefix(IpAddress::v4(base), 24), 0});
  }
  return out;
}

std::vector<Nlri> collect_announced(const std::vector<std::vector<uint8_t>>& messages, const Context& ctx,
                                    const PathAttributes& expected_attrs, size_t max) {
  std::vector<Nlri> all;
  for (const auto& m : messages) {
    EXPECT_LE(m.size(), max);
    auto d = decode_ok(m, ctx);
    EXPECT_EQ(d.verdict, Verdict::kAccepted);
    auto u = std::get<Update>(d.message);
    all.insert(all.end(), u.nlri.begin(), u.nlri.end());
    if (u.attributes.mp_reach) {
      all.insert(all.end(), u.attributes.mp_reach->nlri.begin(), u.attributes.mp_reach->nlri.end());
      u.attributes.mp_reach->nlri.clear();
    }
    EXPECT_EQ(u.attributes, expected_attrs);
  }
  return all;
}

TEST(UpdatePacker, FillsMessagesToTheMaximumSize) {
  PathAttributes attrs = full_attributes();
  attrs.unknown.clear();
  auto prefixes = many_ipv4(10000);
  std::vector<std::vector<uint8_t>> messages;
  pack_announcements(attrs, prefixes, kIpv4Unicast, {}, messages);
  // 10,000 /24s at 4 octets each: ~40 KB of NLRI, so about 11 messages of up to 4096.
  EXPECT_LE(messages.size(), 11u);
  EXPECT_EQ(collect_announced(messages, {}, attrs, 4096), prefixes);

  Context big;
  big.extended_message = true;
  messages.clear();
  pack_announcements(attrs, prefixes, kIpv4Unicast, big, messages);
  EXPECT_EQ(messages.size(), 1u);
  EXPECT_EQ(collect_announced(messages, big, attrs, 65535), prefixes);
}

TEST(UpdatePacker, Ipv6InMpReach) {
  PathAttributes attrs;
  attrs.origin = Origin::kIgp;
  attrs.as_path = AsPath{{{AsSegmentType::kSequence, {65001}}}};
  attrs.large_communities = {{65001, 7, 7}};
  attrs.mp_reach = MpReach{kIpv6Unicast, address("2001:db8::1"), address("fe80::1"), {}};
  std::vector<Nlri> prefixes;
  for (uint32_t i = 0; i < 3000; ++i) {
    std::array<uint8_t, 16> b{0x20, 0x01, 0x0d, 0xb8, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
    prefixes.push_back({Prefix(IpAddress::v6(b), 48), 0});
  }
  std::vector<std::vector<uint8_t>> messages;
  pack_announcements(attrs, prefixes, kIpv6Unicast, {}, messages);
  EXPECT_GT(messages.size(), 1u);
  EXPECT_EQ(collect_announced(messages, {}, attrs, 4096), prefixes);
}

TEST(UpdatePacker, WithdrawalsForBothFamilies) {
  auto v4 = many_ipv4(5000);
  std::vector<std::vector<uint8_t>> messages;
  pack_withdrawals(v4, kIpv4Unicast, {}, messages);
  std::vector<Nlri> withdrawn;
  for (const auto& m : messages) {
    EXPECT_LE(m.size(), 4096u);
    auto u = std::get<Update>(decode_ok(m).message);
    withdrawn.insert(withdrawn.end(), u.withdrawn.begin(), u.withdrawn.end());
  }
  EXPECT_EQ(withdrawn, v4);

  std::vector<Nlri> v6{{prefix("2001:db8:1::/48"), 0}, {prefix("2001:db8:2::/48"), 0}};
  messages.clear();
  pack_withdrawals(v6, kIpv6Unicast, {}, messages);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(std::get<Update>(decode_ok(messages[0]).message).attributes.mp_unreach->withdrawn, v6);
}

TEST(UpdatePacker, AddPathPrefixesCarryTheirIds) {
  Context ctx;
  ctx.add_path_ipv4 = true;
  PathAttributes attrs;
  attrs.origin = Origin::kIgp;
  attrs.as_path = AsPath{};
  attrs.next_hop = address("198.18.0.1");
  auto prefixes = many_ipv4(2000);
  for (size_t i = 0; i < prefixes.size(); ++i) prefixes[i].path_id = static_cast<uint32_t>(i + 1);
  std::vector<std::vector<uint8_t>> messages;
  pack_announcements(attrs, prefixes, kIpv4Unicast, ctx, messages);
  EXPECT_EQ(collect_announced(messages, ctx, attrs, 4096), prefixes);
}

TEST(Format, AsPathsAndCommunitiesReadAsOperatorsWriteThem) {
  AsPath p{{{AsSegmentType::kConfedSequence, {64512, 64513}},
            {AsSegmentType::kSequence, {65001, 65002}},
            {AsSegmentType::kSet, {65003, 65004}}}};
  EXPECT_EQ(to_string(p), "(64512 64513) 65001 65002 {65003,65004}");
  EXPECT_EQ(p.length(), 3u);
  EXPECT_EQ(p.neighbor_as(), 65001u);
  EXPECT_EQ(community_to_string(community::kNoExport), "no-export");
  EXPECT_EQ(community_to_string(0xfde80064), "65000:100");
  EXPECT_EQ(large_community_to_string({4200000000u, 1, 2}), "4200000000:1:2");
  EXPECT_EQ(extended_community_to_string(0x0002fde800000064ull), "rt 65000:100");
  EXPECT_EQ(extended_community_to_string(0x0103c612000100c8ull), "soo 198.18.0.1:200");
}

}  // namespace
}  // namespace tern::bgp::wire
