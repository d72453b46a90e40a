// Update groups: peers with the same outbound treatment share one Adj-RIB-Out and the
// UPDATEs built from it, while each still sees exactly what it would see alone. Every
// member's view is rebuilt from the UPDATEs it is handed, decoded with bgp/wire.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "bgp/rib/rib.hpp"

namespace tern::bgp::rib {
namespace {

constexpr wire::Asn kAs = 65001;
constexpr uint32_t kCluster = 0x0a0a0a0a;
constexpr uint32_t kTag = 65001u << 16 | 7;

Prefix pfx(const char* s) { return *Prefix::parse(s); }
IpAddress ip(const char* s) { return *IpAddress::parse(s); }

struct Groups : ::testing::Test {
  Options options{kAs, 0xc6120001, kCluster, {}};
  std::unique_ptr<Rib> rib;
  std::map<PeerId, std::map<Prefix, wire::PathAttributes>> seen;  // each member's Adj-RIB-In of us
  std::map<PeerId, int> end_of_ribs;

  void make() {
    rib = std::make_unique<Rib>(options, nullptr);
    seen.clear();
    end_of_ribs.clear();
  }
  void SetUp() override { make(); }

  // An iBGP peer 198.18.0.n with router ID n.
  static PeerInfo info(uint32_t n, bool rr_client = true) {
    PeerInfo p;
    p.name = "c" + std::to_string(n);
    p.address = IpAddress::v4(0xc6120000u + n);
    p.router_id = n;
    p.asn = kAs;
    p.internal = true;
    p.rr_client = rr_client;
    p.families = {wire::kIpv4Unicast, wire::kIpv6Unicast};
    p.self_v4 = ip("198.18.0.1");
    p.self_v6 = ip("2001:db8::1");
    p.import.allow = {{pfx("198.18.0.0/15"), 16, 32}};
    return p;
  }
  PeerId add(uint32_t n, bool rr_client = true) { return rib->add_peer(info(n, rr_client)); }

  void announce(PeerId from, const char* prefix, uint32_t local_pref = 100, std::optional<uint32_t> originator = {}) {
    wire::Update u;
    u.attributes.origin = wire::Origin::kIgp;
    u.attributes.as_path = wire::AsPath{};
    u.attributes.local_pref = local_pref;
    u.attributes.next_hop = rib->peer(from).address;
    u.attributes.originator_id = originator;
    u.nlri.push_back({pfx(prefix), 0});
    rib->apply(from, u, wire::Verdict::kAccepted);
  }
  void withdraw(PeerId from, const char* prefix) {
    wire::Update u;
    u.withdrawn.push_back({pfx(prefix), 0});
    rib->apply(from, u, wire::Verdict::kAccepted);
  }

  // Hands `id` its UPDATEs and applies them to its view; the number of messages.
  size_t take(PeerId id) {
    auto messages = rib->take_updates(id);
    auto& view = seen[id];
    for (const auto& m : messages) {
      auto d = wire::decode_message(m, rib->peer(id).encode);
      EXPECT_TRUE(d.ok()) << d.error().reason;
      if (!d) continue;
      const auto& u = std::get<wire::Update>(d.value().message);
      if (wire::end_of_rib(u)) {
        ++end_of_ribs[id];
        continue;
      }
      for (const auto& n : u.withdrawn) view.erase(n.prefix);
      if (u.attributes.mp_unreach) {
        for (const auto& n : u.attributes.mp_unreach->withdrawn) view.erase(n.prefix);
      }
      auto attrs = u.attributes;
      attrs.mp_unreach.reset();
      if (attrs.mp_reach) attrs.mp_reach->nlri.clear();
      for (const auto& n : u.nlri) view[n.prefix] = attrs;
      if (u.attributes.mp_reach) {
        for (const auto& n : u.attributes.mp_reach->nlri) view[n.prefix] = attrs;
      }
    }
    return messages.size();
  }
  bool has(PeerId id, const char* prefix) { return seen[id].count(pfx(prefix)) > 0; }
};

TEST_F(Groups, ClientsShareOneGroupAndEachChangeIsBuiltOnce) {
  std::vector<PeerId> c;
  for (uint32_t n = 2; n < 12; ++n) c.push_back(add(n));
  for (PeerId id : c) take(id);
  ASSERT_EQ(rib->groups().size(), 1u);
  EXPECT_EQ(rib->groups()[0].members.size(), 10u);

  uint64_t before = rib->messages_built();
  announce(c[0], "198.18.8.0/24");
  for (PeerId id : c) EXPECT_EQ(take(id), id == c[0] ? 0u : 1u);
  EXPECT_EQ(rib->messages_built() - before, 1u) << "one UPDATE built for ten members";
  EXPECT_FALSE(has(c[0], "198.18.8.0/24")) << "RFC 4456: not back to the client it came from";
  for (size_t i = 1; i < c.size(); ++i) {
    ASSERT_TRUE(has(c[i], "198.18.8.0/24"));
    const auto& a = seen[c[i]][pfx("198.18.8.0/24")];
    EXPECT_EQ(a.originator_id, 2u);
    EXPECT_EQ(a.cluster_list, std::vector<uint32_t>{kCluster});
  }
  EXPECT_EQ(rib->groups()[0].log_batches, 0u) << "taken by all: the log is empty";

  // A peer without 4-octet AS numbers cannot share their bytes.
  auto two = info(40);
  two.encode.four_octet_as = false;
  PeerId other = rib->add_peer(two);
  EXPECT_EQ(rib->groups().size(), 2u);
  EXPECT_NE(rib->group_of(other), rib->group_of(c[0]));
  take(other);
  EXPECT_TRUE(has(other, "198.18.8.0/24"));
}

// The reflector fan-out of bench/bgp/rr_run, in the RIB alone: K clients, a block each.
// K routes are encoded K times in all, not K² times.
TEST_F(Groups, AThousandClientsCostOneAdjRibOut) {
  constexpr uint32_t kClients = 1000;
  std::vector<PeerId> c;
  for (uint32_t n = 0; n < kClients; ++n) c.push_back(rib->add_peer(info(0x100 + n)));
  for (PeerId id : c) rib->take_updates(id);
  for (uint32_t n = 0; n < kClients; ++n) {
    std::string p = "198.19." + std::to_string(n / 16) + "." + std::to_string(n % 16 * 16) + "/28";
    wire::Update u;
    u.attributes.origin = wire::Origin::kIgp;
    u.attributes.as_path = wire::AsPath{};
    u.attributes.local_pref = 100;
    u.attributes.next_hop = rib->peer(c[n]).address;
    u.nlri.push_back({pfx(p.c_str()), 0});
    ASSERT_EQ(rib->apply(c[n], u, wire::Verdict::kAccepted).announced, 1u);
  }
  uint64_t total = 0;
  for (PeerId id : c) {
    uint64_t prefixes = 0;
    rib->take_updates(id, &prefixes);
    total += prefixes;
  }
  EXPECT_EQ(total, uint64_t{kClients} * (kClients - 1)) << "every block everywhere but home";
  EXPECT_EQ(rib->messages_built(), kClients) << "each block encoded once";
  ASSERT_EQ(rib->groups().size(), 1u);
  EXPECT_EQ(rib->groups()[0].adj_rib_out, kClients);
  EXPECT_EQ(rib->groups()[0].log_batches, 0u);
  EXPECT_EQ(rib->attribute_sets(), 2 * kClients) << "each as received and as reflected, once";
}

TEST_F(Groups, NeverToTheSourceOrTheOriginatorEvenWhenItsRouteWinsLater) {
  PeerId c2 = add(2), c3 = add(3), c4 = add(4);
  PeerId nc = add(9, false);
  for (PeerId id : {c2, c3, c4, nc}) take(id);
  EXPECT_EQ(rib->groups().size(), 2u) << "clients and the non-client";

  announce(nc, "198.18.8.0/24", 100, 4u);  // ORIGINATOR_ID: c4
  announce(nc, "198.18.9.0/24");
  for (PeerId id : {c2, c3, c4, nc}) take(id);
  EXPECT_TRUE(has(c2, "198.18.8.0/24") && has(c3, "198.18.8.0/24"));
  EXPECT_FALSE(has(c4, "198.18.8.0/24")) << "RFC 4456 §8: its own ORIGINATOR_ID";
  EXPECT_TRUE(has(c4, "198.18.9.0/24"));

  // c2's own route now wins: c2 is told to withdraw what it had, the others get c2's.
  announce(c2, "198.18.9.0/24", 200);
  for (PeerId id : {c2, c3, c4, nc}) take(id);
  EXPECT_FALSE(has(c2, "198.18.9.0/24"));
  for (PeerId id : {c3, c4, nc}) {
    ASSERT_TRUE(has(id, "198.18.9.0/24"));
    EXPECT_EQ(seen[id][pfx("198.18.9.0/24")].originator_id, 2u);
  }
  // And back: the non-client's route returns to c2 as well.
  withdraw(c2, "198.18.9.0/24");
  for (PeerId id : {c2, c3, c4, nc}) take(id);
  for (PeerId id : {c2, c3, c4}) {
    ASSERT_TRUE(has(id, "198.18.9.0/24"));
    EXPECT_EQ(seen[id][pfx("198.18.9.0/24")].originator_id, 9u);
  }
  EXPECT_FALSE(has(nc, "198.18.9.0/24"));
}

TEST_F(Groups, ALateJoinerGetsTheTableAloneThenEndOfRib) {
  PeerId c2 = add(2), c3 = add(3);
  take(c2);
  take(c3);
  announce(c2, "198.18.8.0/24");
  announce(c3, "198.18.9.0/24");
  take(c2);
  take(c3);
  PeerId c4 = add(4);
  EXPECT_EQ(rib->group_of(c4), rib->group_of(c2));
  take(c4);
  EXPECT_TRUE(has(c4, "198.18.8.0/24") && has(c4, "198.18.9.0/24"));
  EXPECT_EQ(end_of_ribs[c4], 2) << "one per family, after the table";
  EXPECT_EQ(take(c2), 0u) << "nothing sent again to the others";
  EXPECT_EQ(take(c3), 0u);
  EXPECT_EQ(take(c4), 0u);
  announce(c4, "198.18.10.0/24");
  take(c2);
  EXPECT_TRUE(has(c2, "198.18.10.0/24"));

  // Sessions that come up together share one encoding of the table.
  take(c3);
  take(c4);
  PeerId c5 = add(5), c6 = add(6);
  uint64_t before = rib->messages_built();
  take(c5);
  take(c6);
  EXPECT_EQ(rib->messages_built() - before, 3u) << "three routes, a set each, encoded once for both";
  EXPECT_EQ(seen[c5], seen[c6]);
  EXPECT_EQ(seen[c5].size(), 3u);
}

TEST_F(Groups, AMemberLeavingFreesNothingShared) {
  PeerId c2 = add(2), c3 = add(3), c4 = add(4);
  for (PeerId id : {c2, c3, c4}) take(id);
  announce(c2, "198.18.8.0/24");
  take(c2);
  take(c4);  // c3 has not taken it yet
  rib->remove_peer(c3);
  ASSERT_EQ(rib->groups().size(), 1u);
  EXPECT_EQ(rib->groups()[0].adj_rib_out, 1u);
  EXPECT_EQ(rib->groups()[0].log_batches, 0u) << "the batch only c3 still needed went with it";
  announce(c4, "198.18.9.0/24");
  take(c2);
  EXPECT_TRUE(has(c2, "198.18.9.0/24"));
  rib->remove_peer(c2);
  take(c4);
  EXPECT_FALSE(has(c4, "198.18.8.0/24")) << "its route withdrawn";
  rib->remove_peer(c4);
  EXPECT_TRUE(rib->groups().empty());
  EXPECT_EQ(rib->attribute_sets(), 0u) << "every reference returned";
}

TEST_F(Groups, ASlowMemberFallsOutOfTheLogAndCatchesUpFromTheAdjRibOut) {
  options.group_log_bytes = 2000;
  make();
  PeerId c2 = add(2), c3 = add(3), slow = add(4);
  for (PeerId id : {c2, c3, slow}) take(id);
  size_t biggest = 0;
  for (uint32_t i = 0; i < 200; ++i) {
    std::string p = "198.18." + std::to_string(i) + ".0/24";
    announce(c2, p.c_str());
    if (i % 3 == 0) withdraw(c2, ("198.18." + std::to_string(i / 2) + ".0/24").c_str());
    take(c2);
    take(c3);  // they keep up; the slow one never asks (its write queue full)
    biggest = std::max(biggest, rib->groups()[0].log_bytes);
  }
  EXPECT_LE(biggest, 2000u + 200) << "bounded: the budget and one batch";
  size_t messages = take(slow);
  EXPECT_EQ(seen[slow], seen[c3]) << "caught up with exactly the group's table";
  EXPECT_FALSE(seen[slow].empty());
  EXPECT_LT(messages, 60u) << "the log it still has and the rest from the Adj-RIB-Out (one set, packed), "
                              "not 267 replayed UPDATEs";
  EXPECT_EQ(rib->groups()[0].log_batches, 0u);
  announce(c2, "198.18.250.0/24");
  EXPECT_EQ(take(slow), 1u) << "and back in the log";
}

TEST_F(Groups, RouteRefreshResendsToOneMemberOnly) {
  PeerId c2 = add(2), c3 = add(3), c4 = add(4);
  announce(c2, "198.18.8.0/24");
  for (PeerId id : {c2, c3, c4}) take(id);
  seen[c3].clear();
  rib->refresh(c3, wire::kIpv4Unicast);
  EXPECT_EQ(take(c2), 0u);
  EXPECT_EQ(take(c4), 0u);
  take(c3);
  EXPECT_TRUE(has(c3, "198.18.8.0/24"));
  EXPECT_EQ(end_of_ribs[c3], 2) << "no End-of-RIB again";
}

TEST_F(Groups, APolicyChangeMovesAMemberBetweenGroupsWithoutAReset) {
  PeerId c2 = add(2), c3 = add(3), c4 = add(4);
  announce(c2, "198.18.8.0/24");
  announce(c2, "198.18.9.0/24");
  for (PeerId id : {c2, c3, c4}) take(id);
  auto i3 = info(3);

  rib->set_policies(c3, true, i3.import, i3.exports);
  EXPECT_EQ(rib->groups().size(), 1u) << "nothing outbound changed";
  EXPECT_EQ(take(c3), 0u);

  auto tagged = i3.exports;
  tagged.communities = {kTag};
  rib->set_policies(c3, true, i3.import, tagged);
  EXPECT_EQ(rib->groups().size(), 2u);
  take(c3);
  ASSERT_EQ(seen[c3].size(), 2u);
  for (const auto& [p, a] : seen[c3]) EXPECT_EQ(a.communities, std::vector<uint32_t>{kTag}) << p.to_string();
  EXPECT_EQ(end_of_ribs[c3], 2) << "no session reset, no second End-of-RIB";
  EXPECT_EQ(take(c4), 0u);

  announce(c2, "198.18.10.0/24");
  take(c3);
  take(c4);
  EXPECT_EQ(seen[c3][pfx("198.18.10.0/24")].communities, std::vector<uint32_t>{kTag});
  EXPECT_TRUE(seen[c4][pfx("198.18.10.0/24")].communities.empty());

  // Back: the first group again, with only what differs sent.
  withdraw(c2, "198.18.8.0/24");  // queued before the move, must still reach c3
  rib->set_policies(c3, true, i3.import, i3.exports);
  EXPECT_EQ(rib->groups().size(), 1u) << "the tagged group went with its last member";
  take(c3);
  take(c4);
  EXPECT_EQ(seen[c3], seen[c4]);
  EXPECT_EQ(seen[c3].size(), 2u);
}

TEST_F(Groups, BuffersHoldTheSameMessagesBackToBack) {
  PeerId c2 = add(2), c3 = add(3), c4 = add(4);
  for (uint32_t i = 0; i < 400; ++i) {
    std::string p = "198.18." + std::to_string(i % 250) + "." + std::to_string(i / 250 * 16) + "/28";
    announce(c2, p.c_str(), 100 + i);
  }
  uint64_t prefixes3 = 0, prefixes4 = 0, count = 0;
  auto one_each = rib->take_updates(c3, &prefixes3);
  auto buffers = rib->take_buffers(c4, 4096, &prefixes4, &count);
  ASSERT_GT(one_each.size(), 400u) << "a set per route: an UPDATE each, and End-of-RIBs";
  EXPECT_EQ(count, one_each.size());
  EXPECT_EQ(prefixes3, prefixes4);
  EXPECT_LT(buffers.size(), one_each.size() / 20);
  std::vector<uint8_t> a, b;
  for (const auto& m : one_each) a.insert(a.end(), m.begin(), m.end());
  for (const auto& m : buffers) {
    EXPECT_LE(m.size(), 4096u);
    b.insert(b.end(), m.begin(), m.end());
  }
  EXPECT_EQ(a, b) << "c3 and c4 see the same; only the framing of the writes differs";
}

// Grouped members against the same peers kept apart (a distinct IPv6 next hop each puts
// every peer in a group of its own): after any sequence of changes, takes in any order,
// slow members, moves and refreshes, every peer sees the same routes.
TEST_F(Groups, GroupedPeersSeeWhatTheyWouldSeeAlone) {
  options.group_log_bytes = 600;
  make();
  auto apart = std::make_unique<Rib>(Options{kAs, 0xc6120001, kCluster, {}}, nullptr);
  std::map<PeerId, std::map<Prefix, wire::PathAttributes>> apart_seen;
  // Runs `fn` against both RIBs, each with its own views.
  auto both = [&](auto fn) {
    fn();
    std::swap(rib, apart);
    std::swap(seen, apart_seen);
    fn();
    std::swap(rib, apart);
    std::swap(seen, apart_seen);
  };
  constexpr uint32_t kPeers = 6;
  std::vector<PeerId> ids;
  for (uint32_t n = 2; n < 2 + kPeers; ++n) {
    ids.push_back(add(n, n != 7));  // c7 is a non-client
    auto alone = info(n, n != 7);
    alone.self_v6 = ip(("2001:db8::" + std::to_string(n)).c_str());
    EXPECT_EQ(apart->add_peer(alone), ids.back());
  }
  EXPECT_EQ(rib->groups().size(), 2u);
  EXPECT_EQ(apart->groups().size(), kPeers);
  std::mt19937 rng(7);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  for (int step = 0; step < 3000; ++step) {
    PeerId who = ids[pick(ids.size())];
    std::string prefix = "198.18." + std::to_string(pick(24)) + ".0/24";
    switch (pick(8)) {
      case 0:
      case 1:
      case 2: {
        uint32_t lp = 100 + static_cast<uint32_t>(pick(3)) * 10;
        std::optional<uint32_t> originator;
        if (pick(6) == 0) originator = 2 + static_cast<uint32_t>(pick(kPeers));
        both([&] { announce(who, prefix.c_str(), lp, originator); });
        break;
      }
      case 3:
        both([&] { withdraw(who, prefix.c_str()); });
        break;
      case 4:
      case 5:
        if (pick(3) != 0) both([&] { take(who); });  // the others are slow this time
        break;
      case 6: {
        bool tag = pick(2);
        both([&] {
          auto i = info(rib->peer(who).router_id, rib->peer(who).rr_client);
          if (tag) i.exports.communities = {kTag};
          rib->set_policies(who, i.rr_client, i.import, i.exports);
        });
        break;
      }
      case 7:
        both([&] { rib->refresh(who, wire::kIpv4Unicast); });
        break;
    }
    if (step % 500 == 499) {
      for (PeerId id : ids) {
        both([&] { take(id); });
        ASSERT_EQ(seen[id], apart_seen[id]) << "peer " << id << " at step " << step;
      }
      EXPECT_FALSE(seen[ids[0]].empty());
    }
  }
  EXPECT_LT(rib->messages_built(), apart->messages_built()) << "sharing built fewer UPDATEs";
  for (PeerId id : ids) rib->remove_peer(id);
  EXPECT_EQ(rib->attribute_sets(), 0u);
}

}  // namespace
}  // namespace tern::bgp::rib
