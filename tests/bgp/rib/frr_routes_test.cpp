// Routes flowing between ternd and FRR (Debian), each in its own namespace: ternd
// announces its block, learns FRR's, refuses what its policy does not allow, and follows
// withdrawals — checked in FRR's JSON view and in `ternctl rib --json`.
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

class FrrRoutes : public ::testing::Test {
 protected:
  void SetUp() override {
    TERN_REQUIRE_ROOT();
    node_ = std::make_unique<Netns>("node");
    tor_ = std::make_unique<Netns>("tor");
    testing::connect(*node_, "eth0", "198.18.0.1/30", *tor_, "eth0", "198.18.0.2/30");
  }
  void TearDown() override {
    ternd_.reset();
    frr_.reset();
  }

  // FRR's best path for a prefix, or null.
  nlohmann::json frr_route(const std::string& prefix) {
    auto j = frr_->show_json("show bgp ipv4 unicast " + prefix + " json");
    if (!j.is_object()) return {};
    for (const auto& p : j.value("paths", nlohmann::json::array())) {
      if (p.value("bestpath", nlohmann::json::object()).value("overall", false)) return p;
    }
    return {};
  }

  int neighbor_resets() {
    auto j = frr_->show_json("show bgp neighbors 198.18.0.1 json");
    return j.value("198.18.0.1", nlohmann::json::object()).value("connectionsEstablished", -1);
  }

  // The node's kernel route for a prefix, as `ip -j route` shows it (tern's protocol only).
  nlohmann::json kernel_route(const std::string& prefix) {
    auto r = testing::run({"ip", "-n", node_->name(), "-j", "route", "show", "proto", "77"});
    for (const auto& route : nlohmann::json::parse(r.out.empty() ? "[]" : r.out)) {
      if (route.value("dst", "") == prefix) return route;
    }
    return nlohmann::json::object();
  }

  std::unique_ptr<Netns> node_, tor_;
  std::unique_ptr<Frr> frr_;
  std::unique_ptr<Ternd> ternd_;
};

TEST_F(FrrRoutes, EbgpBothWaysWithDefaultDenyImport) {
  frr_ = std::make_unique<Frr>(*tor_,
                               "frr defaults datacenter\n"
                               "router bgp 65002\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n"
                               " no bgp network import-check\n"
                               " neighbor 198.18.0.1 remote-as 65001\n neighbor 198.18.0.1 timers connect 1\n"
                               " address-family ipv4 unicast\n"
                               "  network 198.18.200.0/24\n  network 198.19.1.0/24\n  network 198.18.100.0/25\n"
                               " exit-address-family\n");
  ternd_ = std::make_unique<Ternd>(*node_,
                                   "node: {name: node-1, router_id: 198.18.0.1, as: 65001, blocks: [198.18.100.0/24]}\n"
                                   "pools: [198.18.0.0/16]\n"
                                   "bgp: {connect_retry: 1}\n"
                                   "peers:\n  - {name: tor, address: 198.18.0.2, remote_as: 65002}\n");
  ASSERT_TRUE(wait_until([&] { return ternd_->established("198.18.0.2"); }, 30s, 250ms)) << ternd_->log();

  // ternd's block at FRR: next hop ternd, AS path ternd's AS.
  ASSERT_TRUE(wait_until([&] { return !frr_route("198.18.100.0/24").is_null(); }, 10s, 250ms))
      << frr_->show_json("show bgp ipv4 unicast json").dump(2) << ternd_->log();
  auto at_frr = frr_route("198.18.100.0/24");
  EXPECT_EQ(at_frr["aspath"]["string"], "65001") << at_frr.dump(2);
  EXPECT_EQ(at_frr["nexthops"][0]["ip"], "198.18.0.1") << at_frr.dump(2);
  EXPECT_EQ(at_frr["origin"], "IGP") << at_frr.dump(2);

  // FRR's route at ternd; a prefix outside the pools and one inside ternd's own block are
  // refused (default-deny import).
  ASSERT_TRUE(wait_until([&] { return !ternd_->rib_paths("198.18.200.0/24").empty(); }, 10s, 250ms))
      << ternd_->ternctl_json({"rib"}).dump(2) << ternd_->log();
  auto paths = ternd_->rib_paths("198.18.200.0/24");
  ASSERT_EQ(paths.size(), 1u) << paths.dump(2);
  EXPECT_EQ(paths[0]["peer"], "tor");
  EXPECT_EQ(paths[0]["next_hop"], "198.18.0.2");
  EXPECT_EQ(paths[0]["as_path"], "65002");
  EXPECT_EQ(paths[0]["best"], true);
  EXPECT_TRUE(ternd_->rib_paths("198.19.1.0/24").empty()) << "outside the pools";
  EXPECT_TRUE(ternd_->rib_paths("198.18.100.0/25").empty()) << "inside the node's own block";
  // The Loc-RIB as an MRT dump reads back with ternctl decode and with bgpdump.
  auto mrt = ternd_->dir() / "rib.mrt";
  auto written = ternd_->ternctl({"rib", "--mrt", mrt});
  ASSERT_EQ(written.exit_code, 0) << written.err;
  auto decoded = testing::run({Ternd::ctl_binary(), "decode", mrt}, 10s);
  EXPECT_EQ(decoded.exit_code, 0) << decoded.err;
  EXPECT_NE(decoded.out.find("198.18.200.0/24"), std::string::npos) << decoded.out;
  EXPECT_NE(decoded.out.find("198.18.100.0/24"), std::string::npos) << decoded.out;
  auto bgpdump = testing::run({"bgpdump", "-m", mrt}, 10s);
  EXPECT_NE(bgpdump.out.find("|198.18.200.0/24|65002|IGP|198.18.0.2|"), std::string::npos) << bgpdump.out << bgpdump.err;

  auto peer = ternd_->peer("198.18.0.2");
  EXPECT_EQ(peer["prefixes_out"], "1") << peer.dump(2);
  EXPECT_GE(std::stoi(peer["prefixes_in"].get<std::string>()), 3) << "received, whatever policy did with them";

  // In the node's kernel: FRR's route via FRR, and the node's own block blackholed.
  EXPECT_TRUE(wait_until([&] { return kernel_route("198.18.200.0/24").value("gateway", "") == "198.18.0.2"; }, 10s,
                         100ms)) << kernel_route("198.18.200.0/24").dump() << ternd_->log();
  EXPECT_EQ(kernel_route("198.18.100.0/24").value("type", ""), "blackhole");
  EXPECT_TRUE(kernel_route("198.19.1.0/24").empty()) << "refused routes are not installed";
  // Deleted behind ternd's back: it comes back.
  node_->ip("route del 198.18.200.0/24 proto 77");
  EXPECT_TRUE(wait_until([&] { return !kernel_route("198.18.200.0/24").empty(); }, 5s, 50ms)) << ternd_->log();
  EXPECT_NE(ternd_->log().find("1 of tern's routes or nexthop objects deleted or changed by someone else; "
                               "putting them back"),
            std::string::npos);

  // FRR withdraws: gone at ternd.
  auto r = frr_->vtysh({"configure terminal", "router bgp 65002", "address-family ipv4 unicast",
                        "no network 198.18.200.0/24"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(wait_until([&] { return ternd_->rib_paths("198.18.200.0/24").empty(); }, 10s, 250ms))
      << ternd_->ternctl_json({"rib"}).dump(2);
  EXPECT_TRUE(wait_until([&] { return kernel_route("198.18.200.0/24").empty(); }, 10s, 100ms)) << "and from the kernel";

  // ternd's block leaves the configuration (SIGHUP): withdrawn at FRR.
  ternd_->reload("node: {name: node-1, router_id: 198.18.0.1, as: 65001}\npools: [198.18.0.0/16]\n"
                 "bgp: {connect_retry: 1}\npeers:\n  - {name: tor, address: 198.18.0.2, remote_as: 65002}\n");
  EXPECT_TRUE(wait_until([&] { return frr_route("198.18.100.0/24").is_null(); }, 10s, 250ms)) << ternd_->log();
  EXPECT_EQ(ternd_->peer("198.18.0.2")["established_count"], 1) << "no session reset for it";
}

TEST_F(FrrRoutes, IbgpBetweenLoopbacksResolvesTheNextHop) {
  // FRR speaks from its loopback, two hops away as far as BGP is concerned: its routes'
  // next hop is that loopback, which ternd reaches through a static route.
  tor_->ip("addr add 198.18.255.2/32 dev lo");
  node_->ip("route add 198.18.255.2/32 via 198.18.0.2 proto static");
  frr_ = std::make_unique<Frr>(*tor_,
                               "frr defaults datacenter\n"
                               "router bgp 65001\n bgp router-id 198.18.255.2\n no bgp network import-check\n"
                               " neighbor 198.18.0.1 remote-as internal\n neighbor 198.18.0.1 update-source 198.18.255.2\n"
                               " neighbor 198.18.0.1 timers connect 1\n"
                               " address-family ipv4 unicast\n  network 198.18.200.0/24\n exit-address-family\n");
  ternd_ = std::make_unique<Ternd>(*node_,
                                   "node: {name: node-1, router_id: 198.18.0.1, as: 65001}\npools: [198.18.0.0/16]\n"
                                   "bgp: {connect_retry: 1}\n"
                                   "peers:\n  - {address: 198.18.255.2, remote_as: internal}\n");
  ASSERT_TRUE(wait_until([&] { return !ternd_->rib_paths("198.18.200.0/24").empty(); }, 30s, 250ms)) << ternd_->log();
  EXPECT_EQ(ternd_->rib_paths("198.18.200.0/24")[0]["next_hop"], "198.18.255.2");
  EXPECT_TRUE(wait_until([&] { return kernel_route("198.18.200.0/24").value("gateway", "") == "198.18.0.2"; }, 10s,
                         100ms)) << "installed via the route to the loopback: " << kernel_route("198.18.200.0/24").dump()
                                 << ternd_->log();
}

TEST_F(FrrRoutes, KernelRoutesSurviveARestartOfTernd) {
  frr_ = std::make_unique<Frr>(*tor_,
                               "frr defaults datacenter\n"
                               "router bgp 65002\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n"
                               " no bgp network import-check\n"
                               " neighbor 198.18.0.1 remote-as 65001\n neighbor 198.18.0.1 timers connect 1\n"
                               " address-family ipv4 unicast\n  network 198.18.200.0/24\n  network 198.18.201.0/24\n"
                               " exit-address-family\n");
  const std::string yaml =
      "node: {name: node-1, router_id: 198.18.0.1, as: 65001, blocks: [198.18.100.0/24]}\npools: [198.18.0.0/16]\n"
      "bgp: {connect_retry: 1}\nrouting: {startup_grace: 5}\n"
      "peers:\n  - {address: 198.18.0.2, remote_as: 65002}\n";
  ternd_ = std::make_unique<Ternd>(*node_, yaml);
  ASSERT_TRUE(wait_until([&] { return !kernel_route("198.18.201.0/24").empty(); }, 30s, 100ms)) << ternd_->log();
  ternd_.reset();  // SIGTERM
  EXPECT_FALSE(kernel_route("198.18.200.0/24").empty()) << "the routes stay while ternd is down";
  EXPECT_FALSE(kernel_route("198.18.100.0/24").empty());

  // While it is down FRR drops one route; the new ternd keeps the other and removes it.
  auto r = frr_->vtysh({"configure terminal", "router bgp 65002", "address-family ipv4 unicast",
                        "no network 198.18.201.0/24"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ternd_ = std::make_unique<Ternd>(*node_, yaml);
  EXPECT_TRUE(wait_until([&] { return kernel_route("198.18.201.0/24").empty(); }, 20s, 100ms))
      << "a stale route goes at the reconcile" << ternd_->log();
  EXPECT_FALSE(kernel_route("198.18.200.0/24").empty());
  EXPECT_FALSE(kernel_route("198.18.100.0/24").empty());
  EXPECT_NE(ternd_->log().find("kernel routes reconciled: 0 added, 0 replaced, 1 removed, 2 kept"), std::string::npos)
      << "the wanted routes were never rewritten\n" << ternd_->log();
}

// RFC 4724 with FRR as the helper (its default): ternd killed, its routes stay at FRR,
// marked stale, for the Restart Time; the new ternd says it restarted with forwarding
// kept (R and F bits), sends its table and End-of-RIB, and FRR's stale mark goes without
// the route ever leaving. FRR now sends its End-of-RIB too, and ternd reconciles at it.
TEST_F(FrrRoutes, GracefulRestartKeepsTheNodesRoutesAtFrrThroughACrash) {
  frr_ = std::make_unique<Frr>(*tor_,
                               "frr defaults datacenter\n"
                               "router bgp 65002\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n"
                               " no bgp network import-check\n"
                               " neighbor 198.18.0.1 remote-as 65001\n neighbor 198.18.0.1 timers connect 1\n"
                               " address-family ipv4 unicast\n  network 198.18.200.0/24\n exit-address-family\n");
  const std::string yaml =
      "node: {name: node-1, router_id: 198.18.0.1, as: 65001, blocks: [198.18.100.0/24]}\npools: [198.18.0.0/16]\n"
      "bgp: {connect_retry: 1, graceful_restart: 60}\nrouting: {startup_grace: 60}\n"
      "peers:\n  - {address: 198.18.0.2, remote_as: 65002}\n";
  ternd_ = std::make_unique<Ternd>(*node_, yaml);
  ASSERT_TRUE(wait_until([&] { return !kernel_route("198.18.200.0/24").empty(); }, 30s, 100ms)) << ternd_->log();
  ASSERT_TRUE(wait_until([&] { return !frr_route("198.18.100.0/24").is_null(); }, 10s, 100ms));
  EXPECT_NE(ternd_->log().find("End-of-RIB"), std::string::npos) << "FRR sends End-of-RIB to a GR speaker\n"
                                                                  << ternd_->log();
  EXPECT_FALSE(frr_route("198.18.100.0/24").value("stale", false));

  ternd_->stop(SIGKILL);
  ASSERT_TRUE(wait_until([&] { return frr_route("198.18.100.0/24").value("stale", false); }, 10s, 100ms))
      << "FRR keeps the route, stale, after the connection closed\n" << frr_route("198.18.100.0/24").dump(2);
  const auto down = std::chrono::steady_clock::now();

  ternd_->start();
  EXPECT_TRUE(wait_until([&] {
    auto r = frr_route("198.18.100.0/24");
    return !r.is_null() && !r.value("stale", false);
  }, 30s, 100ms)) << "the new session's End-of-RIB clears the stale mark\n" << frr_route("198.18.100.0/24").dump(2);
  EXPECT_LT(std::chrono::steady_clock::now() - down, 50s) << "well before the Restart Time ran out";
  auto log = ternd_->log();
  EXPECT_NE(log.find("restarting: a previous run's routes are in the kernel"), std::string::npos) << log;
  // The reconcile came at FRR's End-of-RIB, not after the 60 s grace.
  auto count = [&](const std::string& what) {
    auto text = ternd_->log();
    int n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_TRUE(wait_until([&] { return count("kernel routes reconciled") == 2; }, 20s, 100ms)) << ternd_->log();
  EXPECT_FALSE(ternd_->rib_paths("198.18.200.0/24").empty());
  auto neighbor = frr_->show_json("show bgp neighbors 198.18.0.1 json").value("198.18.0.1", nlohmann::json::object());
  EXPECT_EQ(neighbor.value("connectionsEstablished", -1), 2) << neighbor.dump(2);
  const auto gr = neighbor.value("gracefulRestartInfo", nlohmann::json::object());
  EXPECT_TRUE(gr.value("rBit", false)) << "restarted" << gr.dump(2);
  EXPECT_TRUE(gr.value("ipv4Unicast", nlohmann::json::object()).value("fBit", false)) << "forwarding kept" << gr.dump(2);
  EXPECT_EQ(gr.value("timers", nlohmann::json::object()).value("receivedRestartTimer", 0), 60) << gr.dump(2);
}

// The control: without graceful restart, the same crash takes the route from FRR at once.
TEST_F(FrrRoutes, WithoutGracefulRestartACrashWithdrawsTheNodesRoutes) {
  frr_ = std::make_unique<Frr>(*tor_,
                               "frr defaults datacenter\n"
                               "router bgp 65002\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n"
                               " neighbor 198.18.0.1 remote-as 65001\n neighbor 198.18.0.1 timers connect 1\n");
  ternd_ = std::make_unique<Ternd>(*node_,
                                   "node: {name: node-1, router_id: 198.18.0.1, as: 65001, blocks: [198.18.100.0/24]}\n"
                                   "pools: [198.18.0.0/16]\nbgp: {graceful_restart: 0}\n"
                                   "peers:\n  - {address: 198.18.0.2, remote_as: 65002}\n");
  ASSERT_TRUE(wait_until([&] { return !frr_route("198.18.100.0/24").is_null(); }, 30s, 100ms)) << ternd_->log();
  ternd_->stop(SIGKILL);
  EXPECT_TRUE(wait_until([&] { return frr_route("198.18.100.0/24").is_null(); }, 10s, 100ms))
      << frr_route("198.18.100.0/24").dump(2);
}

TEST_F(FrrRoutes, PolicyReloadAppliesWithoutASessionReset) {
  frr_ = std::make_unique<Frr>(*tor_,
                               "frr defaults datacenter\n"
                               "router bgp 65002\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n"
                               " no bgp network import-check\n"
                               " neighbor 198.18.0.1 remote-as 65001\n neighbor 198.18.0.1 timers connect 1\n"
                               " address-family ipv4 unicast\n  network 198.19.1.0/24\n exit-address-family\n"
                               "debug bgp neighbor-events\n");
  const std::string node = "node: {name: node-1, router_id: 198.18.0.1, as: 65001, blocks: [198.18.100.0/24]}\n";
  const std::string peers = "peers:\n  - {name: tor, address: 198.18.0.2, remote_as: 65002";
  ternd_ = std::make_unique<Ternd>(*node_, node + "pools: [198.18.0.0/16]\n" + peers + "}\n");
  ASSERT_TRUE(wait_until([&] { return !frr_route("198.18.100.0/24").is_null(); }, 30s, 250ms)) << ternd_->log();
  EXPECT_TRUE(ternd_->rib_paths("198.19.1.0/24").empty()) << "outside the pool at first";

  // A wider pool and a community on export, by SIGHUP.
  ternd_->reload(node + "pools: [198.18.0.0/15]\n" + peers + ", export: {communities: [\"65001:42\"]}}\n");
  // ternd asks for FRR's routes again (ROUTE-REFRESH); the session stays up.
  EXPECT_TRUE(wait_until([&] { return !ternd_->rib_paths("198.19.1.0/24").empty(); }, 10s, 250ms))
      << "ternd asked FRR for its routes again (route refresh)\n" << ternd_->log() << frr_->log();
  EXPECT_TRUE(wait_until([&] { return frr_route("198.18.100.0/24").value("community", nlohmann::json::object())
                                         .value("string", "") == "65001:42"; }, 10s, 250ms))
      << frr_route("198.18.100.0/24").dump(2);
  EXPECT_EQ(neighbor_resets(), 1) << "the session was never reset";
  EXPECT_NE(ternd_->log().find("policy changed; applied without a session reset"), std::string::npos);
}

TEST_F(FrrRoutes, RouteRefreshFromFrrIsAnswered) {
  frr_ = std::make_unique<Frr>(*tor_,
                               "frr defaults datacenter\n"
                               "router bgp 65002\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n"
                               " neighbor 198.18.0.1 remote-as 65001\n neighbor 198.18.0.1 timers connect 1\n"
                               "debug bgp updates in\ndebug bgp neighbor-events\n");
  ternd_ = std::make_unique<Ternd>(*node_,
                                   "node: {name: node-1, router_id: 198.18.0.1, as: 65001, blocks: [198.18.100.0/24]}\n"
                                   "pools: [198.18.0.0/16]\n"
                                   "peers:\n  - {address: 198.18.0.2, remote_as: 65002}\n");
  ASSERT_TRUE(wait_until([&] { return !frr_route("198.18.100.0/24").is_null(); }, 30s, 250ms)) << ternd_->log();
  auto r = frr_->vtysh({"clear bgp ipv4 unicast 198.18.0.1 soft in"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(wait_until([&] { return ternd_->log().find("route refresh for ipv4-unicast") != std::string::npos; },
                         10s, 250ms)) << ternd_->log();
  EXPECT_TRUE(wait_until([&] { return ternd_->peer("198.18.0.2").value("updates_out", "0") != "1"; }, 10s, 250ms))
      << "the table went out again" << ternd_->peer("198.18.0.2").dump(2);
  EXPECT_FALSE(frr_route("198.18.100.0/24").is_null());
}

}  // namespace
}  // namespace tern
