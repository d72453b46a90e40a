// ternd's configuration through `ternd --check-config`, as an operator meets it: a valid
// file, and each kind of mistake named with its file, line, column and key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "controller/ternd/config.hpp"
#include "tests/support/process.hpp"

namespace tern::ternd {
namespace {

std::string write(const std::string& yaml) {
  static int n = 0;
  auto path = std::filesystem::temp_directory_path() /
              ("tern-config-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".yaml");
  std::ofstream(path) << yaml;
  return path;
}

const std::string kNode = "node:\n  name: node-1\n  router_id: 198.18.0.1\n  as: 65001\n";

TEST(Config, ValidFileWithEveryPeerOption) {
  auto path = write(kNode +
                    "bgp:\n  listen_port: 1179\n  hold_time: 30\n  connect_retry: 3\n"
                    "peers:\n"
                    "  - name: tor-a\n    address: 198.18.0.2\n    remote_as: 65002\n    password: s3cret\n"
                    "    source: 198.18.0.1\n    gtsm: true\n    hold_time: 9\n    delay_open: 5\n"
                    "  - address: 2001:db8::2\n    remote_as: internal\n    passive: true\n"
                    "    families: [ipv4-unicast, ipv6-unicast]\n"
                    "  - address: 198.18.9.9\n    remote_as: 64086.59904\n    multihop: 3\n"
                    "log_level: debug\n");
  auto c = load_config(path);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->asn, 65001u);
  EXPECT_EQ(c->listen_port, 1179);
  ASSERT_EQ(c->peers.size(), 3u);
  const auto& a = c->peers[0];
  EXPECT_EQ(a.name, "tor-a");
  EXPECT_EQ(a.password, "s3cret");
  EXPECT_TRUE(a.gtsm);
  EXPECT_EQ(a.ttl, 1);
  EXPECT_EQ(a.offer.hold_time, 9);
  EXPECT_EQ(a.timers.delay_open, std::chrono::seconds(5));
  EXPECT_EQ(a.timers.connect_retry, std::chrono::seconds(3));
  EXPECT_FALSE(a.expect.internal);
  const auto& b = c->peers[1];
  EXPECT_TRUE(b.expect.internal);
  EXPECT_EQ(b.expect.remote_as, 65001u);
  EXPECT_TRUE(b.timers.passive);
  EXPECT_EQ(b.ttl, 255) << "iBGP may be multihop";
  EXPECT_EQ(b.offer.families.size(), 2u);
  EXPECT_EQ(b.offer.hold_time, 30) << "the bgp section's default";
  EXPECT_EQ(c->peers[2].expect.remote_as, 4200000000u) << "asdot 64086.59904";
  EXPECT_EQ(c->peers[2].ttl, 3);
  std::filesystem::remove(path);
}

TEST(Config, TemplatesDynamicNeighboursAndAdminSocket) {
  auto path = write(kNode +
                    "bgp: {dynamic_neighbor_limit: 50}\n"
                    "peer_templates:\n"
                    "  nodes: {remote_as: internal, password: k3y, hold_time: 9}\n"
                    "peers:\n"
                    "  - {address: 198.18.0.2, template: nodes, hold_time: 30}\n"
                    "dynamic_neighbors:\n"
                    "  - {range: 198.18.4.0/22, template: nodes}\n"
                    "admin: {socket: /run/tern-test/ternd.sock}\n");
  auto c = load_config(path);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->peers.size(), 1u);
  EXPECT_EQ(c->peers[0].password, "k3y") << "from the template";
  EXPECT_TRUE(c->peers[0].expect.internal) << "from the template";
  EXPECT_EQ(c->peers[0].offer.hold_time, 30) << "the peer's own value wins";
  ASSERT_EQ(c->dynamic_neighbors.size(), 1u);
  const auto& d = c->dynamic_neighbors[0];
  EXPECT_EQ(d.range.to_string(), "198.18.4.0/22");
  EXPECT_EQ(d.template_name, "nodes");
  EXPECT_EQ(d.peer.offer.hold_time, 9);
  EXPECT_EQ(d.peer.password, "k3y");
  EXPECT_EQ(c->dynamic_neighbor_limit, 50u);
  EXPECT_EQ(c->admin_socket, "/run/tern-test/ternd.sock");
  EXPECT_EQ(c->http_listen, "127.0.0.1:9479") << "the default";
  EXPECT_EQ(c->peers[0].timers.delay_open, std::chrono::seconds(0)) << "DelayOpen off unless asked";
  std::filesystem::remove(path);
}

// Graceful restart is offered to every peer, for the families of its session, with the
// Restart Time of the bgp section; the R and F bits are the running node's to set.
TEST(Config, GracefulRestartOffer) {
  auto path = write(kNode + "bgp: {graceful_restart: 90}\npeers:\n"
                            "  - {address: 198.18.0.2, remote_as: 1, families: [ipv4-unicast, ipv6-unicast]}\n");
  auto c = load_config(path);
  ASSERT_TRUE(c) << c.error().message;
  const auto& gr = c->peers[0].offer.graceful_restart;
  ASSERT_TRUE(gr);
  EXPECT_EQ(gr->restart_time, 90);
  EXPECT_FALSE(gr->restarting);
  ASSERT_EQ(gr->families.size(), 2u);
  EXPECT_EQ(gr->families[1].family, bgp::wire::kIpv6Unicast);
  EXPECT_FALSE(gr->families[0].forwarding_preserved);
  std::filesystem::remove(path);

  path = write(kNode + "bgp: {graceful_restart: 0}\npeers:\n  - {address: 198.18.0.2, remote_as: 1}\n");
  c = load_config(path);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE(c->peers[0].offer.graceful_restart) << "0: not offered";
  std::filesystem::remove(path);

  path = write(kNode + "peers:\n  - {address: 198.18.0.2, remote_as: 1}\n");
  c = load_config(path);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->peers[0].offer.graceful_restart.value_or(bgp::wire::GracefulRestart{}).restart_time, 120) << "default";
  std::filesystem::remove(path);
}

TEST(Config, AsPlainAndAsDot) {
  EXPECT_EQ(*parse_asn("4200000000"), 4200000000u);
  EXPECT_EQ(*parse_asn("1.10"), 65546u);
  for (auto bad : {"0", "4294967296", "1.65536", "65536.1", "a", "", "1.", ".1", "-5"}) {
    EXPECT_FALSE(parse_asn(bad)) << bad;
  }
}

struct Mistake {
  const char* name;
  std::string yaml;
  std::string expected;  // in the message, after the file name
};

class Mistakes : public ::testing::TestWithParam<Mistake> {};

TEST_P(Mistakes, NameLineAndKey) {
  auto path = write(GetParam().yaml);
  auto r = testing::run({TERND, "--check-config", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(path + ":" + GetParam().expected), std::string::npos) << r.err;
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(
    Ternd, Mistakes,
    ::testing::Values(
        Mistake{"UnknownTopLevelKey", kNode + "peerz: []\n", "5:1: peerz: unknown key"},
        Mistake{"UnknownPeerKey", kNode + "peers:\n  - address: 198.18.0.2\n    remote_as: 65002\n    pasword: x\n",
                "8:5: peers[0].pasword: unknown key"},
        Mistake{"BadAddress", kNode + "peers:\n  - address: 198.18.0.300\n    remote_as: 65002\n",
                "6:14: peers[0].address: not an IP address: '198.18.0.300'"},
        Mistake{"AsOutOfRange", "node:\n  name: n\n  router_id: 198.18.0.1\n  as: 4294967296\n",
                "4:7: node.as: '4294967296' is not an AS number"},
        Mistake{"RouterIdNotIpv4", "node:\n  name: n\n  router_id: 2001:db8::1\n  as: 1\n",
                "3:14: node.router_id: must be a non-zero IPv4 address"},
        Mistake{"HoldTimeTwo", kNode + "bgp:\n  hold_time: 2\n", "6:14: bgp.hold_time: must be 0 or at least 3"},
        Mistake{"RestartTimeOver12Bits", kNode + "bgp:\n  graceful_restart: 4096\n",
                "6:21: bgp.graceful_restart: 4096 is out of range"},
        Mistake{"PortOutOfRange", kNode + "bgp:\n  listen_port: 70000\n", "6:16: bgp.listen_port: 70000 is out of range"},
        Mistake{"MissingRemoteAs", kNode + "peers:\n  - address: 198.18.0.2\n", "6:5: peers[0].remote_as: required"},
        Mistake{"DuplicatePeer",
                kNode + "peers:\n  - {address: 198.18.0.2, remote_as: 1}\n  - {address: 198.18.0.2, remote_as: 2}\n",
                "7:15: peers[1].address: 198.18.0.2 is already peer"},
        Mistake{"UnknownFamily", kNode + "peers:\n  - {address: 198.18.0.2, remote_as: 1, families: [l2vpn-evpn]}\n",
                "6:52: peers[0].families: unknown family 'l2vpn-evpn'"},
        Mistake{"NotABoolean", kNode + "peers:\n  - {address: 198.18.0.2, remote_as: 1, passive: yes}\n",
                "6:50: peers[0].passive: must be true or false"},
        Mistake{"MissingNode", "peers: []\n", "1:1: node: required"},
        Mistake{"UnknownTemplate", kNode + "peers:\n  - {address: 198.18.0.2, template: nodez}\n",
                "6:37: peers[0].template: no peer template named 'nodez'"},
        Mistake{"BadValueInTemplate",
                kNode + "peer_templates:\n  t: {remote_as: 1, hold_time: 2}\npeers:\n  - {address: 198.18.0.2, template: t}\n",
                "6:32: peer_templates.t.hold_time: must be 0 or at least 3"},
        Mistake{"AddressInTemplate", kNode + "peer_templates:\n  t: {remote_as: 1, address: 198.18.0.2}\n",
                "6:21: peer_templates.t.address: unknown key"},
        Mistake{"BadRange", kNode + "peer_templates:\n  t: {remote_as: 1}\ndynamic_neighbors:\n  - {range: 198.18.0.0/33, template: t}\n",
                "8:13: dynamic_neighbors[0].range: bad prefix length"},
        Mistake{"BadHttpListen", kNode + "http: {listen: \"localhost:9479\"}\n",
                "5:16: http.listen: 'localhost:9479': 'localhost' is not an IP address"},
        Mistake{"RequiredNotBoolean", kNode + "peers:\n  - {address: 198.18.0.2, remote_as: 1, required: 1}\n",
                "6:51: peers[0].required: must be true or false"},
        Mistake{"RelativeAdminSocket", kNode + "admin: {socket: ternd.sock}\n",
                "5:17: admin.socket: must be an absolute path"},
        Mistake{"YamlSyntax", kNode + "peers: [\n", "6:1: end of sequence flow not found"}),
    [](const auto& info) { return std::string(info.param.name); });

// The configuration the README documents key by key stays a valid one.
TEST(Config, TheReadmeExampleIsValid) {
  std::ifstream in(std::string(TERN_SOURCE_DIR) + "/README.md");
  std::string line, yaml;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line == "```yaml") {
      inside = true;
    } else if (inside && line == "```") {
      break;
    } else if (inside) {
      // The key files it names are not on this machine: inline passwords instead.
      if (auto at = line.find("password_file:"); at != std::string::npos) {
        auto end = line.find_first_of(",}#", at);
        line = line.substr(0, at) + "password: x" + (end == std::string::npos ? "" : " " + line.substr(end));
      }
      yaml += line + "\n";
    }
  }
  ASSERT_FALSE(yaml.empty()) << "no ```yaml block in the README";
  auto path = write(yaml);
  auto c = load_config(path);
  EXPECT_TRUE(c) << c.error().message << "\n" << yaml;
  std::filesystem::remove(path);
}

TEST(Config, MissingFile) {
  auto r = testing::run({TERND, "--check-config", "/nonexistent/ternd.yaml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent/ternd.yaml: cannot read the file"), std::string::npos) << r.err;
}

TEST(Config, CheckConfigSaysValid) {
  auto path = write(kNode + "peers:\n  - {address: 198.18.0.2, remote_as: 65002}\n");
  auto r = testing::run({TERND, "--check-config", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("valid (1 peers, 0 dynamic neighbour ranges)"), std::string::npos) << r.out;
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace tern::ternd
