// Several speakers on one LAN (a bridge in a namespace of its own): three ternd nodes in
// a full iBGP mesh; ternd as route reflector for FRR clients; FRR as route reflector for
// ternd clients. Every node's block must reach every other node with the right next
// hop, and reflection must carry ORIGINATOR_ID and CLUSTER_LIST.
#include <gtest/gtest.h>

#include "tests/support/frr.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/ternd.hpp"

namespace tern {
namespace {

using namespace std::chrono_literals;
using testing::Frr;
using testing::Netns;
using testing::Ternd;
using testing::wait_until;

class Lan : public ::testing::Test {
 protected:
  void SetUp() override {
    TERN_REQUIRE_ROOT();
    lan_ = std::make_unique<Netns>("lan");
    lan_->ip("link add br0 type bridge");
    lan_->ip("link set br0 up");
  }
  void TearDown() override {
    ternds_.clear();
    frrs_.clear();
    hosts_.clear();
  }

  // A namespace on the LAN with `address`/24 on its eth0.
  const Netns& host(const std::string& tag, const std::string& address) {
    hosts_.push_back(std::make_unique<Netns>(tag));
    std::string port = "p" + std::to_string(hosts_.size());
    testing::connect(*hosts_.back(), "eth0", address + "/24", *lan_, port, "");
    lan_->ip("link set " + port + " master br0");
    return *hosts_.back();
  }

  Ternd& ternd(const Netns& ns, const std::string& yaml) {
    ternds_.push_back(std::make_unique<Ternd>(ns, yaml));
    return *ternds_.back();
  }
  Frr& frr(const Netns& ns, const std::string& config) {
    frrs_.push_back(std::make_unique<Frr>(ns, "frr defaults datacenter\n" + config));
    return *frrs_.back();
  }

  static nlohmann::json frr_best(const Frr& f, const std::string& prefix) {
    auto j = f.show_json("show bgp ipv4 unicast " + prefix + " json");
    if (!j.is_object()) return {};
    for (const auto& p : j.value("paths", nlohmann::json::array())) {
      if (p.value("bestpath", nlohmann::json::object()).value("overall", false)) return p;
    }
    return {};
  }

  // Waits for `prefix` in ternd's Loc-RIB with this best next hop.
  static void expect_route(const Ternd& t, const std::string& prefix, const std::string& next_hop) {
    bool ok = wait_until(
        [&] {
          auto paths = t.rib_paths(prefix);
          return !paths.empty() && paths[0]["next_hop"] == next_hop;
        },
        30s, 250ms);
    EXPECT_TRUE(ok) << prefix << " via " << next_hop << "\n"
                    << t.ternctl_json({"rib"}).dump(2) << t.ternctl_json({"peers"}).dump(2);
  }

  std::unique_ptr<Netns> lan_;
  std::vector<std::unique_ptr<Netns>> hosts_;
  std::vector<std::unique_ptr<Ternd>> ternds_;
  std::vector<std::unique_ptr<Frr>> frrs_;
};

std::string node_yaml(int n, const std::string& peers, const std::string& extra = "") {
  return "node: {name: node-" + std::to_string(n) + ", router_id: 198.18.0." + std::to_string(n) +
         ", as: 65001, blocks: [198.18." + std::to_string(100 + n) + ".0/24]}\n"
         "pools: [198.18.0.0/16]\nbgp: {connect_retry: 1}\n" + extra + "peers:\n" + peers;
}

TEST_F(Lan, ThreeTerndNodesInAFullIbgpMesh) {
  std::vector<Ternd*> nodes;
  for (int n = 1; n <= 3; ++n) {
    const Netns& ns = host("node" + std::to_string(n), "198.18.0." + std::to_string(n));
    std::string peers;
    for (int m = 1; m <= 3; ++m) {
      if (m != n) peers += "  - {address: 198.18.0." + std::to_string(m) + ", remote_as: internal}\n";
    }
    nodes.push_back(&ternd(ns, node_yaml(n, peers)));
  }
  for (int n = 1; n <= 3; ++n) {
    for (int m = 1; m <= 3; ++m) {
      if (m == n) continue;
      expect_route(*nodes[n - 1], "198.18." + std::to_string(100 + m) + ".0/24", "198.18.0." + std::to_string(m));
    }
    auto own = nodes[n - 1]->rib_paths("198.18." + std::to_string(100 + n) + ".0/24");
    ASSERT_EQ(own.size(), 1u) << "only its own path: iBGP routes are not passed on in a mesh" << own.dump(2);
    EXPECT_EQ(own[0]["peer"], "local");
  }
  // A node goes away: its block is withdrawn everywhere.
  ternds_[2].reset();
  for (int n = 1; n <= 2; ++n) {
    EXPECT_TRUE(wait_until([&] { return nodes[n - 1]->rib_paths("198.18.103.0/24").empty(); }, 15s, 250ms))
        << nodes[n - 1]->ternctl_json({"rib"}).dump(2);
  }
}

// RFC 4724 between ternd nodes: node-2 is killed (its kernel keeps forwarding); node-1,
// the helper, keeps node-2's block in its RIB and kernel, stale, until node-2 is back
// and has sent End-of-RIB. The block never leaves node-1's kernel.
TEST_F(Lan, GracefulRestartKeepsACrashedNodesBlockUntilItIsBack) {
  const Netns& first = host("node1", "198.18.0.1");
  const Netns& second = host("node2", "198.18.0.2");
  Ternd& one = ternd(first, node_yaml(1, "  - {address: 198.18.0.2, remote_as: internal}\n"));
  Ternd& two = ternd(second, node_yaml(2, "  - {address: 198.18.0.1, remote_as: internal}\n"));
  expect_route(one, "198.18.102.0/24", "198.18.0.2");
  auto in_kernel = [&] {
    auto r = testing::run({"ip", "-n", first.name(), "-j", "route", "show", "198.18.102.0/24", "proto", "77"});
    return r.out.find("198.18.102.0") != std::string::npos;
  };
  ASSERT_TRUE(wait_until(in_kernel, 10s, 100ms)) << one.log();

  two.stop(SIGKILL);
  ASSERT_TRUE(wait_until([&] { return one.log().find("graceful restart: its routes are kept") != std::string::npos; },
                         10s, 100ms)) << one.log();
  bool gone = false;
  wait_until([&] { return gone |= !in_kernel(); }, 2s, 100ms);  // two seconds down
  EXPECT_FALSE(one.rib_paths("198.18.102.0/24").empty()) << "kept while node-2 is down";
  auto peer = one.peer("198.18.0.2");
  EXPECT_GT(std::stoul(peer.value("stale_seconds_left", "0")), 100u) << "ternctl peers shows it\n" << peer.dump(2);
  two.start();
  EXPECT_TRUE(wait_until([&] {
    gone |= !in_kernel();
    return one.log().find("stale routes of the previous session removed: End-of-RIB") != std::string::npos;
  }, 30s, 100ms)) << one.log();
  EXPECT_FALSE(gone) << "node-2's block left node-1's kernel during the restart\n" << one.log();
  EXPECT_TRUE(in_kernel());
  auto paths = one.rib_paths("198.18.102.0/24");
  EXPECT_EQ(paths.size(), 1u) << "the new session's path only: the stale one went\n" << paths.dump(2);
}

// The control: node-2 offers no graceful restart, and its crash withdraws its block.
TEST_F(Lan, WithoutGracefulRestartACrashedNodesBlockGoesAtOnce) {
  const Netns& first = host("node1", "198.18.0.1");
  const Netns& second = host("node2", "198.18.0.2");
  Ternd& one = ternd(first, node_yaml(1, "  - {address: 198.18.0.2, remote_as: internal}\n"));
  Ternd& two = ternd(second, "node: {name: node-2, router_id: 198.18.0.2, as: 65001, blocks: [198.18.102.0/24]}\n"
                             "pools: [198.18.0.0/16]\nbgp: {connect_retry: 1, graceful_restart: 0}\n"
                             "peers:\n  - {address: 198.18.0.1, remote_as: internal}\n");
  expect_route(one, "198.18.102.0/24", "198.18.0.2");
  two.stop(SIGKILL);
  EXPECT_TRUE(wait_until([&] { return one.rib_paths("198.18.102.0/24").empty(); }, 10s, 100ms)) << one.log();
}

TEST_F(Lan, NodesInTheirOwnAsPeerWithAnFrrTopOfRack) {
  const Netns& tor_ns = host("tor", "198.18.0.10");
  frr(tor_ns,
      "router bgp 65000\n bgp router-id 198.18.0.10\n no bgp ebgp-requires-policy\n"
      " neighbor nodes peer-group\n neighbor nodes remote-as external\n"
      " bgp listen range 198.18.0.0/24 peer-group nodes\n");
  std::vector<Ternd*> nodes;
  for (int n = 1; n <= 3; ++n) {
    const Netns& ns = host("node" + std::to_string(n), "198.18.0." + std::to_string(n));
    std::string yaml = "node: {name: node-" + std::to_string(n) + ", router_id: 198.18.0." + std::to_string(n) +
                       ", as: " + std::to_string(65010 + n) + ", blocks: [198.18." + std::to_string(100 + n) +
                       ".0/24]}\npools: [198.18.0.0/16]\nbgp: {connect_retry: 1}\n"
                       "peers:\n  - {name: tor, address: 198.18.0.10, remote_as: 65000}\n";
    nodes.push_back(&ternd(ns, yaml));
  }
  for (int n = 1; n <= 3; ++n) {
    for (int m = 1; m <= 3; ++m) {
      if (m == n) continue;
      // On a shared LAN the ToR passes the originating node's address on (RFC 4271
      // §5.1.3, third-party next hop): traffic goes node to node directly.
      std::string block = "198.18." + std::to_string(100 + m) + ".0/24";
      expect_route(*nodes[n - 1], block, "198.18.0." + std::to_string(m));
      auto p = nodes[n - 1]->rib_paths(block);
      ASSERT_FALSE(p.empty());
      EXPECT_EQ(p[0]["as_path"], "65000 " + std::to_string(65010 + m)) << p.dump(2);
    }
  }
}

TEST_F(Lan, TerndReflectsForFrrClients) {
  const Netns& rr_ns = host("rr", "198.18.0.10");
  const Netns& a_ns = host("cla", "198.18.0.1");
  const Netns& b_ns = host("clb", "198.18.0.2");
  auto& rr = ternd(rr_ns,
                   "node: {name: rr, router_id: 198.18.0.10, as: 65001}\npools: [198.18.0.0/16]\n"
                   "bgp: {cluster_id: 198.18.255.1}\n"
                   "peer_templates:\n  clients: {remote_as: internal, route_reflector_client: true}\n"
                   "dynamic_neighbors:\n  - {range: 198.18.0.0/24, template: clients}\n");
  auto client = [&](const Netns& ns, int n) -> Frr& {
    std::string self = "198.18.0." + std::to_string(n);
    return frr(ns, "router bgp 65001\n bgp router-id " + self + "\n no bgp network import-check\n"
                   " neighbor 198.18.0.10 remote-as internal\n neighbor 198.18.0.10 timers connect 1\n"
                   " address-family ipv4 unicast\n  network 198.18." + std::to_string(100 + n) + ".0/24\n"
                   " exit-address-family\n");
  };
  Frr& a = client(a_ns, 1);
  Frr& b = client(b_ns, 2);
  expect_route(rr, "198.18.101.0/24", "198.18.0.1");
  expect_route(rr, "198.18.102.0/24", "198.18.0.2");
  for (auto [f, prefix, origin] : {std::tuple{&a, "198.18.102.0/24", "198.18.0.2"},
                                   std::tuple{&b, "198.18.101.0/24", "198.18.0.1"}}) {
    ASSERT_TRUE(wait_until([&] { return !frr_best(*f, prefix).is_null(); }, 20s, 250ms))
        << f->show_json("show bgp ipv4 unicast json").dump(2) << rr.log();
    auto p = frr_best(*f, prefix);
    EXPECT_EQ(p["nexthops"][0]["ip"], origin) << "reflection keeps the next hop" << p.dump(2);
    EXPECT_EQ(p["originatorId"], origin) << p.dump(2);
    EXPECT_EQ(p["clusterList"]["list"], nlohmann::json::array({"198.18.255.1"})) << p.dump(2);
  }
  EXPECT_EQ(rr.ternctl_json({"peers"})["peers"].size(), 2u) << "both clients are dynamic neighbours";
}

TEST_F(Lan, FrrReflectsForTerndClients) {
  const Netns& rr_ns = host("rr", "198.18.0.10");
  const Netns& n1 = host("node1", "198.18.0.1");
  const Netns& n2 = host("node2", "198.18.0.2");
  frr(rr_ns,
      "router bgp 65001\n bgp router-id 198.18.0.10\n bgp cluster-id 198.18.255.2\n"
      " neighbor nodes peer-group\n neighbor nodes remote-as internal\n"
      " bgp listen range 198.18.0.0/24 peer-group nodes\n"
      " address-family ipv4 unicast\n  neighbor nodes route-reflector-client\n exit-address-family\n");
  const std::string to_rr = "  - {address: 198.18.0.10, remote_as: internal}\n";
  auto& t1 = ternd(n1, node_yaml(1, to_rr));
  auto& t2 = ternd(n2, node_yaml(2, to_rr));
  expect_route(t1, "198.18.102.0/24", "198.18.0.2");
  expect_route(t2, "198.18.101.0/24", "198.18.0.1");
  auto p = t1.rib_paths("198.18.102.0/24");
  ASSERT_FALSE(p.empty()) << frrs_[0]->log();
  EXPECT_EQ(p[0]["originator_id"], "198.18.0.2") << p.dump(2);
  EXPECT_EQ(p[0]["cluster_list"], nlohmann::json::array({"198.18.255.2"})) << p.dump(2);
  EXPECT_EQ(p[0]["peer_address"], "198.18.0.10");
}

}  // namespace
}  // namespace tern
