// The RIB through its interface: UPDATEs in, best-path changes and packed UPDATEs out.
// Every UPDATE it writes is decoded again with bgp/wire to check what a peer would see.
#include <gtest/gtest.h>

#include "bgp/rib/rib.hpp"

namespace tern::bgp::rib {
namespace {

using wire::AsPath;
using wire::AsSegment;
using wire::AsSegmentType;

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
Prefix pfx(const char* s) { return *Prefix::parse(s); }

constexpr wire::Asn kOurAs = 65001;
constexpr uint32_t kOurId = 0xc6120001;  // 198.18.0.1

PeerInfo peer(const char* name, const char* address, wire::Asn asn, uint32_t router_id) {
  PeerInfo p;
  p.name = name;
  p.address = ip(address);
  p.asn = asn;
  p.internal = asn == kOurAs;
  p.router_id = router_id;
  p.families = {wire::kIpv4Unicast, wire::kIpv6Unicast};
  p.self_v4 = ip("198.18.0.1");
  p.self_v6 = ip("2001:db8::1");
  p.import.allow = {{pfx("198.18.0.0/15"), 16, 32}, {pfx("2001:db8::/32"), 32, 128}};
  p.import.deny = {pfx("198.18.100.0/24")};  // the node's own block
  return p;
}

wire::Update announce(std::vector<const char*> prefixes, const char* next_hop, std::vector<wire::Asn> path) {
  wire::Update u;
  u.attributes.origin = wire::Origin::kIgp;
  u.attributes.as_path = AsPath{{AsSegment{AsSegmentType::kSequence, std::move(path)}}};
  u.attributes.next_hop = ip(next_hop);
  for (auto p : prefixes) u.nlri.push_back({pfx(p), 0});
  return u;
}

wire::Update withdraw(std::vector<const char*> prefixes) {
  wire::Update u;
  for (auto p : prefixes) u.withdrawn.push_back({pfx(p), 0});
  return u;
}

struct Fixture : ::testing::Test {
  std::vector<BestChange> changes;
  Options options{kOurAs, kOurId, 0, {}};
  std::unique_ptr<Rib> rib;

  void make(Options o) {
    rib = std::make_unique<Rib>(o, [this](const BestChange& c) { changes.push_back(c); });
  }
  void SetUp() override { make(options); }

  // What `id` would receive: the UPDATEs decoded.
  std::vector<wire::Update> sent_to(PeerId id) {
    std::vector<wire::Update> out;
    for (const auto& m : rib->take_updates(id)) {
      auto d = wire::decode_message(m, rib->peer(id).encode);
      EXPECT_TRUE(d.ok()) << d.error().reason;
      if (d) out.push_back(std::get<wire::Update>(d.value().message));
    }
    return out;
  }
  static std::vector<Prefix> nlri(const std::vector<wire::Update>& us) {
    std::vector<Prefix> out;
    for (const auto& u : us) {
      for (const auto& n : u.nlri) out.push_back(n.prefix);
      if (u.attributes.mp_reach) {
        for (const auto& n : u.attributes.mp_reach->nlri) out.push_back(n.prefix);
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

TEST_F(Fixture, AcceptedPrefixBecomesABestChangeAndItsWithdrawalRemovesIt) {
  PeerId tor = rib->add_peer(peer("tor", "198.18.0.2", 65002, 2));
  auto r = rib->apply(tor, announce({"198.18.8.0/24"}, "198.18.0.2", {65002}), wire::Verdict::kAccepted);
  EXPECT_EQ(r.announced, 1u);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].prefix, pfx("198.18.8.0/24"));
  EXPECT_EQ(changes[0].next_hops, std::vector<IpAddress>{ip("198.18.0.2")});
  rib->apply(tor, announce({"198.18.8.0/24"}, "198.18.0.2", {65002}), wire::Verdict::kAccepted);
  EXPECT_EQ(changes.size(), 1u) << "the same route again changes nothing";
  rib->apply(tor, withdraw({"198.18.8.0/24"}), wire::Verdict::kAccepted);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_TRUE(changes[1].next_hops.empty());
  EXPECT_EQ(rib->prefixes(Family::kIpv4), 0u);
  EXPECT_EQ(rib->paths(), 0u);
}

TEST_F(Fixture, ImportIsDefaultDeny) {
  PeerId tor = rib->add_peer(peer("tor", "198.18.0.2", 65002, 2));
  auto r = rib->apply(tor,
                      announce({"0.0.0.0/0", "192.0.2.0/24", "198.18.100.0/24", "198.18.100.128/25", "198.18.0.0/15",
                                "198.18.9.0/24"},
                               "198.18.0.2", {65002}),
                      wire::Verdict::kAccepted);
  EXPECT_EQ(r.announced, 1u) << "only 198.18.9.0/24: the default, outside the pools, the node's own block "
                                "(and inside it), and a /15 shorter than allowed are refused";
  EXPECT_EQ(r.refused, 5u);
  EXPECT_EQ(rib->prefixes(Family::kIpv4), 1u);

  auto info = peer("tor2", "198.18.0.6", 65002, 3);
  info.import.accept_default_route = true;
  info.import.allow.push_back({pfx("0.0.0.0/0"), 0, 0});
  PeerId tor2 = rib->add_peer(info);
  EXPECT_EQ(rib->apply(tor2, announce({"0.0.0.0/0"}, "198.18.0.6", {65002}), wire::Verdict::kAccepted).announced, 1u);
}

TEST_F(Fixture, LoopsAndTreatAsWithdrawRemoveWhatWasThere) {
  PeerId tor = rib->add_peer(peer("tor", "198.18.0.2", 65002, 2));
  rib->apply(tor, announce({"198.18.8.0/24", "198.18.9.0/24"}, "198.18.0.2", {65002}), wire::Verdict::kAccepted);
  auto r = rib->apply(tor, announce({"198.18.8.0/24"}, "198.18.0.2", {65002, kOurAs}), wire::Verdict::kAccepted);
  EXPECT_EQ(r.refused, 1u) << "our own AS in the path";
  EXPECT_EQ(r.withdrawn, 1u);
  r = rib->apply(tor, announce({"198.18.9.0/24"}, "198.18.0.2", {65002}), wire::Verdict::kTreatAsWithdraw);
  EXPECT_EQ(r.withdrawn, 1u);
  EXPECT_EQ(rib->prefixes(Family::kIpv4), 0u);
}

TEST_F(Fixture, PeerDownWithdrawsItsRoutesAndTheNextBestTakesOver) {
  PeerId a = rib->add_peer(peer("a", "198.18.0.2", 65002, 2));
  PeerId b = rib->add_peer(peer("b", "198.18.0.6", 65003, 3));
  rib->apply(a, announce({"198.18.8.0/24"}, "198.18.0.2", {65002}), wire::Verdict::kAccepted);
  rib->apply(b, announce({"198.18.8.0/24"}, "198.18.0.6", {65003, 65010}), wire::Verdict::kAccepted);
  EXPECT_EQ(changes.back().next_hops, std::vector<IpAddress>{ip("198.18.0.2")}) << "shorter path";
  rib->remove_peer(a);
  EXPECT_EQ(changes.back().next_hops, std::vector<IpAddress>{ip("198.18.0.6")});
  rib->remove_peer(b);
  EXPECT_TRUE(changes.back().next_hops.empty());
  EXPECT_EQ(rib->paths(), 0u);
}

TEST_F(Fixture, EqualPathsFromTwoTorsAreOneMultipathRoute) {
  options.decision.max_paths = 4;
  options.decision.multipath_relax = true;
  make(options);
  PeerId a = rib->add_peer(peer("a", "198.18.0.2", 65002, 2));
  PeerId b = rib->add_peer(peer("b", "198.18.0.6", 65003, 3));
  rib->apply(a, announce({"198.18.8.0/24"}, "198.18.0.2", {65002, 65100}), wire::Verdict::kAccepted);
  rib->apply(b, announce({"198.18.8.0/24"}, "198.18.0.6", {65003, 65100}), wire::Verdict::kAccepted);
  EXPECT_EQ(changes.back().next_hops, (std::vector<IpAddress>{ip("198.18.0.2"), ip("198.18.0.6")}));
  auto view = rib->view(pfx("198.18.8.0/24"));
  ASSERT_EQ(view.size(), 1u);
  EXPECT_TRUE(view[0].paths[0].best);
  EXPECT_TRUE(view[0].paths[1].multipath);
  EXPECT_EQ(view[0].paths[1].lost_because, Reason::kRouterId);

  options.decision.multipath_relax = false;
  make(options);
  a = rib->add_peer(peer("a", "198.18.0.2", 65002, 2));
  b = rib->add_peer(peer("b", "198.18.0.6", 65003, 3));
  rib->apply(a, announce({"198.18.8.0/24"}, "198.18.0.2", {65002, 65100}), wire::Verdict::kAccepted);
  rib->apply(b, announce({"198.18.8.0/24"}, "198.18.0.6", {65003, 65100}), wire::Verdict::kAccepted);
  EXPECT_EQ(changes.back().next_hops, std::vector<IpAddress>{ip("198.18.0.2")}) << "different ASes: not relaxed";
}

TEST_F(Fixture, LocalBlockGoesToEbgpWithOurAsAndNextHopSelfThenEndOfRib) {
  rib->announce_local(pfx("198.18.100.0/24"));
  rib->announce_local(pfx("2001:db8:100::/56"));
  EXPECT_TRUE(changes.back().local);
  PeerId tor = rib->add_peer(peer("tor", "198.18.0.2", 65002, 2));
  auto updates = sent_to(tor);
  ASSERT_EQ(updates.size(), 4u) << "one UPDATE per family, then End-of-RIB for each";
  EXPECT_EQ(nlri(updates), (std::vector<Prefix>{pfx("198.18.100.0/24"), pfx("2001:db8:100::/56")}));
  for (const auto& u : updates) {
    if (wire::end_of_rib(u)) continue;
    const auto& a = u.attributes;
    EXPECT_EQ(a.as_path->segments[0].asns, std::vector<wire::Asn>{kOurAs});
    EXPECT_FALSE(a.local_pref) << "never to eBGP";
    if (a.mp_reach) {
      EXPECT_EQ(a.mp_reach->next_hop, ip("2001:db8::1"));
    } else {
      EXPECT_EQ(a.next_hop, ip("198.18.0.1"));
    }
  }
  EXPECT_TRUE(wire::end_of_rib(updates[2]) && wire::end_of_rib(updates[3]));
  EXPECT_TRUE(sent_to(tor).empty()) << "nothing new";

  rib->withdraw_local(pfx("198.18.100.0/24"));
  auto w = sent_to(tor);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].withdrawn, (std::vector<wire::Nlri>{{pfx("198.18.100.0/24"), 0}}));
}

TEST_F(Fixture, LearnedRoutesAreNotTransitByDefault) {
  PeerId a = rib->add_peer(peer("a", "198.18.0.2", 65002, 2));
  auto info_b = peer("b", "198.18.0.6", 65003, 3);
  PeerId b = rib->add_peer(info_b);
  auto info_c = peer("c", "198.18.0.10", 65004, 4);
  info_c.exports.learned = true;
  PeerId c = rib->add_peer(info_c);
  sent_to(b);
  sent_to(c);
  rib->apply(a, announce({"198.18.8.0/24"}, "198.18.0.2", {65002}), wire::Verdict::kAccepted);
  EXPECT_TRUE(nlri(sent_to(b)).empty()) << "a node is not a transit between its ToRs";
  auto to_c = sent_to(c);
  ASSERT_EQ(nlri(to_c), std::vector<Prefix>{pfx("198.18.8.0/24")});
  EXPECT_EQ(to_c[0].attributes.as_path->segments[0].asns, (std::vector<wire::Asn>{kOurAs, 65002}));
  EXPECT_TRUE(nlri(sent_to(a)).empty()) << "never back to the sender";
}

TEST_F(Fixture, IbgpFullMeshDoesNotPassIbgpRoutesOn) {
  PeerId n2 = rib->add_peer(peer("node-2", "198.18.0.2", kOurAs, 2));
  PeerId n3 = rib->add_peer(peer("node-3", "198.18.0.3", kOurAs, 3));
  sent_to(n3);
  wire::Update u = announce({"198.18.8.0/24"}, "198.18.0.2", {});
  u.attributes.local_pref = 100;
  rib->apply(n2, u, wire::Verdict::kAccepted);
  EXPECT_TRUE(nlri(sent_to(n3)).empty()) << "RFC 4271: iBGP routes are not re-advertised over iBGP";
}

TEST_F(Fixture, RouteReflectorReflectsClientRoutesWithOriginatorAndClusterList) {
  options.cluster_id = 0x0a0a0a0a;
  make(options);
  auto client = [](const char* name, const char* address, uint32_t id) {
    auto p = peer(name, address, kOurAs, id);
    p.rr_client = true;
    return p;
  };
  PeerId c1 = rib->add_peer(client("c1", "198.18.0.2", 2));
  PeerId c2 = rib->add_peer(client("c2", "198.18.0.3", 3));
  PeerId nc = rib->add_peer(peer("nc", "198.18.0.4", kOurAs, 4));
  sent_to(c2);
  sent_to(nc);
  wire::Update u = announce({"198.18.8.0/24"}, "198.18.0.2", {});
  u.attributes.local_pref = 100;
  rib->apply(c1, u, wire::Verdict::kAccepted);
  for (PeerId to : {c2, nc}) {
    auto got = sent_to(to);
    ASSERT_EQ(nlri(got), std::vector<Prefix>{pfx("198.18.8.0/24")}) << "client routes go to everyone";
    EXPECT_EQ(got[0].attributes.originator_id, 2u);
    EXPECT_EQ(got[0].attributes.cluster_list, std::vector<uint32_t>{0x0a0a0a0a});
    EXPECT_EQ(got[0].attributes.next_hop, ip("198.18.0.2")) << "reflection keeps the next hop";
  }
  // From a non-client: to clients only.
  rib->apply(nc, announce({"198.18.9.0/24"}, "198.18.0.4", {}), wire::Verdict::kAccepted);
  EXPECT_EQ(nlri(sent_to(c2)), std::vector<Prefix>{pfx("198.18.9.0/24")});
  EXPECT_EQ(nlri(sent_to(c1)), (std::vector<Prefix>{pfx("198.18.9.0/24")}));
  // Our cluster ID coming back is a loop, and so is our router ID as originator.
  wire::Update looped = announce({"198.18.10.0/24"}, "198.18.0.2", {});
  looped.attributes.cluster_list = {0x0a0a0a0a};
  EXPECT_EQ(rib->apply(c1, looped, wire::Verdict::kAccepted).refused, 1u);
  looped.attributes.cluster_list.clear();
  looped.attributes.originator_id = kOurId;
  EXPECT_EQ(rib->apply(c1, looped, wire::Verdict::kAccepted).refused, 1u);
}

TEST_F(Fixture, ManyPrefixesShareOneAttributeSetAndFewUpdates) {
  auto info = peer("tor", "198.18.0.2", 65002, 2);
  info.import.deny.clear();
  PeerId tor = rib->add_peer(info);
  auto n2 = peer("n2", "198.18.0.3", 65003, 3);
  n2.exports.learned = true;
  PeerId out = rib->add_peer(n2);
  sent_to(out);
  wire::Update u;
  u.attributes = announce({}, "198.18.0.2", {65002}).attributes;
  for (uint32_t i = 0; i < 4096; ++i) u.nlri.push_back({Prefix(IpAddress::v4(0xc6120000u + (i << 5)), 27), 0});
  EXPECT_EQ(rib->apply(tor, u, wire::Verdict::kAccepted).announced, 4096u);
  EXPECT_EQ(rib->attribute_sets(), 2u) << "interned: the set received, and the set as exported to n2";
  uint64_t prefixes = 0;
  auto messages = rib->take_updates(out, &prefixes);
  EXPECT_EQ(prefixes, 4096u);
  EXPECT_LE(messages.size(), 6u) << "packed: 4096 /27s are 20 KB of NLRI";
  rib->remove_peer(tor);
  rib->remove_peer(out);
  EXPECT_EQ(rib->attribute_sets(), 0u) << "every reference returned";
}

TEST_F(Fixture, MaxPrefixLimit) {
  auto info = peer("tor", "198.18.0.2", 65002, 2);
  info.import.max_prefixes = 2;
  PeerId tor = rib->add_peer(info);
  EXPECT_FALSE(rib->apply(tor, announce({"198.18.8.0/24", "198.18.9.0/24"}, "198.18.0.2", {65002}),
                          wire::Verdict::kAccepted).over_limit);
  EXPECT_TRUE(rib->apply(tor, announce({"198.18.10.0/24"}, "198.18.0.2", {65002}), wire::Verdict::kAccepted).over_limit);
}

TEST_F(Fixture, RouteRefreshSendsTheTableAgain) {
  rib->announce_local(pfx("198.18.100.0/24"));
  PeerId tor = rib->add_peer(peer("tor", "198.18.0.2", 65002, 2));
  sent_to(tor);
  rib->refresh(tor, wire::kIpv4Unicast);
  EXPECT_EQ(nlri(sent_to(tor)), std::vector<Prefix>{pfx("198.18.100.0/24")});
}

}  // namespace
}  // namespace tern::bgp::rib

namespace tern::bgp::rib {
namespace {

// Export policy, one rule at a time, on the node's own block sent to a ToR (eBGP) and
// to another node (iBGP).
struct Export : Fixture {
  wire::PathAttributes sent(PeerInfo info) {
    rib->announce_local(pfx("198.18.100.0/24"));
    PeerId id = rib->add_peer(std::move(info));
    for (const auto& u : sent_to(id)) {
      if (!u.nlri.empty()) return u.attributes;
    }
    ADD_FAILURE() << "nothing announced";
    return {};
  }
};

TEST_F(Export, CommunitiesAndLargeCommunitiesAreAttached) {
  auto info = peer("tor", "198.18.0.2", 65002, 2);
  info.exports.communities = {65001u << 16 | 100, wire::community::kNoExport};
  info.exports.large_communities = {{65001, 1, 2}};
  auto a = sent(info);
  EXPECT_EQ(a.communities, (std::vector<uint32_t>{65001u << 16 | 100, wire::community::kNoExport}));
  EXPECT_EQ(a.large_communities, (std::vector<wire::LargeCommunity>{{65001, 1, 2}}));
}

TEST_F(Export, PrependRepeatsOurAs) {
  auto info = peer("tor", "198.18.0.2", 65002, 2);
  info.exports.prepend = 2;
  EXPECT_EQ(sent(info).as_path->segments[0].asns, (std::vector<wire::Asn>{kOurAs, kOurAs, kOurAs}));
}

TEST_F(Export, MedIsSet) {
  auto info = peer("tor", "198.18.0.2", 65002, 2);
  info.exports.med = 50;
  EXPECT_EQ(sent(info).med, 50u);
}

TEST_F(Export, LocalPrefGoesToIbgpOnly) {
  auto info = peer("node-2", "198.18.0.2", kOurAs, 2);
  info.exports.local_pref = 300;
  auto a = sent(info);
  EXPECT_EQ(a.local_pref, 300u);
  EXPECT_EQ(a.next_hop, ip("198.18.0.1")) << "our own route: next hop self";
  EXPECT_TRUE(a.as_path->segments.empty() || a.as_path->segments[0].asns.empty()) << "no prepend inside the AS";
}

TEST_F(Export, NextHopSelfForLearnedRoutesToIbgp) {
  PeerId tor = rib->add_peer(peer("tor", "198.18.0.9", 65002, 9));
  auto keep = peer("node-2", "198.18.0.2", kOurAs, 2);
  keep.exports.learned = true;
  PeerId n2 = rib->add_peer(keep);
  auto self = peer("node-3", "198.18.0.3", kOurAs, 3);
  self.exports.learned = true;
  self.exports.next_hop_self = true;
  PeerId n3 = rib->add_peer(self);
  sent_to(n2);
  sent_to(n3);
  rib->apply(tor, announce({"198.18.8.0/24"}, "198.18.0.9", {65002}), wire::Verdict::kAccepted);
  EXPECT_EQ(sent_to(n2)[0].attributes.next_hop, ip("198.18.0.9")) << "iBGP keeps the eBGP next hop";
  EXPECT_EQ(sent_to(n3)[0].attributes.next_hop, ip("198.18.0.1")) << "next-hop-self";
}

TEST_F(Export, NoExportStaysInsideTheAs) {
  PeerId n2 = rib->add_peer(peer("node-2", "198.18.0.2", kOurAs, 2));
  auto tor_info = peer("tor", "198.18.0.9", 65002, 9);
  tor_info.exports.learned = true;
  PeerId tor = rib->add_peer(tor_info);
  auto n3_info = peer("node-3", "198.18.0.3", kOurAs, 3);
  n3_info.rr_client = true;
  PeerId n3 = rib->add_peer(n3_info);
  sent_to(tor);
  sent_to(n3);
  wire::Update u = announce({"198.18.8.0/24"}, "198.18.0.2", {});
  u.attributes.communities = {wire::community::kNoExport};
  rib->apply(n2, u, wire::Verdict::kAccepted);
  EXPECT_TRUE(nlri(sent_to(tor)).empty()) << "NO_EXPORT never leaves the AS";
  EXPECT_EQ(nlri(sent_to(n3)).size(), 1u) << "but is reflected inside it";
}

}  // namespace
}  // namespace tern::bgp::rib

namespace tern::bgp::rib {
namespace {

TEST_F(Fixture, PolicyChangesApplyWithoutResettingAnything) {
  rib->announce_local(pfx("198.18.100.0/24"));
  auto info = peer("tor", "198.18.0.2", 65002, 2);
  PeerId tor = rib->add_peer(info);
  sent_to(tor);
  rib->apply(tor, announce({"198.18.8.0/24", "198.18.9.128/25"}, "198.18.0.2", {65002}), wire::Verdict::kAccepted);

  // The same policies again: nothing to send.
  rib->set_policies(tor, false, info.import, info.exports);
  EXPECT_TRUE(sent_to(tor).empty());

  // A community on export: the block goes again, with it.
  auto exports = info.exports;
  exports.communities = {65001u << 16 | 7};
  rib->set_policies(tor, false, info.import, exports);
  auto again = sent_to(tor);
  ASSERT_EQ(nlri(again), std::vector<Prefix>{pfx("198.18.100.0/24")});
  EXPECT_EQ(again[0].attributes.communities, std::vector<uint32_t>{65001u << 16 | 7});

  // A tighter import: the /25 goes at once.
  auto import = info.import;
  import.allow = {{pfx("198.18.0.0/16"), 16, 24}};
  size_t before = changes.size();
  rib->set_policies(tor, false, import, exports);
  EXPECT_TRUE(rib->view(pfx("198.18.9.128/25")).empty());
  EXPECT_FALSE(rib->view(pfx("198.18.8.0/24")).empty());
  EXPECT_EQ(changes.size(), before + 1) << "its withdrawal reached the kernel side";
  rib->remove_peer(tor);
  rib->withdraw_local(pfx("198.18.100.0/24"));
  EXPECT_EQ(rib->attribute_sets(), 0u) << "no reference left behind";
}

}  // namespace
}  // namespace tern::bgp::rib

namespace tern::bgp::rib {
namespace {

TEST_F(Fixture, AWithdrawalQueuedBeforeAPolicyChangeStillGoesOut) {
  rib->announce_local(pfx("198.18.100.0/24"));
  auto info = peer("tor", "198.18.0.2", 65002, 2);
  PeerId tor = rib->add_peer(info);
  sent_to(tor);
  rib->withdraw_local(pfx("198.18.100.0/24"));
  info.exports.med = 5;
  rib->set_policies(tor, false, info.import, info.exports);
  auto w = sent_to(tor);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].withdrawn, (std::vector<wire::Nlri>{{pfx("198.18.100.0/24"), 0}}));
}

}  // namespace
}  // namespace tern::bgp::rib
