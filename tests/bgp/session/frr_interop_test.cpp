// ternd against FRR's bgpd (Debian), each in its own namespace on a veth link:
// iBGP and eBGP, IPv4 and IPv6 transport, MD5, passive on either side, a wrong AS, a
// wrong password, FRR restarted, keepalives holding a 3 s hold time for a minute, FRR
// as a dynamic neighbour from a listen range, and a SIGHUP reload that resets only the
// sessions whose settings changed. Checked through FRR's own JSON view,
// `ternctl peers --json` and ternd's log.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/frr.hpp"
#include "tests/support/netns.hpp"

namespace tern {
namespace {

using namespace std::chrono_literals;
using testing::Daemon;
using testing::Frr;
using testing::Netns;
using testing::wait_until;

struct Link {
  std::string node_addr, tor_addr, prefix_len;
};
const Link kV4{"198.18.0.1", "198.18.0.2", "30"};
const Link kV6{"2001:db8::1", "2001:db8::2", "64"};

class FrrInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    TERN_REQUIRE_ROOT();
    node_ = std::make_unique<Netns>("node");
    tor_ = std::make_unique<Netns>("tor");
    testing::connect(*node_, "eth0", "", *tor_, "eth0", "");
    for (const auto& l : {kV4, kV6}) {
      std::string nodad = l.node_addr.find(':') != std::string::npos ? " nodad" : "";
      node_->ip("addr add " + l.node_addr + "/" + l.prefix_len + " dev eth0" + nodad);
      tor_->ip("addr add " + l.tor_addr + "/" + l.prefix_len + " dev eth0" + nodad);
    }
    dir_ = std::filesystem::temp_directory_path() / (node_->name() + "-ternd");
    std::filesystem::create_directories(dir_);
  }

  void TearDown() override {
    ternd_.reset();
    frr_.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  void start_frr(const std::string& bgp_config) {
    frr_ = std::make_unique<Frr>(*tor_, "frr defaults traditional\n" + bgp_config);
  }

  void start_ternd(const std::string& yaml) {
    std::ofstream(dir_ / "ternd.yaml") << yaml << "admin: {socket: " << (dir_ / "ternd.sock").string() << "}\n";
    ternd_ = std::make_unique<Daemon>(
        std::vector<std::string>{"ip", "netns", "exec", node_->name(), TERND, "--config", dir_ / "ternd.yaml"},
        dir_ / "ternd.log");
  }

  std::string ternd_log() const {
    std::ifstream in(dir_ / "ternd.log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  nlohmann::json neighbor(const std::string& addr) {
    auto j = frr_->show_json("show bgp neighbors " + addr + " json");
    return j.contains(addr) ? j[addr] : nlohmann::json{};
  }

  // ternd's view, as an operator gets it.
  nlohmann::json ternctl_peers() {
    auto r = testing::run({TERNCTL, "peers", "--json", "--socket", dir_ / "ternd.sock"}, 10s);
    if (r.exit_code != 0) return nlohmann::json{{"error", r.err}};
    return nlohmann::json::parse(r.out);
  }

  nlohmann::json ternctl_peer(const std::string& address) {
    for (const auto& p : ternctl_peers().value("peers", nlohmann::json::array())) {
      if (p["address"] == address) return p;
    }
    return {};
  }

  bool established(const std::string& addr) { return neighbor(addr).value("bgpState", "") == "Established"; }

  // Waits for Established as FRR sees it; on failure prints both sides' view.
  void expect_established(const std::string& addr, std::chrono::milliseconds within = 30s) {
    bool up = wait_until([&] { return established(addr); }, within, 250ms);
    EXPECT_TRUE(up) << "FRR: " << neighbor(addr).dump(2) << "\nternd log:\n" << ternd_log();
  }

  std::unique_ptr<Netns> node_, tor_;
  std::filesystem::path dir_;
  std::unique_ptr<Frr> frr_;
  std::unique_ptr<Daemon> ternd_;
};

TEST_F(FrrInterop, EbgpOverIpv4WithCapabilities) {
  start_frr(
      "router bgp 65002\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n"
      " neighbor 198.18.0.1 remote-as 65001\n neighbor 198.18.0.1 timers connect 2\n");
  start_ternd("node: {name: node-1, router_id: 198.18.0.1, as: 65001}\n"
              "bgp: {hold_time: 30}\n"
              "peers:\n  - {name: tor, address: 198.18.0.2, remote_as: 65002}\n");
  expect_established("198.18.0.1");
  auto n = neighbor("198.18.0.1");
  EXPECT_EQ(n["remoteAs"], 65001);
  EXPECT_EQ(n["bgpTimerHoldTimeMsecs"], 30000) << "the smaller hold time wins";
  const auto& caps = n["neighborCapabilities"];
  EXPECT_EQ(caps["4byteAs"], "advertisedAndReceived") << caps.dump(2);
  EXPECT_EQ(caps["hostName"]["rcvHostName"], "node-1") << caps.dump(2);
  EXPECT_NE(caps.dump().find("routeRefresh"), std::string::npos) << caps.dump(2);
  EXPECT_NE(ternd_log().find("OpenConfirm -> Established"), std::string::npos);

  // The same session through ternctl.
  ASSERT_TRUE(wait_until([&] { return ternctl_peer("198.18.0.2").value("state", "") == "Established"; }, 10s, 250ms))
      << ternctl_peers().dump(2);
  auto p = ternctl_peer("198.18.0.2");
  EXPECT_EQ(p["name"], "tor");
  EXPECT_EQ(p["remote_as"], 65002);
  EXPECT_EQ(p["established_count"], 1);
  EXPECT_EQ(p["last_error"], "");
  EXPECT_EQ(p["local_address"], "198.18.0.1");
  const auto& neg = p["negotiated"];
  EXPECT_EQ(neg["hold_time"], 30);
  EXPECT_EQ(neg["keepalive_time"], 10);
  EXPECT_EQ(neg["peer_router_id"], "198.18.0.2");
  EXPECT_EQ(neg["four_octet_as"], true);
  EXPECT_EQ(neg["route_refresh"], true);
  EXPECT_EQ(neg["families"], nlohmann::json::array({"ipv4-unicast"}));
  EXPECT_GE(std::stoi(p["messages_in"].get<std::string>()), 2) << "OPEN and KEEPALIVE at least";

  // And the readable table names the peer and its state.
  auto table = testing::run({TERNCTL, "peers", "--socket", dir_ / "ternd.sock"}, 10s);
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("tor 198.18.0.2"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("Established"), std::string::npos) << table.out;
}

TEST_F(FrrInterop, IbgpOverIpv6) {
  start_frr(
      "router bgp 65001\n bgp router-id 198.18.0.2\n neighbor 2001:db8::1 remote-as internal\n"
      " neighbor 2001:db8::1 timers connect 2\n address-family ipv6 unicast\n  neighbor 2001:db8::1 activate\n");
  start_ternd("node: {name: node-1, router_id: 198.18.0.1, as: 65001}\n"
              "peers:\n  - {address: \"2001:db8::2\", remote_as: internal}\n");
  expect_established("2001:db8::1");
  EXPECT_EQ(neighbor("2001:db8::1")["nbrInternalLink"], true);
}

TEST_F(FrrInterop, Md5PasswordOnBothSides) {
  start_frr(
      "router bgp 65002\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n"
      " neighbor 198.18.0.1 remote-as 65001\n neighbor 198.18.0.1 password s3cret-key\n"
      " neighbor 198.18.0.1 timers connect 2\n");
  std::ofstream(dir_ / "tor.key") << "s3cret-key\n";
  start_ternd("node: {name: node-1, router_id: 198.18.0.1, as: 65001}\n"
              "peers:\n  - {address: 198.18.0.2, remote_as: 65002, password_file: " + (dir_ / "tor.key").string() + "}\n");
  expect_established("198.18.0.1");
}

TEST_F(FrrInterop, WrongPasswordNeverComesUp) {
  start_frr(
      "router bgp 65002\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n"
      " neighbor 198.18.0.1 remote-as 65001\n neighbor 198.18.0.1 password right-key\n"
      " neighbor 198.18.0.1 timers connect 1\n");
  start_ternd("node: {name: node-1, router_id: 198.18.0.1, as: 65001}\n"
              "bgp: {connect_retry: 1}\n"
              "peers:\n  - {address: 198.18.0.2, remote_as: 65002, password: wrong-key}\n");
  // Both sides keep trying for a while; the kernel drops every segment with a bad signature.
  EXPECT_FALSE(wait_until([&] { return established("198.18.0.1"); }, 8s, 500ms));
  EXPECT_EQ(neighbor("198.18.0.1")["connectionsEstablished"], 0);
  EXPECT_EQ(ternd_log().find("Established"), std::string::npos) << ternd_log();
  EXPECT_NE(ternctl_peer("198.18.0.2").value("state", ""), "Established");
}

TEST_F(FrrInterop, WrongAsIsRefusedWithBadPeerAs) {
  start_frr(
      "router bgp 65002\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n"
      " neighbor 198.18.0.1 remote-as 65001\n neighbor 198.18.0.1 timers connect 1\n"
      "debug bgp neighbor-events\n");
  start_ternd("node: {name: node-1, router_id: 198.18.0.1, as: 65001}\n"
              "peers:\n  - {address: 198.18.0.2, remote_as: 65009}\n");
  // FRR reports the NOTIFICATION tern sent: OPEN Message Error / Bad Peer AS. (FRR takes
  // it on the connection tern opened, which it tracks apart from its configured neighbour,
  // so its log says it, not its neighbour JSON.)
  std::string reported = "received from neighbor 198.18.0.1 2/2 (OPEN Message Error/Bad Peer AS) 2 bytes fd ea";
  EXPECT_TRUE(wait_until([&] { return frr_->log().find(reported) != std::string::npos; }, 20s, 250ms)) << frr_->log();
  EXPECT_NE(ternd_log().find("peer AS 65002, expected 65009"), std::string::npos) << ternd_log();
  EXPECT_EQ(neighbor("198.18.0.1")["connectionsEstablished"], 0);
  // The operator sees why.
  EXPECT_TRUE(wait_until([&] {
    return ternctl_peer("198.18.0.2").value("last_error", "").find("Bad Peer AS") != std::string::npos;
  }, 10s, 250ms)) << ternctl_peers().dump(2);
}

TEST_F(FrrInterop, DynamicNeighbourFromListenRange) {
  // ternd as a route reflector would run: no configured peer, only a listen range with a
  // template (and its MD5 key); FRR connects and the session comes up.
  start_frr(
      "router bgp 65002\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n"
      " neighbor 198.18.0.1 remote-as 65001\n neighbor 198.18.0.1 password range-key\n"
      " neighbor 198.18.0.1 timers connect 1\n");
  start_ternd("node: {name: rr-1, router_id: 198.18.0.1, as: 65001}\n"
              "peer_templates:\n  nodes: {remote_as: external, password: range-key, hold_time: 9}\n"
              "dynamic_neighbors:\n  - {range: 198.18.0.0/30, template: nodes}\n");
  expect_established("198.18.0.1");
  ASSERT_TRUE(wait_until([&] { return ternctl_peer("198.18.0.2").value("state", "") == "Established"; }, 10s, 250ms))
      << ternctl_peers().dump(2);
  auto p = ternctl_peer("198.18.0.2");
  EXPECT_EQ(p["dynamic"], true);
  EXPECT_EQ(p["negotiated"]["peer_as"], 65002);
  EXPECT_EQ(p["negotiated"]["hold_time"], 9);
  EXPECT_NE(ternd_log().find("dynamic neighbour 198.18.0.2 accepted (listen range 198.18.0.0/30, template nodes)"),
            std::string::npos) << ternd_log();

  // FRR shuts the session down: the dynamic neighbour goes away with it.
  auto r = frr_->vtysh({"configure terminal", "router bgp 65002", "neighbor 198.18.0.1 shutdown"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(wait_until([&] { return ternctl_peers().value("peers", nlohmann::json::array()).empty(); }, 10s, 250ms))
      << ternctl_peers().dump(2);
  EXPECT_NE(ternd_log().find("dynamic neighbour 198.18.0.2 removed"), std::string::npos) << ternd_log();

  // And comes back when FRR does.
  r = frr_->vtysh({"configure terminal", "router bgp 65002", "no neighbor 198.18.0.1 shutdown"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_established("198.18.0.1");
}

TEST_F(FrrInterop, ReloadTouchesOnlyTheChangedPeers) {
  // Two sessions between the same two namespaces, on two address pairs.
  node_->ip("addr add 198.18.0.5/30 dev eth0");
  tor_->ip("addr add 198.18.0.6/30 dev eth0");
  start_frr(
      "router bgp 65002\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n"
      " neighbor 198.18.0.1 remote-as 65001\n neighbor 198.18.0.1 timers connect 1\n"
      " neighbor 198.18.0.5 remote-as 65001\n neighbor 198.18.0.5 timers connect 1\n"
      "debug bgp neighbor-events\n");
  const std::string node = "node: {name: node-1, router_id: 198.18.0.1, as: 65001}\nbgp: {connect_retry: 1}\n";
  const std::string peer_a = "  - {name: a, address: 198.18.0.2, remote_as: 65002}\n";
  start_ternd(node + "peers:\n" + peer_a);
  expect_established("198.18.0.1");
  auto reload = [&](const std::string& yaml) {
    std::ofstream(dir_ / "ternd.yaml") << yaml << "admin: {socket: " << (dir_ / "ternd.sock").string() << "}\n";
    ASSERT_EQ(kill(ternd_->pid(), SIGHUP), 0);
  };

  // A peer added: it comes up, and a's session is not reset.
  reload(node + "peers:\n" + peer_a + "  - {name: b, address: 198.18.0.6, remote_as: 65002}\n");
  expect_established("198.18.0.5");
  EXPECT_EQ(neighbor("198.18.0.1")["connectionsEstablished"], 1);
  EXPECT_TRUE(established("198.18.0.1"));

  // b's settings changed: b restarts with them (Cease/Other Configuration Change); a stays.
  reload(node + "peers:\n" + peer_a + "  - {name: b, address: 198.18.0.6, remote_as: 65002, hold_time: 30}\n");
  EXPECT_TRUE(wait_until([&] { return neighbor("198.18.0.5").value("connectionsEstablished", 0) == 2; }, 20s, 250ms))
      << neighbor("198.18.0.5").dump(2) << ternd_log();
  expect_established("198.18.0.5");
  EXPECT_EQ(neighbor("198.18.0.5")["bgpTimerHoldTimeMsecs"], 30000);
  // FRR read the NOTIFICATION: ternd opens the new session only once FRR has closed the
  // old connection (FRR, a graceful-restart helper, takes a new connection on an
  // Established session as the peer restarting and drops the old one unread).
  EXPECT_NE(ternd_log().find("peer b: sent 6/6 Cease / Other Configuration Change"), std::string::npos) << ternd_log();
  EXPECT_NE(ternd_log().find("peer b: the old connection is closed; the session starts again"), std::string::npos)
      << ternd_log();
  auto frr_log = frr_->log();
  auto notified = frr_log.find("received from neighbor 198.18.0.5 6/6");
  ASSERT_NE(notified, std::string::npos) << "FRR got no Cease/Other Configuration Change\n" << frr_log;
  auto first = frr_log.find("BGP connection from host 198.18.0.5");
  auto again = frr_log.find("BGP connection from host 198.18.0.5", first + 1);
  EXPECT_GT(again, notified) << "the new connection came before FRR read the NOTIFICATION\n" << frr_log;
  EXPECT_EQ(neighbor("198.18.0.1")["connectionsEstablished"], 1);

  // A file with a mistake changes nothing.
  reload(node + "peers:\n" + peer_a + "  - {name: b, address: 198.18.0.6, remote_as: 65002, hold_time: 2}\n");
  EXPECT_TRUE(wait_until([&] { return ternd_log().find("the running configuration stays") != std::string::npos; }, 10s,
                         100ms)) << ternd_log();
  EXPECT_TRUE(established("198.18.0.5"));
  EXPECT_EQ(neighbor("198.18.0.5")["connectionsEstablished"], 2);

  // a removed: FRR hears Cease/Peer De-configured and the session stays down; b stays.
  reload(node + "peers:\n  - {name: b, address: 198.18.0.6, remote_as: 65002, hold_time: 30}\n");
  EXPECT_TRUE(wait_until([&] { return !established("198.18.0.1"); }, 10s, 250ms)) << ternd_log();
  EXPECT_NE(frr_->log().find("6/3"), std::string::npos) << "FRR got Cease/Peer De-configured";
  EXPECT_FALSE(wait_until([&] { return established("198.18.0.1"); }, 3s, 250ms)) << "ternd no longer talks to a";
  EXPECT_EQ(neighbor("198.18.0.5")["connectionsEstablished"], 2);
  EXPECT_EQ(ternctl_peers()["peers"].size(), 1u) << ternctl_peers().dump(2);
}

TEST_F(FrrInterop, TerndPassiveFrrActive) {
  start_frr(
      "router bgp 65002\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n"
      " neighbor 198.18.0.1 remote-as 65001\n neighbor 198.18.0.1 timers connect 1\n");
  start_ternd("node: {name: node-1, router_id: 198.18.0.1, as: 65001}\n"
              "peers:\n  - {address: 198.18.0.2, remote_as: 65002, passive: true}\n");
  expect_established("198.18.0.1");
}

TEST_F(FrrInterop, FrrPassiveTerndActive) {
  start_frr(
      "router bgp 65002\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n"
      " neighbor 198.18.0.1 remote-as 65001\n neighbor 198.18.0.1 passive\n");
  start_ternd("node: {name: node-1, router_id: 198.18.0.1, as: 65001}\n"
              "peers:\n  - {address: 198.18.0.2, remote_as: 65002}\n");
  expect_established("198.18.0.1");
}

TEST_F(FrrInterop, SessionComesBackAfterFrrRestarts) {
  start_frr(
      "router bgp 65002\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n"
      " neighbor 198.18.0.1 remote-as 65001\n neighbor 198.18.0.1 timers connect 1\n");
  start_ternd("node: {name: node-1, router_id: 198.18.0.1, as: 65001}\n"
              "bgp: {connect_retry: 2}\n"
              "peers:\n  - {address: 198.18.0.2, remote_as: 65002}\n");
  expect_established("198.18.0.1");
  frr_->stop_daemon("bgpd");
  frr_->start_daemon("bgpd");
  expect_established("198.18.0.1", 40s);
  auto log = ternd_log();
  size_t ups = 0;
  for (size_t at = 0; (at = log.find("-> Established", at)) != std::string::npos; ++at) ++ups;
  EXPECT_EQ(ups, 2u) << log;
}

TEST_F(FrrInterop, HoldTimeThreeSecondsHoldsForAMinute) {
  start_frr(
      "router bgp 65002\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n"
      " neighbor 198.18.0.1 remote-as 65001\n neighbor 198.18.0.1 timers 1 3\n"
      " neighbor 198.18.0.1 timers connect 1\n");
  start_ternd("node: {name: node-1, router_id: 198.18.0.1, as: 65001}\n"
              "bgp: {hold_time: 3}\n"
              "peers:\n  - {address: 198.18.0.2, remote_as: 65002}\n");
  expect_established("198.18.0.1");
  EXPECT_EQ(neighbor("198.18.0.1")["bgpTimerHoldTimeMsecs"], 3000);
  // A minute of keepalives every second: the session must never drop.
  bool dropped = wait_until([&] { return !established("198.18.0.1"); }, 60s, 1s);
  EXPECT_FALSE(dropped) << neighbor("198.18.0.1").dump(2) << ternd_log();
  auto n = neighbor("198.18.0.1");
  EXPECT_EQ(n["connectionsEstablished"], 1);
  EXPECT_GE(n["messageStats"]["keepalivesRecv"].get<int>(), 50) << n.dump(2);
}

}  // namespace
}  // namespace tern
