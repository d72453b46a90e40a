#include "bgp/session/socket_options.hpp"

#include <arpa/inet.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#ifndef IPV6_MINHOPCOUNT
#define IPV6_MINHOPCOUNT 73  // linux/in6.h; not in glibc's headers
#endif

namespace tern::bgp::session {

namespace {

sockaddr_storage to_sockaddr(const IpAddress& a, uint16_t port, socklen_t& len) {
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

Status setsockopt_int(int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof value) != 0) return io_error(what, errno);
  return {};
}

}  // namespace

Status set_tcp_md5(int fd, const Prefix& peers, std::string_view key) {
  if (key.size() > TCP_MD5SIG_MAXKEYLEN) {
    return make_error(Errc::kInvalidArgument, "TCP MD5 password longer than " +
                                                  std::to_string(TCP_MD5SIG_MAXKEYLEN) + " bytes");
  }
  tcp_md5sig sig{};
  socklen_t len = 0;
  auto ss = to_sockaddr(peers.address(), 0, len);
  std::memcpy(&sig.tcpm_addr, &ss, sizeof ss);
  sig.tcpm_flags = TCP_MD5SIG_FLAG_PREFIX;
  sig.tcpm_prefixlen = static_cast<uint8_t>(peers.length());
  sig.tcpm_keylen = static_cast<uint16_t>(key.size());
  std::memcpy(sig.tcpm_key, key.data(), key.size());
  if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG_EXT, &sig, sizeof sig) != 0) {
    int err = errno;
    if (err == ENOPROTOOPT || err == EOPNOTSUPP) {
      return make_error(Errc::kUnsupported,
                        "TCP MD5 signatures (RFC 2385) are not supported by this kernel "
                        "(CONFIG_TCP_MD5SIG): a peer with a password cannot be used",
                        err);
    }
    if (key.empty() && err == ENOENT) return {};  // removing a key that was never set
    return io_error("setting the TCP MD5 key for " + peers.to_string(), err);
  }
  return {};
}

Status set_ttl(int fd, Family family, int ttl) {
  if (ttl < 1 || ttl > 255) return make_error(Errc::kInvalidArgument, "TTL must be 1..255");
  return family == Family::kIpv4 ? setsockopt_int(fd, IPPROTO_IP, IP_TTL, ttl, "setting IP_TTL")
                                 : setsockopt_int(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl,
                                                  "setting IPV6_UNICAST_HOPS");
}

Status set_gtsm(int fd, Family family, int hops) {
  if (hops < 1 || hops > 254) return make_error(Errc::kInvalidArgument, "GTSM hops must be 1..254");
  if (auto s = set_ttl(fd, family, 255); !s) return s;
  int min_ttl = 256 - hops;  // RFC 5082 §3: accept only TTL >= 255 - (hops - 1)
  return family == Family::kIpv4 ? setsockopt_int(fd, IPPROTO_IP, IP_MINTTL, min_ttl, "setting IP_MINTTL")
                                 : setsockopt_int(fd, IPPROTO_IPV6, IPV6_MINHOPCOUNT, min_ttl,
                                                  "setting IPV6_MINHOPCOUNT");
}

Status set_network_control_dscp(int fd, Family family) {
  constexpr int kCs6 = 0xc0;  // DSCP 48 in the upper six bits of the TOS / traffic class
  return family == Family::kIpv4 ? setsockopt_int(fd, IPPROTO_IP, IP_TOS, kCs6, "setting IP_TOS")
                                 : setsockopt_int(fd, IPPROTO_IPV6, IPV6_TCLASS, kCs6, "setting IPV6_TCLASS");
}

Status bind_source(int fd, const IpAddress& source, uint16_t port) {
  socklen_t len = 0;
  auto ss = to_sockaddr(source, port, len);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return io_error("binding to " + source.to_string(), errno);
  }
  return {};
}

}  // namespace tern::bgp::session
