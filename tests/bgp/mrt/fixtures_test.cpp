// Real traffic from FRR, BIRD and GoBGP (tests/fixtures/bgp, see its README) decodes
// completely, and says what the daemons were told to announce.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "bgp/mrt/mrt.hpp"
#include "bgp/wire/format.hpp"
#include "bgp/wire/framer.hpp"

namespace tern::bgp::mrt {
namespace {

std::vector<uint8_t> fixture(const std::string& name) {
  std::ifstream in(std::string(TERN_SOURCE_DIR) + "/tests/fixtures/bgp/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Route {
  std::string peer;
  std::string attrs;  // wire::to_string of the attributes
};

// Every RIB entry of a TABLE_DUMP_V2 file by prefix, in file order (BIRD appends a dump a
// second, so a prefix's first entry is from the first dump that had it).
std::map<std::string, std::vector<Route>> rib(const std::string& name) {
  auto bytes = fixture(name);
  Reader reader(bytes);
  PeerIndexTable peers;
  std::map<std::string, std::vector<Route>> out;
  size_t count = 0;
  while (auto next = reader.next()) {
    EXPECT_TRUE(*next) << name << ": " << next->error().message;
    if (!*next) break;
    ++count;
    if (auto* t = std::get_if<PeerIndexTable>(&next->value().body)) peers = *t;
    if (auto* r = std::get_if<Rib>(&next->value().body)) {
      auto& routes = out[r->prefix.to_string()];
      for (const auto& e : r->entries) {
        EXPECT_EQ(e.verdict, wire::Verdict::kAccepted) << name << " " << r->prefix.to_string();
        std::string peer = e.peer_index < peers.peers.size() ? peers.peers[e.peer_index].address.to_string() : "local";
        routes.push_back({peer, wire::to_string(e.attributes)});
      }
    }
  }
  EXPECT_GT(count, 1u) << name;
  return out;
}

std::vector<wire::Message> stream(const std::string& name) {
  auto bytes = fixture(name);
  std::span<const uint8_t> rest(bytes);
  std::vector<wire::Message> out;
  wire::Context ctx;  // every session here negotiated 4-octet AS
  ctx.extended_message = true;
  while (!rest.empty()) {
    auto frame = wire::next_frame(rest, wire::kMaxExtendedMessageSize);
    EXPECT_EQ(frame.status, wire::Frame::Status::kMessage) << name << " at " << bytes.size() - rest.size();
    if (frame.status != wire::Frame::Status::kMessage) break;
    auto r = wire::decode_message(frame.message, ctx);
    EXPECT_TRUE(r.ok()) << name << ": " << (r.ok() ? "" : r.error().reason);
    if (r.ok()) {
      EXPECT_EQ(r.value().verdict, wire::Verdict::kAccepted) << name << ": " << wire::describe(r.value().message);
      out.push_back(r.value().message);
    }
    rest = rest.subspan(frame.message.size());
  }
  return out;
}

bool has(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

TEST(Fixtures, FrrTableDump) {
  auto routes = rib("frr-rib.mrt");
  ASSERT_EQ(routes["198.18.112.0/24"].size(), 1u);
  EXPECT_EQ(routes["198.18.112.0/24"][0].peer, "198.18.1.2");
  EXPECT_EQ(routes["198.18.112.0/24"][0].attrs,
            "origin igp as-path [65002] next-hop 198.18.1.2 communities 65002:300 large-communities 65002:3:3");
  EXPECT_TRUE(has(routes["198.18.96.0/21"][0].attrs, "as-path [{65003,65010,65011}]"));
  EXPECT_TRUE(has(routes["198.18.96.0/21"][0].attrs, "aggregator 65001:198.18.1.1"));
  EXPECT_TRUE(has(routes["198.18.110.0/24"][0].attrs, "communities no-export no-advertise"));
  EXPECT_TRUE(has(routes["198.18.101.0/24"][0].attrs, "origin egp as-path [65003] next-hop 198.18.2.2 med 20"));
  EXPECT_TRUE(has(routes["2001:db8:112::/48"][0].attrs, "mp-next-hop 2001:db8:1::2"));
}

TEST(Fixtures, BirdTableDumps) {
  auto v4 = rib("bird-rib4.mrt");
  EXPECT_EQ(v4["198.18.100.0/24"][0].attrs,
            "origin igp as-path [65001] next-hop 198.18.1.1 med 50 local-pref 100 communities 65001:100 "
            "large-communities 65001:1:1 ext-communities rt 65001:100");
  // The aggregate with GoBGP's ASes in its AS_SET, then without them once GoBGP left.
  EXPECT_TRUE(has(v4["198.18.96.0/21"].front().attrs, "as-path [65001 {65003,65010,65011}]"));
  EXPECT_TRUE(has(v4["198.18.96.0/21"].back().attrs, "as-path [65001] next-hop"));
  auto v6 = rib("bird-rib6.mrt");
  EXPECT_TRUE(has(v6["2001:db8:100::/48"][0].attrs, "as-path [65001] mp-next-hop 2001:db8:1::1,fe80::"));
  EXPECT_EQ(v6["2001:db8:112::/48"][0].attrs, "med 30 communities 65002:300 large-communities 65002:3:3")
      << "BIRD's own static route, with the attributes its config set";
}

TEST(Fixtures, GobgpTableDumpWithLocalRoutesPastThePeerTable) {
  auto routes = rib("gobgp-rib.mrt");
  EXPECT_EQ(routes["198.18.103.0/24"][0].peer, "local");
  EXPECT_TRUE(has(routes["198.18.103.0/24"][0].attrs, "as-path [65010 65011] next-hop 0.0.0.0 communities 65003:201"));
  EXPECT_TRUE(has(routes["198.18.112.0/24"][0].attrs, "as-path [65001 65002] next-hop 198.18.2.1"));
}

TEST(Fixtures, FrrBgp4mpDump) {
  auto bytes = fixture("frr-updates.mrt");
  Reader reader(bytes);
  size_t established = 0, updates = 0;
  bool saw_bird_route = false;
  while (auto next = reader.next()) {
    ASSERT_TRUE(*next) << next->error().message;
    const auto& rec = next->value();
    if (auto* s = std::get_if<StateChange>(&rec.body); s && state_name(s->new_state) == "Established") ++established;
    if (auto* m = std::get_if<Bgp4mpMessage>(&rec.body)) {
      auto r = wire::decode_message(m->bytes, m->context);
      ASSERT_TRUE(r.ok()) << r.error().reason;
      if (auto* u = std::get_if<wire::Update>(&r.value().message)) {
        ++updates;
        for (const auto& n : u->nlri) saw_bird_route |= n.prefix.to_string() == "198.18.112.0/24" && m->peer_as == 65002;
      }
    }
  }
  EXPECT_EQ(established, 3u) << "three sessions came up";
  EXPECT_GT(updates, 3u);
  EXPECT_TRUE(saw_bird_route);
}

TEST(Fixtures, GobgpBgp4mpDump) {
  auto bytes = fixture("gobgp-updates.mrt");
  Reader reader(bytes);
  size_t messages = 0;
  while (auto next = reader.next()) {
    ASSERT_TRUE(*next) << next->error().message;
    if (auto* m = std::get_if<Bgp4mpMessage>(&next->value().body)) {
      EXPECT_TRUE(wire::decode_message(m->bytes, m->context).ok());
      ++messages;
    }
  }
  EXPECT_GT(messages, 0u);
}

TEST(Fixtures, FrrToBirdStream) {
  auto messages = stream("frr-to-bird.bgp");
  ASSERT_FALSE(messages.empty());
  const auto& open = std::get<wire::Open>(messages[0]);
  EXPECT_EQ(open.asn(), 65001u);
  EXPECT_EQ(wire::bgp_id_to_string(open.bgp_identifier), "198.18.1.1");
  EXPECT_TRUE(open.capabilities.route_refresh);
  EXPECT_TRUE(open.capabilities.graceful_restart.has_value());
  std::string all;
  for (const auto& m : messages) all += wire::describe(m) + "\n";
  EXPECT_TRUE(has(all, "as-path [65001 {65003,65010,65011}]")) << all;
  EXPECT_TRUE(has(all, "UPDATE end-of-rib ipv4-unicast")) << all;
  EXPECT_TRUE(has(all, "withdraw 2")) << "GoBGP's routes withdrawn when it left:\n" << all;
}

TEST(Fixtures, Ipv6StreamHasLinkLocalNextHop) {
  auto messages = stream("frr-to-bird-v6.bgp");
  bool found = false;
  for (const auto& m : messages) {
    if (auto* u = std::get_if<wire::Update>(&m); u && u->attributes.mp_reach && !u->attributes.mp_reach->nlri.empty()) {
      EXPECT_EQ(u->attributes.mp_reach->next_hop.to_string(), "2001:db8:1::1");
      ASSERT_TRUE(u->attributes.mp_reach->link_local.has_value());
      EXPECT_TRUE(u->attributes.mp_reach->link_local->is_link_local());
      found = true;
    }
  }
  EXPECT_TRUE(found);
  auto from_bird = stream("bird-to-frr-v6.bgp");
  EXPECT_TRUE(std::get<wire::Open>(from_bird[0]).capabilities.multiprotocol ==
              std::vector<wire::AddressFamily>{wire::kIpv6Unicast});
}

TEST(Fixtures, GobgpSessionEndsWithShutdownCommunication) {
  auto messages = stream("frr-to-gobgp.bgp");
  const auto& last = std::get<wire::Notification>(messages.back());
  EXPECT_EQ(wire::shutdown_message(last.code, last.subcode, last.data), "maintenance");
  auto from_gobgp = stream("gobgp-to-frr.bgp");
  const auto& caps = std::get<wire::Open>(from_gobgp[0]).capabilities;
  EXPECT_FALSE(caps.extended_next_hop.empty());
  EXPECT_TRUE(caps.fqdn.has_value());
  std::string all;
  for (const auto& m : from_gobgp) all += wire::describe(m) + "\n";
  EXPECT_TRUE(has(all, "communities no-export no-advertise")) << all;
  EXPECT_TRUE(has(all, "origin egp as-path [65003] next-hop 198.18.2.2 med 20 communities 65003:200 "
                       "large-communities 65003:2:2")) << all;
}

}  // namespace
}  // namespace tern::bgp::mrt
