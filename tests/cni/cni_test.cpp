// The CNI plugins against the real kernel, called exactly as a runtime calls them: a node
// namespace running ternd (the IPAM server), Pod namespaces, the configuration on stdin
// and the CNI_* environment.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "tests/support/cni.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/ternd.hpp"

namespace tern::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kBlock4 = "198.18.20.0/24";
constexpr const char* kBlock6 = "2001:db8:20::/64";

// A node namespace with ternd serving IPAM from its blocks (no BGP peers: ready at once),
// and the node's own addresses on its loopback for Pods to ping.
class CniTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TERN_REQUIRE_ROOT();
    node_ = std::make_unique<Netns>("cnode");
    node_->ip("addr add 198.18.0.1/32 dev lo");
    node_->ip("addr add 2001:db8:ff::1/128 dev lo");
    state_ = fs::temp_directory_path() / (node_->name() + "-state");
    fs::create_directories(state_);
    ternd_ = std::make_unique<Ternd>(*node_, ternd_yaml());
    ASSERT_TRUE(wait_until([&] { return ternd_->ternctl({"status"}).exit_code == 0; }, 10s)) << ternd_->log();
  }
  void TearDown() override {
    ternd_.reset();
    pods_.clear();
    node_.reset();
    fs::remove_all(state_);
  }

  std::string ternd_yaml(const std::string& extra = "", const std::string& http = "\"\"") const {
    return std::string("node: {name: cnode, router_id: 198.18.0.1, as: 65001, blocks: [") + kBlock4 + ", \"" + kBlock6 +
           "\"]}\npools: [198.18.0.0/15, \"2001:db8::/32\"]\nhttp: {listen: " + http + "}\nipam: {state_dir: " +
           (state_ / "ipam").string() + ", spool_dir: " + (state_ / "spool").string() + "}\n" + extra;
  }

  json config(const std::string& version = "1.1.0") const {
    return json{{"cniVersion", version},
                {"name", "tern"},
                {"type", "tern"},
                {"socket", ternd_->socket()},
                {"ipam", {{"type", "tern-ipam"}, {"socket", ternd_->socket()}, {"spoolDir", (state_ / "spool").string()}}}};
  }

  const Netns& pod(const std::string& tag) {
    auto& p = pods_[tag];
    if (!p) p = std::make_unique<Netns>(tag);
    return *p;
  }

  CniReply call(const std::string& command, const std::string& tag, const json& conf, const std::string& ifname = "eth0") {
    // As containerd and CRI-O pass them.
    return cni(*node_, {command, "ctr-" + tag, pod(tag).path(), ifname, "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=" + tag}, conf);
  }

  // The Pod's address of a family from an ADD result.
  static std::string address(const json& result, int family) {
    for (const auto& ip : result.value("ips", json::array())) {
      auto a = ip["address"].get<std::string>();
      if ((a.find(':') == std::string::npos) == (family == 4)) return a.substr(0, a.find('/'));
    }
    return "";
  }

  json allocations() const { return ternd_->ternctl_json({"ipam"}).value("allocations", json::array()); }

  std::string links() const { return node_->sh("ip -o link show type veth").out; }
  // The Pods' host routes (ternd's blackholes for its blocks share the protocol).
  std::string host_routes() const { return node_->sh("(ip route show proto 77; ip -6 route show proto 77) | grep -v blackhole").out; }

  std::unique_ptr<Netns> node_;
  std::map<std::string, std::unique_ptr<Netns>> pods_;
  fs::path state_;
  std::unique_ptr<Ternd> ternd_;
};

TEST_F(CniTest, TwoPodsReachEachOtherAndTheNodeOnBothFamilies) {
  auto a = call("ADD", "pa", config());
  ASSERT_EQ(a.exit_code, 0) << a.raw << a.err;
  auto b = call("ADD", "pb", config());
  ASSERT_EQ(b.exit_code, 0) << b.raw << b.err;
  std::string a4 = address(a.out, 4), b4 = address(b.out, 4), a6 = address(a.out, 6), b6 = address(b.out, 6);
  EXPECT_EQ(a4, "198.18.20.1") << "the network address is never handed out";
  EXPECT_EQ(b4, "198.18.20.2");
  EXPECT_EQ(a6, "2001:db8:20::1");

  // The result as the spec shapes it: the host end, then the Pod's interface in its
  // sandbox; each address a host prefix on interface 1 via the link-local gateway.
  ASSERT_EQ(a.out["interfaces"].size(), 2u);
  EXPECT_EQ(a.out["interfaces"][1]["name"], "eth0");
  EXPECT_EQ(a.out["interfaces"][1]["sandbox"], pod("pa").path());
  EXPECT_LE(a.out["interfaces"][0]["name"].get<std::string>().size(), 15u);
  EXPECT_EQ(a.out["ips"][0]["address"], "198.18.20.1/32");
  EXPECT_EQ(a.out["ips"][0]["gateway"], "169.254.1.1");
  EXPECT_EQ(a.out["ips"][0]["interface"], 1);
  EXPECT_EQ(a.out["ips"][1]["address"], "2001:db8:20::1/128");
  EXPECT_EQ(a.out["ips"][1]["gateway"], "fe80::1");

  // Inside the Pod: the addresses, and default routes via the link-local gateways.
  auto routes = pod("pa").sh("ip route; ip -6 route").out;
  EXPECT_NE(routes.find("default via 169.254.1.1 dev eth0"), std::string::npos) << routes;
  EXPECT_NE(routes.find("default via fe80::1 dev eth0"), std::string::npos) << routes;
  // On the node: a host route per address to the Pod's veth, with tern's protocol.
  auto host = host_routes();
  EXPECT_NE(host.find("198.18.20.1 dev " + a.out["interfaces"][0]["name"].get<std::string>() + " scope link"),
            std::string::npos)
      << host;
  EXPECT_NE(host.find("2001:db8:20::2 dev " + b.out["interfaces"][0]["name"].get<std::string>()), std::string::npos) << host;

  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"pa", b4}, {"pb", a4}, {"pa", "198.18.0.1"}, {"pa", b6}, {"pb", a6}, {"pa", "2001:db8:ff::1"}}) {
    auto ping = pod(from).sh("ping -c 1 -W 2 " + to);
    EXPECT_EQ(ping.exit_code, 0) << from << " -> " << to << ": " << ping.out << ping.err;
  }

  // The allocation is recorded with the Pod's name from CNI_ARGS.
  auto held = allocations();
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0]["pod_name"], "pa");
  EXPECT_EQ(held[0]["pod_namespace"], "default");
}

TEST_F(CniTest, CheckAfterAddThenDelTwiceLeavesNothing) {
  auto conf = config();
  auto add = call("ADD", "pc", conf);
  ASSERT_EQ(add.exit_code, 0) << add.raw;
  auto with_prev = conf;
  with_prev["prevResult"] = add.out;
  auto check = call("CHECK", "pc", with_prev);
  EXPECT_EQ(check.exit_code, 0) << check.raw;
  EXPECT_TRUE(check.out.is_null()) << "CHECK prints nothing on success";

  // CHECK notices what went missing: the Pod's address removed behind the plugin's back.
  pod("pc").ip("addr del " + address(add.out, 4) + "/32 dev eth0");
  auto broken = call("CHECK", "pc", with_prev);
  EXPECT_NE(broken.exit_code, 0);
  EXPECT_NE(broken.out.value("msg", "").find(address(add.out, 4)), std::string::npos) << broken.raw;

  for (int i = 0; i < 2; ++i) {
    auto del = call("DEL", "pc", with_prev);
    EXPECT_EQ(del.exit_code, 0) << "DEL #" << i + 1 << ": " << del.raw;
  }
  // ternd deletes the veth for the DEL, after answering it: gone a moment later.
  EXPECT_TRUE(wait_until([&] { return links().empty(); }, 5s)) << links();
  EXPECT_EQ(host_routes(), "") << "the host routes went with the veth";
  EXPECT_TRUE(allocations().empty());
}

// containerd's second DEL (RemovePodSandbox) has no namespace and no prevResult: the
// address is released by container ID alone.
TEST_F(CniTest, DelWithoutNamespaceReleasesByContainerId) {
  ASSERT_EQ(call("ADD", "pd", config()).exit_code, 0);
  pods_.erase("pd");  // the runtime removed the namespace (and the veth with it)
  auto del = cni(*node_, {"DEL", "ctr-pd", "", "eth0", ""}, config());
  EXPECT_EQ(del.exit_code, 0) << del.raw;
  EXPECT_TRUE(allocations().empty());
  // The pair goes after the DEL: ternd's reaper or the kernel's namespace cleanup.
  EXPECT_TRUE(wait_until([&] { return links().empty(); }, 10s)) << links();
}

class CniVersionTest : public CniTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(CniVersionTest, ResultComesInTheRequestedVersion) {
  std::string version = GetParam();
  auto add = call("ADD", "pv", config(version));
  ASSERT_EQ(add.exit_code, 0) << add.raw;
  EXPECT_EQ(add.out["cniVersion"], version);
  bool old = version < std::string("1.0.0");
  for (const auto& ip : add.out["ips"]) {
    EXPECT_EQ(ip.contains("version"), old) << "0.3.x and 0.4.0 name each IP's version; 1.x does not: " << ip;
  }
  EXPECT_EQ(add.out["interfaces"][1].contains("mtu"), version == "1.1.0");
  auto conf = config(version);
  conf["prevResult"] = add.out;
  auto check = call("CHECK", "pv", conf);
  if (version == "0.3.0" || version == "0.3.1") {
    EXPECT_EQ(check.out.value("code", 0), 1) << "no CHECK before 0.4.0: " << check.raw;
  } else {
    EXPECT_EQ(check.exit_code, 0) << check.raw;
  }
  EXPECT_EQ(call("DEL", "pv", conf).exit_code, 0);
  EXPECT_TRUE(allocations().empty());
}

INSTANTIATE_TEST_SUITE_P(EveryVersion, CniVersionTest, ::testing::Values("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"));

TEST_F(CniTest, VersionListsEverySupportedVersion) {
  auto v = cni(*node_, {"VERSION", "", "", "", ""}, json{{"cniVersion", "1.1.0"}});
  ASSERT_EQ(v.exit_code, 0) << v.raw;
  EXPECT_EQ(v.out["supportedVersions"], json({"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}));
  auto ipam = cni(*node_, {"VERSION", "", "", "", ""}, json{{"cniVersion", "0.4.0"}, {"type", "tern-ipam"}});
  EXPECT_EQ(ipam.out["supportedVersions"].size(), 5u) << ipam.raw;
}

// Every malformed input gets the spec's error object with its code, on stdout, and a
// non-zero exit; nothing is left behind.
TEST_F(CniTest, MalformedInputGetsItsSpecErrorCode) {
  struct Case {
    const char* what;
    int code;
    std::function<void(json&, CniCall&)> spoil;
    std::string raw_stdin = "";
  };
  std::vector<Case> cases{
      {"not JSON", 6, [](json&, CniCall&) {}, "{\"cniVersion\": "},
      {"not an object", 6, [](json&, CniCall&) {}, "[1, 2]"},
      {"no cniVersion", 7, [](json& c, CniCall&) { c.erase("cniVersion"); }},
      {"cniVersion a number", 7, [](json& c, CniCall&) { c["cniVersion"] = 1; }},
      {"unsupported cniVersion", 1, [](json& c, CniCall&) { c["cniVersion"] = "0.2.0"; }},
      {"no name", 7, [](json& c, CniCall&) { c.erase("name"); }},
      {"mtu not a number", 7, [](json& c, CniCall&) { c["mtu"] = "jumbo"; }},
      {"mtu below IPv6's minimum", 7, [](json& c, CniCall&) { c["mtu"] = 576; }},
      {"ipMasq", 2, [](json& c, CniCall&) { c["ipMasq"] = true; }},
      {"ipam not an object", 7, [](json& c, CniCall&) { c["ipam"] = "tern-ipam"; }},
      {"tern-ipam given ranges", 2, [](json& c, CniCall&) { c["ipam"]["ranges"] = json::array(); }},
      {"tern-ipam families wrong", 7, [](json& c, CniCall&) { c["ipam"]["families"] = {"ipv5"}; }},
      {"ipam plugin missing", 5, [](json& c, CniCall&) { c["ipam"]["type"] = "no-such-ipam"; }},
      {"no CNI_COMMAND", 4, [](json&, CniCall& k) { k.command = ""; }},
      {"unknown CNI_COMMAND", 4, [](json&, CniCall& k) { k.command = "ATTACH"; }},
      {"no CNI_CONTAINERID", 4, [](json&, CniCall& k) { k.container_id = ""; }},
      {"CNI_CONTAINERID with a slash", 4, [](json&, CniCall& k) { k.container_id = "a/b"; }},
      {"CNI_IFNAME too long", 4, [](json&, CniCall& k) { k.ifname = "eth0123456789abc"; }},
      {"CNI_IFNAME with a colon", 4, [](json&, CniCall& k) { k.ifname = "eth0:1"; }},
      {"no CNI_NETNS on ADD", 4, [](json&, CniCall& k) { k.netns = ""; }},
      {"CNI_ARGS not KEY=VALUE", 4, [](json&, CniCall& k) { k.args = "K8S_POD_NAME"; }},
      {"CNI_NETNS that does not exist", 3, [](json&, CniCall& k) { k.netns = "/var/run/netns/tern-absent"; }},
      {"CNI_NETNS that is no namespace", 3, [](json&, CniCall& k) { k.netns = "/etc/hostname"; }},
      {"CHECK without prevResult", 7, [](json&, CniCall& k) { k.command = "CHECK"; }},
      {"STATUS at 1.0.0", 1, [](json& c, CniCall& k) { c["cniVersion"] = "1.0.0", k.command = "STATUS"; }},
      {"GC at 0.4.0", 1, [](json& c, CniCall& k) { c["cniVersion"] = "0.4.0", k.command = "GC"; }},
  };
  const Netns& p = pod("pm");
  for (const auto& c : cases) {
    json conf = config();
    CniCall call_args{"ADD", "ctr-pm", p.path(), "eth0", ""};
    c.spoil(conf, call_args);
    std::string binary = std::string(cni_bin_dir()) + "/tern";
    std::vector<std::string> env{"CNI_COMMAND=" + call_args.command, "CNI_CONTAINERID=" + call_args.container_id,
                                 "CNI_NETNS=" + call_args.netns, "CNI_IFNAME=" + call_args.ifname,
                                 "CNI_ARGS=" + call_args.args, std::string("CNI_PATH=") + cni_bin_dir()};
    auto r = run({"ip", "netns", "exec", node_->name(), binary}, 30s, c.raw_stdin.empty() ? conf.dump() : c.raw_stdin, env);
    EXPECT_NE(r.exit_code, 0) << c.what;
    json out;
    ASSERT_NO_THROW(out = json::parse(r.out)) << c.what << ": stdout is not an error object: " << r.out;
    EXPECT_EQ(out.value("code", 0), c.code) << c.what << ": " << r.out;
    EXPECT_FALSE(out.value("msg", "").empty()) << c.what;
    EXPECT_TRUE(out.contains("cniVersion")) << c.what;
  }
  EXPECT_EQ(links(), "") << "a failed ADD leaves no veth";
  EXPECT_TRUE(allocations().empty()) << "a failed ADD gives its address back";
}

TEST_F(CniTest, AddFailsWithTryAgainLaterWhileTerndIsDown) {
  ternd_->stop();
  auto add = call("ADD", "pe", config());
  EXPECT_NE(add.exit_code, 0);
  EXPECT_EQ(add.out.value("code", 0), 11) << add.raw;
  EXPECT_EQ(links(), "");
  auto status = call("STATUS", "pe", config());
  EXPECT_EQ(status.out.value("code", 0), 50) << "STATUS: not available while ternd is down: " << status.raw;
}

// A DEL while ternd is down succeeds and leaves its release in the spool; ternd applies
// it when it starts, so the address does not leak.
TEST_F(CniTest, DelWhileTerndIsDownIsAppliedAtStart) {
  ASSERT_EQ(call("ADD", "pf", config()).exit_code, 0);
  ASSERT_EQ(call("ADD", "pg", config()).exit_code, 0);
  ternd_->stop();
  auto del = call("DEL", "pf", config());
  EXPECT_EQ(del.exit_code, 0) << del.raw;
  auto veths = links();
  EXPECT_EQ(std::count(veths.begin(), veths.end(), '\n'), 1) << "with ternd down the DEL deleted the veth itself: " << veths;
  EXPECT_EQ(std::distance(fs::directory_iterator(state_ / "spool"), fs::directory_iterator()), 1);
  ternd_->start();
  ASSERT_TRUE(wait_until([&] { return ternd_->ternctl({"status"}).exit_code == 0; }, 10s)) << ternd_->log();
  auto held = allocations();
  ASSERT_EQ(held.size(), 1u) << held;
  EXPECT_EQ(held[0]["attachment"]["container_id"], "ctr-pg");
  EXPECT_EQ(ternd_->ternctl_json({"ipam"})["spooled_releases"], "1") << "uint64 is a string in protobuf's JSON";
  EXPECT_TRUE(fs::is_empty(state_ / "spool"));
}

// ternd's /metrics counts the calls tern handed it (and those it left to tern-standalone:
// another IPAM's), what tern-ipam asked, and how long the answers took.
TEST_F(CniTest, CallsAndIpamRequestsShowInTheMetrics) {
  ternd_->reload(ternd_yaml("", "127.0.0.1:9479"));  // the listening address changes on a restart
  ternd_->stop();
  ternd_->start();
  ASSERT_TRUE(wait_until([&] { return node_->sh("curl -sf http://127.0.0.1:9479/metrics").exit_code == 0; }, 10s))
      << ternd_->log();
  ASSERT_EQ(call("ADD", "pn", config()).exit_code, 0);
  ASSERT_EQ(call("DEL", "pn", config()).exit_code, 0);
  auto metrics = node_->sh("curl -sf http://127.0.0.1:9479/metrics").out;
  EXPECT_NE(metrics.find("tern_cni_ipam_request_duration_seconds_count{request=\"allocate\"} 1\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("tern_cni_ipam_request_duration_seconds_count{request=\"release\"} 1\n"), std::string::npos);
  EXPECT_NE(metrics.find("tern_ipam_requests_total{result=\"allocated\"} 1\n"), std::string::npos);
  EXPECT_NE(metrics.find("tern_ipam_block_used{block=\"198.18.20.0/24\"} 0\n"), std::string::npos);
  EXPECT_NE(metrics.find("tern_cni_calls_total{command=\"ADD\",result=\"succeeded\"} 1\n"), std::string::npos)
      << "ternd ran the ADD that tern handed it";
  EXPECT_NE(metrics.find("tern_cni_calls_total{command=\"DEL\",result=\"succeeded\"} 1\n"), std::string::npos);
  EXPECT_NE(metrics.find("tern_cni_calls_declined_total 0\n"), std::string::npos);

  auto host_local = config("1.0.0");
  host_local["ipam"] = {{"type", "host-local"},
                        {"dataDir", (state_ / "host-local").string()},
                        {"ranges", json::array({json::array({{{"subnet", "198.18.21.0/24"}}})})}};
  ASSERT_EQ(call("ADD", "pn", host_local).exit_code, 0);
  ASSERT_EQ(call("DEL", "pn", host_local).exit_code, 0);
  metrics = node_->sh("curl -sf http://127.0.0.1:9479/metrics").out;
  EXPECT_NE(metrics.find("tern_cni_calls_declined_total 2\n"), std::string::npos)
      << "host-local's calls run in tern-standalone: " << metrics;
  EXPECT_NE(metrics.find("tern_cni_calls_total{command=\"ADD\",result=\"succeeded\"} 1\n"), std::string::npos);
}

TEST_F(CniTest, StatusFollowsTheNodesReadiness) {
  auto ready = call("STATUS", "ps", config());
  EXPECT_EQ(ready.exit_code, 0) << ready.raw;
  // A required peer that is not up: the node's Pods may not reach the rest of the cluster.
  ternd_->reload(ternd_yaml("peers: [{address: 198.18.0.99, remote_as: 65002, required: true, passive: true}]\n"));
  ASSERT_TRUE(wait_until([&] { return ternd_->ternctl({"status"}).exit_code != 0; }, 10s)) << ternd_->log();
  auto limited = call("STATUS", "ps", config());
  EXPECT_EQ(limited.out.value("code", 0), 51) << limited.raw;
  EXPECT_NE(limited.out.value("details", "").find("198.18.0.99"), std::string::npos) << limited.raw;
}

// GC releases the addresses of attachments the runtime no longer lists and removes their
// veths; the listed ones stay untouched.
TEST_F(CniTest, GcReleasesWhatTheRuntimeNoLongerLists) {
  auto keep = call("ADD", "pk", config());
  ASSERT_EQ(keep.exit_code, 0);
  ASSERT_EQ(call("ADD", "pl", config()).exit_code, 0);
  auto conf = config();
  conf["cni.dev/valid-attachments"] = json::array({{{"containerID", "ctr-pk"}, {"ifname", "eth0"}}});
  auto gc = cni(*node_, {"GC", "", "", "", ""}, conf);
  EXPECT_EQ(gc.exit_code, 0) << gc.raw;
  auto held = allocations();
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0]["attachment"]["container_id"], "ctr-pk");
  auto veths = links();
  EXPECT_NE(veths.find(keep.out["interfaces"][0]["name"].get<std::string>()), std::string::npos);
  EXPECT_EQ(std::count(veths.begin(), veths.end(), '\n'), 1) << veths;
  EXPECT_EQ(pod("pk").sh("ping -c 1 -W 2 198.18.0.1").exit_code, 0) << "the kept Pod still works";
}

TEST_F(CniTest, WorksWithTheReferenceHostLocalIpam) {
  auto conf = config("1.0.0");
  conf["ipam"] = {{"type", "host-local"},
                  {"dataDir", (state_ / "host-local").string()},
                  {"ranges", json::array({json::array({{{"subnet", "198.18.21.0/24"}}})})}};
  auto a = call("ADD", "ph", conf);
  ASSERT_EQ(a.exit_code, 0) << a.raw << a.err;
  auto b = call("ADD", "pi", conf);
  ASSERT_EQ(b.exit_code, 0) << b.raw;
  EXPECT_EQ(a.out["ips"][0]["address"], address(a.out, 4) + "/32") << "tern routes a host prefix whatever the IPAM's";
  EXPECT_EQ(pod("ph").sh("ping -c 1 -W 2 " + address(b.out, 4)).exit_code, 0);
  EXPECT_EQ(call("DEL", "ph", conf).exit_code, 0);
  EXPECT_EQ(call("DEL", "pi", conf).exit_code, 0);
  EXPECT_TRUE(wait_until([&] { return links().empty(); }, 5s)) << links();
}

// 500 ADD/DEL cycles: no address, veth or route stays behind, and round-robin walks on
// instead of handing the released address straight back.
TEST_F(CniTest, FiveHundredCyclesLeaveNothingBehind) {
  std::set<std::string> seen;
  auto conf = config();
  conf["ipam"]["families"] = {"ipv4"};
  for (int i = 0; i < 500; ++i) {
    auto add = call("ADD", "pr", conf);
    ASSERT_EQ(add.exit_code, 0) << "cycle " << i << ": " << add.raw;
    seen.insert(address(add.out, 4));
    auto del = call("DEL", "pr", conf);
    ASSERT_EQ(del.exit_code, 0) << "cycle " << i << ": " << del.raw;
  }
  EXPECT_EQ(seen.size(), 254u) << "every address of the /24 used once before any comes back";
  EXPECT_TRUE(wait_until([&] { return links().empty(); }, 5s)) << links();
  EXPECT_EQ(host_routes(), "");
  EXPECT_TRUE(allocations().empty());
  EXPECT_EQ(pod("pr").sh("ip -o addr show dev eth0 2>&1; ip -o link show type veth").out.find("inet "), std::string::npos);
}

// DEL frees CNI_IFNAME in the Pod's namespace before it returns (ternd tears the veth pair
// down afterwards), so an ADD that follows into the same namespace finds the name free.
TEST_F(CniTest, DelFreesThePodsInterfaceNameAtOnce) {
  ASSERT_EQ(call("ADD", "pt", config()).exit_code, 0);
  ASSERT_EQ(call("DEL", "pt", config()).exit_code, 0);
  EXPECT_NE(pod("pt").sh("ip link show eth0 2>&1").exit_code, 0) << "eth0 still in the Pod's namespace after DEL";
  auto again = cni(*node_, {"ADD", "ctr-pt2", pod("pt").path(), "eth0", ""}, config());
  ASSERT_EQ(again.exit_code, 0) << again.raw;
  ASSERT_EQ(cni(*node_, {"DEL", "ctr-pt2", pod("pt").path(), "eth0", ""}, config()).exit_code, 0);
  EXPECT_TRUE(wait_until([&] { return links().empty(); }, 10s)) << "ternd left " << links();
}

// An ADD that finds its host end left by an earlier, half-made one (the runtime retries
// without a DEL) makes the pair again; one whose CNI_IFNAME is taken in the Pod fails with
// code 4 and leaves nothing behind.
TEST_F(CniTest, AddReplacesAStaleHostEndAndRefusesATakenInterfaceName) {
  auto first = call("ADD", "ps", config());
  ASSERT_EQ(first.exit_code, 0) << first.raw;
  std::string host = first.out["interfaces"][0]["name"];
  ASSERT_EQ(allocations().size(), 1u);
  EXPECT_EQ(allocations()[0].value("host_interface", ""), host) << "ternctl ipam names the veth's host end";
  // The Pod's end renamed: CNI_IFNAME is free in the Pod, the host end is still there.
  pod("ps").ip("link set eth0 down");
  pod("ps").ip("link set eth0 name old0");
  auto again = call("ADD", "ps", config());
  ASSERT_EQ(again.exit_code, 0) << again.raw;
  EXPECT_EQ(again.out["interfaces"][0]["name"], host);
  EXPECT_NE(pod("ps").sh("ip -o link show").out.find(": eth0@"), std::string::npos);
  EXPECT_NE(pod("ps").sh("ip link show old0 2>&1").exit_code, 0) << "the stale pair's Pod end is still there";
  EXPECT_EQ(pod("ps").sh("ping -c 1 -W 2 198.18.0.1").exit_code, 0);
  ASSERT_EQ(call("DEL", "ps", config()).exit_code, 0);

  pod("pu").ip("link add eth0 type veth peer name other0");
  auto taken = call("ADD", "pu", config());
  EXPECT_NE(taken.exit_code, 0);
  EXPECT_EQ(taken.out.value("code", 0), 4) << taken.raw;
  EXPECT_NE(taken.out.value("msg", "").find("eth0"), std::string::npos) << taken.raw;
  EXPECT_TRUE(wait_until([&] { return links().empty(); }, 10s)) << "left behind: " << links();
  EXPECT_TRUE(allocations().empty()) << allocations().dump();
  EXPECT_EQ(host_routes(), "");
}

// With no socket of its own, tern uses tern-ipam's (one setting for both).
TEST_F(CniTest, TernTakesTheIpamSocketWhenGivenNone) {
  auto conf = config();
  conf.erase("socket");
  auto status = call("STATUS", "pw", conf);
  EXPECT_EQ(status.exit_code, 0) << status.raw;
}

// A full block is tern's own code 100, and the message names the block and what frees an
// address; the ADD leaves nothing behind.
TEST_F(CniTest, FullBlockFailsWithItsOwnCodeAndSaysWhy) {
  ternd_->reload("node: {name: cnode, router_id: 198.18.0.1, as: 65001, blocks: [198.18.21.0/30]}\n"
                 "pools: [198.18.0.0/15]\nhttp: {listen: \"\"}\nipam: {state_dir: " +
                 (state_ / "ipam").string() + ", spool_dir: " + (state_ / "spool").string() + "}\n");
  ternd_->stop();
  ternd_->start();
  ASSERT_TRUE(wait_until([&] { return ternd_->ternctl({"status"}).exit_code == 0; }, 10s)) << ternd_->log();
  ASSERT_EQ(call("ADD", "x1", config()).exit_code, 0);
  ASSERT_EQ(call("ADD", "x2", config()).exit_code, 0);
  auto full = call("ADD", "x3", config());
  EXPECT_EQ(full.out.value("code", 0), 100) << full.raw;
  std::string msg = full.out.value("msg", "");
  EXPECT_NE(msg.find("198.18.21.0/30 is full"), std::string::npos) << msg;
  EXPECT_NE(msg.find("DEL or GC"), std::string::npos) << msg;
  auto veths = links();
  EXPECT_EQ(std::count(veths.begin(), veths.end(), '\n'), 2) << veths;
  EXPECT_EQ(allocations().size(), 2u);
}

struct Storm {
  std::mutex mutex;
  std::map<std::string, std::string> got;  // container -> IPv4 address, for every ADD that succeeded
  std::map<int, int> failures;             // error code -> count
};

void add_storm(CniTest* test, const std::vector<const Netns*>& pods, const json& conf, const Netns& node, Storm& storm) {
  std::vector<std::thread> threads;
  for (size_t i = 0; i < pods.size(); ++i) {
    threads.emplace_back([&, i] {
      std::string container = "ctr-storm" + std::to_string(i);
      auto r = cni(node, {"ADD", container, pods[i]->path(), "eth0", ""}, conf, 60s);
      std::lock_guard lock(storm.mutex);
      if (r.exit_code == 0) {
        storm.got[container] = r.out["ips"][0]["address"].get<std::string>();
      } else {
        ++storm.failures[r.out.is_object() ? r.out.value("code", -1) : -1];
      }
    });
  }
  for (auto& t : threads) t.join();
  (void)test;
}

TEST_F(CniTest, HundredConcurrentAddsGetHundredDistinctAddresses) {
  std::vector<const Netns*> pods;
  for (int i = 0; i < 100; ++i) pods.push_back(&pod("s" + std::to_string(i)));
  Storm storm;
  add_storm(this, pods, config(), *node_, storm);
  EXPECT_TRUE(storm.failures.empty()) << storm.failures.size() << " kinds of failure, e.g. code "
                                      << (storm.failures.empty() ? 0 : storm.failures.begin()->first);
  std::set<std::string> distinct;
  for (const auto& [c, a] : storm.got) distinct.insert(a);
  EXPECT_EQ(storm.got.size(), 100u);
  EXPECT_EQ(distinct.size(), 100u);
  EXPECT_EQ(allocations().size(), 100u);
}

// kill -9 ternd in the middle of an ADD storm, then start it again: every Pod that got an
// address still owns it, no address is owned twice, and the ADDs that failed (code 11)
// left no allocation behind once their cleanup's spooled release is applied.
TEST_F(CniTest, KillDashNineDuringAnAddStormLosesNothing) {
  std::vector<const Netns*> pods;
  for (int i = 0; i < 100; ++i) pods.push_back(&pod("k" + std::to_string(i)));
  Storm storm;
  std::thread killer([&] {
    // Once some ADDs are through: the storm is in full flow. Watched in the journal itself
    // (asking ternctl takes longer than a group-committed storm of ADDs).
    wait_until([&] {
      std::ifstream journal(state_ / "ipam" / "ipam.journal");
      int allocated = 0;
      for (std::string line; std::getline(journal, line);) allocated += line.rfind("A\t", 0) == 0;
      return allocated >= 10;
    }, 30s, 1ms);
    ternd_->stop(SIGKILL);
  });
  add_storm(this, pods, config(), *node_, storm);
  killer.join();
  ternd_->start();
  ASSERT_TRUE(wait_until([&] { return ternd_->ternctl({"status"}).exit_code == 0; }, 10s)) << ternd_->log();

  // Ten records written is fewer acknowledged: a batch is answered after its sync.
  EXPECT_FALSE(storm.got.empty()) << "the kill came before any ADD: the test proved nothing";
  EXPECT_FALSE(storm.failures.empty()) << "the kill came after every ADD: the test proved nothing";
  for (const auto& [code, n] : storm.failures) EXPECT_EQ(code, 11) << n << " ADDs failed with code " << code;
  std::map<std::string, std::string> owner;  // address -> container
  std::set<std::string> containers;
  for (const auto& a : allocations()) {
    std::string container = a["attachment"]["container_id"];
    containers.insert(container);
    for (const auto& address : a["addresses"]) {
      auto [it, fresh] = owner.emplace(address.get<std::string>(), container);
      EXPECT_TRUE(fresh) << address << " owned by " << it->second << " and " << container;
    }
  }
  for (const auto& [container, address] : storm.got) {
    auto ip = address.substr(0, address.find('/'));
    EXPECT_EQ(owner[ip], container) << container << " lost " << ip;
  }
  EXPECT_EQ(containers.size(), storm.got.size()) << "an ADD that failed kept its allocation";
}

}  // namespace
}  // namespace tern::testing
