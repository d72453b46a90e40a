// BGP transport socket options against the real kernel, between two namespaces:
// TCP MD5 (RFC 2385) and GTSM (RFC 5082) accept what they should and drop what they should.
#include "bgp/session/socket_options.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <functional>

#include "tests/support/netns.hpp"

namespace tern::bgp::session {
namespace {

using tern::testing::Netns;
using tern::testing::in_netns;

constexpr uint16_t kPort = 1790;

sockaddr_storage sockaddr_of(const IpAddress& a, uint16_t port, socklen_t& len) {
  sockaddr_storage ss{};
  if (a.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, a.bytes().data(), 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::memcpy(&sin6->sin6_addr, a.bytes().data(), 16);
    len = sizeof(sockaddr_in6);
  }
  return ss;
}

int family_of(const IpAddress& a) { return a.is_v4() ? AF_INET : AF_INET6; }

// A listening socket in `ns` on addr:kPort, configured by `setup` before listen().
int listener(const Netns& ns, const IpAddress& addr, const std::function<void(int)>& setup) {
  return in_netns(ns, [&] {
    int fd = socket(family_of(addr), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    EXPECT_TRUE(bind_source(fd, addr, kPort));
    setup(fd);
    EXPECT_EQ(listen(fd, 8), 0);
    return fd;
  });
}

// Connects from `ns` to dst:kPort within a bounded time; true if the handshake completed
// and the listener could accept it.
bool connects(const Netns& ns, const IpAddress& dst, int listen_fd, const std::function<void(int)>& setup) {
  int fd = in_netns(ns, [&] { return socket(family_of(dst), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); });
  setup(fd);
  socklen_t len = 0;
  auto ss = sockaddr_of(dst, kPort, len);
  connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  pollfd p{fd, POLLOUT, 0};
  bool ok = poll(&p, 1, 1500) == 1;
  int err = 0;
  socklen_t err_len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
  ok = ok && err == 0;
  if (ok) {
    pollfd a{listen_fd, POLLIN, 0};
    ok = poll(&a, 1, 1500) == 1;
    int accepted = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    ok = ok && accepted >= 0;
    if (accepted >= 0) close(accepted);
  }
  close(fd);
  return ok;
}

struct Case {
  const char* name;
  const char* a_addr;  // with prefix length, for `ip addr add`
  const char* b_addr;
};

class SocketOptions : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    TERN_REQUIRE_ROOT();
    a_ = std::make_unique<Netns>("so-a");
    b_ = std::make_unique<Netns>("so-b");
    std::string a = GetParam().a_addr, b = GetParam().b_addr;
    std::string nodad = a.find(':') != std::string::npos ? " nodad" : "";
    tern::testing::connect(*a_, "veth0", "", *b_, "veth0", "");
    a_->ip("addr add " + a + " dev veth0" + nodad);
    b_->ip("addr add " + b + " dev veth0" + nodad);
    a_ip_ = *IpAddress::parse(a.substr(0, a.find('/')));
    b_ip_ = *IpAddress::parse(b.substr(0, b.find('/')));
  }
  std::unique_ptr<Netns> a_, b_;
  IpAddress a_ip_, b_ip_;
};

TEST_P(SocketOptions, Md5AcceptsOnlyTheRightKey) {
  int lfd = listener(*b_, b_ip_, [&](int fd) { ASSERT_TRUE(set_tcp_md5(fd, Prefix(a_ip_, a_ip_.max_prefix_length()), "s3cret")); });
  EXPECT_TRUE(connects(*a_, b_ip_, lfd, [&](int fd) { ASSERT_TRUE(set_tcp_md5(fd, Prefix(b_ip_, b_ip_.max_prefix_length()), "s3cret")); }));
  EXPECT_FALSE(connects(*a_, b_ip_, lfd, [&](int fd) { ASSERT_TRUE(set_tcp_md5(fd, Prefix(b_ip_, b_ip_.max_prefix_length()), "wrong")); }));
  EXPECT_FALSE(connects(*a_, b_ip_, lfd, [](int) {})) << "an unsigned SYN must be dropped";
  close(lfd);
}

TEST_P(SocketOptions, Md5KeyForAListenRange) {
  // A dynamic-neighbour listen range: one key for every peer in a prefix.
  Prefix range(a_ip_, a_ip_.is_v4() ? 24 : 64);
  int lfd = listener(*b_, b_ip_, [&](int fd) { ASSERT_TRUE(set_tcp_md5(fd, range, "range-key")); });
  EXPECT_TRUE(connects(*a_, b_ip_, lfd, [&](int fd) { ASSERT_TRUE(set_tcp_md5(fd, Prefix(b_ip_, b_ip_.max_prefix_length()), "range-key")); }));
  close(lfd);
}

TEST_P(SocketOptions, GtsmDropsPacketsFromFurtherAway) {
  int lfd = listener(*b_, b_ip_, [&](int fd) { ASSERT_TRUE(set_gtsm(fd, b_ip_.family(), 1)); });
  EXPECT_TRUE(connects(*a_, b_ip_, lfd, [&](int fd) { ASSERT_TRUE(set_gtsm(fd, a_ip_.family(), 1)); }));
  // TTL 254 looks like a sender two hops away: below the minimum of 255.
  EXPECT_FALSE(connects(*a_, b_ip_, lfd, [&](int fd) { ASSERT_TRUE(set_ttl(fd, a_ip_.family(), 254)); }));
  close(lfd);
}

TEST_P(SocketOptions, DscpAndSourceBinding) {
  int lfd = listener(*b_, b_ip_, [&](int fd) { ASSERT_TRUE(set_network_control_dscp(fd, b_ip_.family())); });
  EXPECT_TRUE(connects(*a_, b_ip_, lfd, [&](int fd) {
    ASSERT_TRUE(set_network_control_dscp(fd, a_ip_.family()));
    ASSERT_TRUE(bind_source(fd, a_ip_));
  }));
  close(lfd);
}

INSTANTIATE_TEST_SUITE_P(Transport, SocketOptions,
                         ::testing::Values(Case{"Ipv4", "198.18.0.1/30", "198.18.0.2/30"},
                                           Case{"Ipv6", "2001:db8::1/64", "2001:db8::2/64"}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(SocketOptionErrors, NameTheProblem) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto too_long = set_tcp_md5(fd, *Prefix::parse("198.18.0.1/32"), std::string(81, 'k'));
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code, Errc::kInvalidArgument);
  EXPECT_FALSE(set_ttl(fd, Family::kIpv4, 0));
  EXPECT_FALSE(set_gtsm(fd, Family::kIpv4, 255));
  auto bad_bind = bind_source(fd, *IpAddress::parse("198.19.255.254"));  // not an address of this host
  ASSERT_FALSE(bad_bind);
  EXPECT_EQ(bad_bind.error().sys_errno, EADDRNOTAVAIL);
  EXPECT_NE(bad_bind.error().message.find("198.19.255.254"), std::string::npos);
  close(fd);
}

}  // namespace
}  // namespace tern::bgp::session
