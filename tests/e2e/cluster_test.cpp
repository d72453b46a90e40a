// End to end, on scripts/demo's topology: three nodes in their own AS peering eBGP with an
// FRR top-of-rack over routed /31s, ternd on every node, two Pods a node made through the
// CNI plugins as a runtime makes them. Asserted through the interfaces operators use:
// FRR's JSON, `ip -j route`, `ternctl`, and ping between Pods.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>

#include "tests/support/cni.hpp"
#include "tests/support/frr.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/ternd.hpp"

namespace tern::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr int kNodes = 3;
constexpr int kHoldTime = 9;  // seconds, on both sides

std::string node_ip(int i) { return "198.18.0." + std::to_string(2 * i - 1); }
std::string tor_ip(int i) { return "198.18.0." + std::to_string(2 * i - 2); }
std::string block(int i) { return "198.19." + std::to_string(i) + ".0/24"; }

class Cluster : public ::testing::Test {
 protected:
  void SetUp() override {
    TERN_REQUIRE_ROOT();
    tor_ = std::make_unique<Netns>("e2tor");
    std::string frr = "router bgp 65000\n bgp router-id 198.18.0.254\n no bgp ebgp-requires-policy\n";
    for (int i = 1; i <= kNodes; ++i) {
      nodes_.push_back(std::make_unique<Netns>("e2n" + std::to_string(i)));
      auto r = sh("ip -n " + tor_->name() + " link add tor-n" + std::to_string(i) + " type veth peer name eth0 netns " +
                  nodes_.back()->name());
      ASSERT_EQ(r.exit_code, 0) << r.err;
      tor_->ip("addr add " + tor_ip(i) + "/31 dev tor-n" + std::to_string(i));
      tor_->ip("link set tor-n" + std::to_string(i) + " up");
      node(i).ip("addr add " + node_ip(i) + "/31 dev eth0");
      node(i).ip("link set eth0 up");
      frr += " neighbor " + node_ip(i) + " remote-as " + std::to_string(65000 + i) + "\n";
      frr += " neighbor " + node_ip(i) + " timers 3 " + std::to_string(kHoldTime) + "\n";
      frr += " neighbor " + node_ip(i) + " timers connect 1\n";
    }
    tor_->sh("sysctl -qw net.ipv4.ip_forward=1");
    frr_ = std::make_unique<Frr>(*tor_, frr);
    for (int i = 1; i <= kNodes; ++i) ternds_.push_back(std::make_unique<Ternd>(node(i), ternd_yaml(i)));
    for (int i = 1; i <= kNodes; ++i) {
      ASSERT_TRUE(wait_until([&] { return ternd(i).ternctl({"status"}).exit_code == 0; }, 30s, 200ms))
          << "node-" << i << " not ready: " << ternd(i).ternctl({"status"}).out << ternd(i).log();
      for (int p = 1; p <= 2; ++p) add_pod(i, p);
    }
  }

  std::string ternd_yaml(int i, const std::string& extra_peers = "") const {
    return "node: {name: node-" + std::to_string(i) + ", router_id: " + node_ip(i) + ", as: " +
           std::to_string(65000 + i) + ", blocks: [" + block(i) + "]}\npools: [198.19.0.0/16]\nbgp: {hold_time: " +
           std::to_string(kHoldTime) + ", connect_retry: 1}\nhttp: {listen: \"\"}\npeers:\n  - {address: " + tor_ip(i) +
           ", remote_as: 65000, name: tor, required: true}\n" + extra_peers;
  }

  const Netns& node(int i) const { return *nodes_[i - 1]; }
  Ternd& ternd(int i) { return *ternds_[i - 1]; }

  void add_pod(int i, int p) {
    std::string tag = "e2n" + std::to_string(i) + "p" + std::to_string(p);
    auto& ns = pods_[tag] = std::make_unique<Netns>(tag);
    json conf{{"cniVersion", "1.1.0"},
              {"name", "tern"},
              {"type", "tern"},
              {"socket", ternd(i).socket()},
              {"ipam", {{"type", "tern-ipam"}, {"socket", ternd(i).socket()}}}};
    auto r = cni(node(i), {"ADD", "ctr-" + tag, ns->path(), "eth0", "IgnoreUnknown=1;K8S_POD_NAMESPACE=e2e;K8S_POD_NAME=" + tag},
                 conf);
    ASSERT_EQ(r.exit_code, 0) << r.raw << r.err;
    std::string a = r.out["ips"][0]["address"];
    pod_ip_[tag] = a.substr(0, a.find('/'));
  }
  const Netns& pod(int i, int p) { return *pods_.at("e2n" + std::to_string(i) + "p" + std::to_string(p)); }
  std::string pod_ip(int i, int p) { return pod_ip_.at("e2n" + std::to_string(i) + "p" + std::to_string(p)); }

  // The route to `prefix` in node i's kernel (`ip -j route`), or an empty object.
  json kernel_route(int i, const std::string& prefix) const {
    auto r = run({"ip", "-n", node(i).name(), "-j", "route", "show", prefix});
    auto routes = json::parse(r.out.empty() ? "[]" : r.out);
    return routes.empty() ? json::object() : routes[0];
  }
  bool routes_complete() const {
    for (int i = 1; i <= kNodes; ++i) {
      for (int j = 1; j <= kNodes; ++j) {
        if (i != j && kernel_route(i, block(j)).value("gateway", "") != tor_ip(i)) return false;
      }
    }
    return true;
  }
  json frr_neighbor(const std::string& address) const {
    auto j = frr_->show_json("show bgp neighbors " + address + " json");
    return j.contains(address) ? j[address] : json::object();
  }

  std::unique_ptr<Netns> tor_;
  std::vector<std::unique_ptr<Netns>> nodes_;
  std::unique_ptr<Frr> frr_;
  std::vector<std::unique_ptr<Ternd>> ternds_;
  std::map<std::string, std::unique_ptr<Netns>> pods_;
  std::map<std::string, std::string> pod_ip_;
};

TEST_F(Cluster, PodsOnDifferentNodesReachEachOtherOverPlainRoutedIp) {
  // Sessions up, seen from both ends.
  for (int i = 1; i <= kNodes; ++i) {
    EXPECT_TRUE(wait_until([&] { return frr_neighbor(node_ip(i)).value("bgpState", "") == "Established"; }, 20s, 200ms))
        << "node-" << i;
    EXPECT_TRUE(ternd(i).established(tor_ip(i))) << ternd(i).log();
  }
  // Every node routes every other node's block via its top-of-rack link, under tern's
  // protocol; FRR has each block from the node that owns it.
  ASSERT_TRUE(wait_until([&] { return routes_complete(); }, 20s, 200ms)) << run({"ip", "-n", node(1).name(), "route"}).out;
  EXPECT_EQ(kernel_route(1, block(2))["protocol"], "77");
  // ternd's own account of them, as `ternctl routes` gives it.
  auto wanted = ternd(1).ternctl_json({"routes"});
  ASSERT_EQ(wanted.value("routes", json::array()).size(), 3u) << wanted;
  EXPECT_EQ(wanted["routes"][0]["prefix"], block(1));
  EXPECT_EQ(wanted["routes"][0]["type"], "blackhole") << "the node's own block: what no Pod uses goes nowhere";
  EXPECT_EQ(wanted["routes"][1]["next_hops"][0]["gateway"], tor_ip(1));
  EXPECT_TRUE(wanted["in_sync"]);
  for (int j = 1; j <= kNodes; ++j) {
    auto rib = frr_->show_json("show bgp ipv4 unicast " + block(j) + " json");
    ASSERT_FALSE(rib.value("paths", json::array()).empty()) << rib;
    EXPECT_EQ(rib["paths"][0]["nexthops"][0]["ip"], node_ip(j)) << rib;
  }
  // Every Pod reaches a Pod on every other node.
  for (int i = 1; i <= kNodes; ++i) {
    for (int j = 1; j <= kNodes; ++j) {
      if (i == j) continue;
      auto ping = pod(i, 1).sh("ping -c 1 -W 2 " + pod_ip(j, 2));
      EXPECT_EQ(ping.exit_code, 0) << pod_ip(i, 1) << " -> " << pod_ip(j, 2) << ": " << ping.out;
    }
  }
  // On the wire between the top-of-rack and node-2: the Pods' own addresses in plain
  // IPv4, no encapsulation header.
  auto capture = tor_->sh("timeout 10 tcpdump -l -n -c 1 -i tor-n2 'icmp[icmptype] = icmp-echo' 2>/dev/null & sleep 1; "
                          "ip netns exec " + pod(1, 1).name() + " ping -c 2 -i 0.3 -W 2 " + pod_ip(2, 1) + " >/dev/null; wait",
                          20s);
  EXPECT_NE(capture.out.find("IP " + pod_ip(1, 1) + " > " + pod_ip(2, 1) + ": ICMP echo request"), std::string::npos)
      << capture.out << capture.err;
}

// A node that goes silent (its BGP traffic dropped, the link still up): its block is gone
// from every other node within the hold time, and comes back when it does.
TEST_F(Cluster, ASilentNodesRoutesAreGoneEverywhereWithinTheHoldTime) {
  ASSERT_TRUE(wait_until([&] { return routes_complete(); }, 20s, 200ms));
  auto drop = node(3).sh("nft add table inet e2e && nft add chain inet e2e in '{ type filter hook input priority 0; }' && "
                         "nft add chain inet e2e out '{ type filter hook output priority 0; }' && "
                         "nft add rule inet e2e in tcp dport 179 drop && nft add rule inet e2e in tcp sport 179 drop && "
                         "nft add rule inet e2e out tcp dport 179 drop && nft add rule inet e2e out tcp sport 179 drop");
  ASSERT_EQ(drop.exit_code, 0) << drop.err;
  auto gone = [&] { return kernel_route(1, block(3)).empty() && kernel_route(2, block(3)).empty(); };
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until(gone, std::chrono::seconds(kHoldTime + 3), 100ms))
      << "node-3's block still routed " << kHoldTime + 3 << " s after it went silent";
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  RecordProperty("withdrawn_after_ms", static_cast<int>(took.count()));
  EXPECT_FALSE(kernel_route(1, block(2)).empty()) << "the other nodes' routes stay";
  EXPECT_NE(pod(1, 1).sh("ping -c 1 -W 1 " + pod_ip(3, 1)).exit_code, 0) << "node-3's Pods are unreachable: no stale route";

  node(3).sh("nft delete table inet e2e");
  EXPECT_TRUE(wait_until([&] { return routes_complete(); }, 30s, 200ms)) << "node-3 came back";
}

// Someone rewrites one of ternd's routes in place (a blackhole at its protocol and metric,
// as `ip route replace` does): ternd's monitor notices and puts the route back, through the
// same rate-limited commit as a deleted one.
TEST_F(Cluster, ARouteChangedBehindTerndsBackIsPutBack) {
  ASSERT_TRUE(wait_until([&] { return routes_complete(); }, 20s, 200ms));
  auto was = kernel_route(1, block(2));
  ASSERT_EQ(was.value("protocol", ""), "77") << was;
  std::string metric = was.contains("metric") ? " metric " + std::to_string(was["metric"].get<int>()) : "";
  node(1).ip("route replace blackhole " + block(2) + " proto 77" + metric);
  EXPECT_TRUE(wait_until([&] { return ternd(1).log().find("changed by someone else") != std::string::npos; }, 10s, 100ms))
      << ternd(1).log();
  EXPECT_TRUE(wait_until([&] { return kernel_route(1, block(2)).value("gateway", "") == tor_ip(1); }, 10s, 100ms))
      << kernel_route(1, block(2));
  EXPECT_EQ(kernel_route(1, block(2)).value("protocol", ""), "77");
}

// SIGHUP with a peer added on node-1: the new session starts, and the top-of-rack's
// session to node-1 is not reset (FRR's uptime keeps counting, one connection ever).
TEST_F(Cluster, AReloadAddingAPeerResetsNoOtherSession) {
  ASSERT_TRUE(wait_until([&] { return frr_neighbor(node_ip(1)).value("bgpState", "") == "Established"; }, 20s, 200ms));
  auto before = frr_neighbor(node_ip(1));
  // A second upstream on a link of its own: FRR listens for it on the same router.
  auto r = sh("ip -n " + tor_->name() + " link add tor-n1b type veth peer name eth1 netns " + node(1).name());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  tor_->ip("addr add 198.18.0.100/31 dev tor-n1b");
  tor_->ip("link set tor-n1b up");
  node(1).ip("addr add 198.18.0.101/31 dev eth1");
  node(1).ip("link set eth1 up");
  auto added = frr_->vtysh({"configure terminal", "router bgp 65000", "neighbor 198.18.0.101 remote-as 65001",
                            "neighbor 198.18.0.101 timers connect 1"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  ternd(1).reload(ternd_yaml(1, "  - {address: 198.18.0.100, remote_as: 65000, name: tor-b}\n"));
  EXPECT_TRUE(wait_until([&] { return ternd(1).established("198.18.0.100"); }, 20s, 200ms)) << ternd(1).log();
  EXPECT_EQ(frr_neighbor(node_ip(1))["connectionsEstablished"], 1) << "the untouched session was reset";
  // FRR's uptime has a one-second grain: it passes where it stood plus two seconds with
  // the connection count unmoved (a reset would restart it from zero).
  uint64_t up_before = before.value("bgpTimerUpMsec", 0u);
  EXPECT_TRUE(wait_until([&] {
    auto n = frr_neighbor(node_ip(1));
    return n.value("connectionsEstablished", 0) == 1 && n.value("bgpTimerUpMsec", 0u) >= up_before + 2000;
  }, 10s, 200ms)) << frr_neighbor(node_ip(1)).value("bgpTimerUpString", "?");
  EXPECT_EQ(ternd(1).peer(tor_ip(1)).value("established_count", 0u), 1u) << ternd(1).peer(tor_ip(1));
  // With two upstreams node-1 has two equal paths to node-2's block: one ECMP route.
  EXPECT_TRUE(wait_until([&] { return kernel_route(1, block(2)).value("nexthops", json::array()).size() == 2; }, 20s, 200ms))
      << kernel_route(1, block(2));
}

}  // namespace
}  // namespace tern::testing
