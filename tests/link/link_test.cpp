// The link helpers against the real kernel, inside namespaces the test makes.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "routing/link/link.hpp"
#include "routing/link/netns.hpp"
#include "routing/link/sysctl.hpp"
#include "tests/support/netns.hpp"

namespace tern::routing::link {
namespace {

using tern::testing::Netns;

ino_t current_netns_inode() {
  struct stat st {};
  EXPECT_EQ(::stat("/proc/thread-self/ns/net", &st), 0);
  return st.st_ino;
}

// Node and Pod namespaces, and a netlink socket opened inside the node namespace.
class LinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TERN_REQUIRE_ROOT();
    node_ = std::make_unique<Netns>("lnode");
    pod_ = std::make_unique<Netns>("lpod");
    node_fd_ = NetnsFd::open(node_->path()).value();
    pod_fd_ = NetnsFd::open(pod_->path()).value();
    auto guard = NetnsGuard::enter(node_fd_);
    ASSERT_TRUE(guard.ok());
    node_sock_ = std::make_unique<NlSocket>(NlSocket::open().value());
  }

  std::string in_node(const std::string& cmd) { return node_->sh(cmd).out; }
  std::string in_pod(const std::string& cmd) { return pod_->sh(cmd).out; }

  std::unique_ptr<Netns> node_, pod_;
  NetnsFd node_fd_, pod_fd_;
  std::unique_ptr<NlSocket> node_sock_;
};

TEST_F(LinkTest, GuardReturnsToTheOriginalNamespace) {
  ino_t before = current_netns_inode();
  {
    auto guard = NetnsGuard::enter(pod_fd_);
    ASSERT_TRUE(guard.ok());
    EXPECT_NE(current_netns_inode(), before);
  }
  EXPECT_EQ(current_netns_inode(), before);
}

TEST_F(LinkTest, OpenRejectsAFileThatIsNoNamespace) {
  auto bad = NetnsFd::open("/etc/hostname");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
  auto missing = NetnsFd::open("/var/run/netns/" + tern::testing::run_prefix() + "absent");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::kIo);
}

TEST_F(LinkTest, VethPeerIsBornInTheTargetNamespace) {
  ASSERT_TRUE(create_veth(*node_sock_, {"h0", "eth0", &pod_fd_, 1400}).ok());
  auto host = get_link(*node_sock_, "h0");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->mtu, 1400u);
  EXPECT_EQ(host->kind, "veth");
  EXPECT_NE(in_pod("ip -o link show eth0").find("mtu 1400"), std::string::npos);
  EXPECT_EQ(in_node("ip -o link show eth0 2>/dev/null"), "");
  // The name is taken now: a second create is kAlreadyExists, not a silent success.
  auto again = create_veth(*node_sock_, {"h0", "x0", nullptr, 0});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::kAlreadyExists);
}

TEST_F(LinkTest, MoveRenameUpAndMtu) {
  ASSERT_TRUE(create_veth(*node_sock_, {"h1", "tmp1", nullptr, 0}).ok());
  ASSERT_TRUE(move_link(*node_sock_, "tmp1", pod_->path()).ok());
  EXPECT_FALSE(get_link(*node_sock_, "tmp1").ok());
  auto guard = NetnsGuard::enter(pod_fd_);
  ASSERT_TRUE(guard.ok());
  auto pod_sock = NlSocket::open();
  ASSERT_TRUE(pod_sock.ok());
  ASSERT_TRUE(rename_link(*pod_sock, "tmp1", "net1").ok());
  ASSERT_TRUE(set_link_mtu(*pod_sock, "net1", 1280).ok());
  int net1 = get_link(*pod_sock, "net1")->ifindex;
  ASSERT_TRUE(set_link_up(*pod_sock, net1, true).ok());
  auto link = get_link(*pod_sock, "net1");
  ASSERT_TRUE(link.ok());
  EXPECT_TRUE(link->up);
  EXPECT_EQ(link->mtu, 1280u);
  ASSERT_TRUE(set_link_up(*pod_sock, net1, false).ok());
  EXPECT_FALSE(get_link(*pod_sock, "net1")->up);
}

// VethSpec::up makes the named end up at creation and leaves the peer down; a delete by
// index removes exactly that link, never a newer one under the same name.
TEST_F(LinkTest, VethBornUpAndDeletedByIndex) {
  ASSERT_TRUE(create_veth(*node_sock_, {"h4", "p4", nullptr, 0, true}).ok());
  auto host = get_link(*node_sock_, "h4");
  ASSERT_TRUE(host.ok());
  EXPECT_TRUE(host->up);
  EXPECT_FALSE(get_link(*node_sock_, "p4")->up);
  int old_index = host->ifindex;
  ASSERT_TRUE(delete_link(*node_sock_, "h4").ok());
  ASSERT_TRUE(create_veth(*node_sock_, {"h4", "p4", nullptr, 0}).ok());
  auto stale = delete_link(*node_sock_, old_index);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, tern::Errc::kNotFound);
  EXPECT_TRUE(get_link(*node_sock_, "h4").ok()) << "the new h4 survived a delete of the old one's index";
  EXPECT_TRUE(delete_link(*node_sock_, get_link(*node_sock_, "h4")->ifindex).ok());
  EXPECT_FALSE(get_link(*node_sock_, "h4").ok());
}

TEST_F(LinkTest, BadNamesAndMissingLinksAreReported) {
  auto missing = get_link(*node_sock_, "nosuch0");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  auto gone = delete_link(*node_sock_, "nosuch0");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, Errc::kNotFound);
  for (std::string name : {"", "sixteen-chars-xx", "a/b", ".."}) {
    auto bad = create_veth(*node_sock_, {name, "p", nullptr, 0});
    ASSERT_FALSE(bad.ok()) << name;
    EXPECT_EQ(bad.error().code, Errc::kInvalidArgument) << name;
  }
}

TEST_F(LinkTest, AddressesRoutesAndNeighbours) {
  ASSERT_TRUE(create_veth(*node_sock_, {"h2", "p2", nullptr, 0}).ok());
  int h2 = get_link(*node_sock_, "h2")->ifindex;
  int p2 = get_link(*node_sock_, "p2")->ifindex;
  ASSERT_TRUE(set_link_up(*node_sock_, h2, true).ok());
  ASSERT_TRUE(set_link_up(*node_sock_, p2, true).ok());

  auto v4 = IpAddress::parse("198.18.5.2").value();
  auto v6 = IpAddress::parse("2001:db8:5::2").value();
  ASSERT_TRUE(add_address(*node_sock_, p2, v4, 32, false).ok());
  ASSERT_TRUE(add_address(*node_sock_, p2, v6, 128, true).ok());
  auto addrs = list_addresses(*node_sock_, p2);
  ASSERT_TRUE(addrs.ok());
  bool saw_v4 = false, saw_v6 = false;
  for (const AddressEntry& a : *addrs) {
    if (a.address == v4 && a.prefix_length == 32) saw_v4 = true;
    // IFA_F_NODAD: usable at once, never tentative.
    if (a.address == v6 && a.prefix_length == 128 && a.permanent) saw_v6 = true;
  }
  EXPECT_TRUE(saw_v4);
  EXPECT_TRUE(saw_v6);
  EXPECT_EQ(in_node("ip -6 -o addr show dev p2 | grep 2001:db8 | grep -c tentative"), "0\n");

  // Pod-style routes: scope-link to the gateway, default via it; host route with protocol 77.
  auto gw = IpAddress::parse("169.254.1.1").value();
  ASSERT_TRUE(add_route(*node_sock_, {Prefix(gw, 32), std::nullopt, p2, RouteScope::kLink}).ok());
  ASSERT_TRUE(add_route(*node_sock_, {Prefix::parse("0.0.0.0/0").value(), gw, p2}).ok());
  auto gw6 = IpAddress::parse("fe80::1").value();
  RouteSpec default6{Prefix::parse("::/0").value(), gw6, p2};
  default6.onlink = true;
  ASSERT_TRUE(add_route(*node_sock_, default6).ok());
  RouteSpec host{Prefix(IpAddress::parse("198.18.9.9").value(), 32), std::nullopt, h2,
                 RouteScope::kLink, kTernProtocol};
  ASSERT_TRUE(add_route(*node_sock_, host).ok());
  ASSERT_TRUE(add_route(*node_sock_, host).ok()) << "replace semantics";
  EXPECT_NE(in_node("ip route show proto 77").find("198.18.9.9 dev h2 scope link"), std::string::npos);
  EXPECT_NE(in_node("ip route show default").find("via 169.254.1.1 dev p2"), std::string::npos);
  EXPECT_NE(in_node("ip -6 route show default").find("via fe80::1 dev p2"), std::string::npos);

  auto routes = list_routes(*node_sock_, Family::kIpv4);
  ASSERT_TRUE(routes.ok());
  bool listed = false;
  for (const RouteEntry& r : *routes) {
    if (r.destination == host.destination && r.ifindex == h2 && r.protocol == kTernProtocol) listed = true;
  }
  EXPECT_TRUE(listed);
  ASSERT_TRUE(delete_route(*node_sock_, host).ok());
  auto again = delete_route(*node_sock_, host);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(in_node("ip route show proto 77"), "");

  MacAddress mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  ASSERT_TRUE(add_neighbour(*node_sock_, p2, gw, mac).ok());
  ASSERT_TRUE(add_neighbour(*node_sock_, p2, gw6, mac).ok());
  ASSERT_TRUE(add_proxy_neighbour(*node_sock_, h2, gw6).ok());
  EXPECT_NE(in_node("ip neigh show dev p2").find("169.254.1.1 lladdr 02:00:00:00:00:01 PERMANENT"),
            std::string::npos);
  EXPECT_NE(in_node("ip -6 neigh show dev p2").find("fe80::1 lladdr 02:00:00:00:00:01 PERMANENT"),
            std::string::npos);
  EXPECT_NE(in_node("ip -6 neigh show proxy dev h2").find("fe80::1"), std::string::npos);
}

TEST_F(LinkTest, DefaultRouteMtuIsTheUplinkMtu) {
  ASSERT_TRUE(default_route_mtu(*node_sock_).ok());
  EXPECT_FALSE(default_route_mtu(*node_sock_)->has_value());
  node_->ip("link add up0 mtu 9000 type veth peer name up1");
  node_->ip("link set up0 up");
  node_->ip("link set up1 up");
  node_->ip("addr add 198.18.7.1/30 dev up0");
  node_->ip("route add default via 198.18.7.2 dev up0");
  auto mtu = default_route_mtu(*node_sock_);
  ASSERT_TRUE(mtu.ok());
  EXPECT_EQ(mtu->value_or(0), 9000u);
}

TEST_F(LinkTest, SysctlsActInTheCurrentNamespaceOnly) {
  ASSERT_TRUE(create_veth(*node_sock_, {"h3", "p3.100", nullptr, 0}).ok());
  std::string root_forwarding = read_sysctl("net/ipv4/ip_forward").value();
  {
    auto guard = NetnsGuard::enter(node_fd_);
    ASSERT_TRUE(guard.ok());
    ASSERT_TRUE(write_sysctl("net/ipv4/ip_forward", "1").ok());
    ASSERT_TRUE(write_sysctl(conf_path(Family::kIpv4, "h3", "proxy_arp"), "1").ok());
    ASSERT_TRUE(write_sysctl(conf_path(Family::kIpv6, "h3", "proxy_ndp"), "1").ok());
    ASSERT_TRUE(write_sysctl(conf_path(Family::kIpv4, "p3.100", "rp_filter"), "2").ok());
    ASSERT_TRUE(write_sysctl(conf_path(Family::kIpv6, "h3", "accept_ra"), "0").ok());
    ASSERT_TRUE(write_sysctl(neigh_path(Family::kIpv4, "h3", "proxy_delay"), "0").ok());
    EXPECT_EQ(read_sysctl(conf_path(Family::kIpv4, "h3", "proxy_arp")).value(), "1");
    auto missing = write_sysctl(conf_path(Family::kIpv4, "nosuch0", "proxy_arp"), "1");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, Errc::kIo);
    EXPECT_FALSE(write_sysctl("../etc/passwd", "x").ok());
  }
  EXPECT_EQ(in_node("sysctl -n net.ipv4.ip_forward"), "1\n");
  EXPECT_EQ(in_node("cat /proc/sys/net/ipv4/conf/p3.100/rp_filter"), "2\n");
  EXPECT_EQ(in_node("sysctl -n net.ipv6.conf.h3.proxy_ndp"), "1\n");
  EXPECT_EQ(read_sysctl("net/ipv4/ip_forward").value(), root_forwarding);
}

}  // namespace
}  // namespace tern::routing::link
