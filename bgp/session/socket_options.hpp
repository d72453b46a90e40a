// The socket options a BGP transport needs on Linux, as small functions over a file
// descriptor that return a Status naming what failed and why. Used by the Asio session
// adapter on its sockets before connect() or listen().
#pragma once

#include <string_view>

#include "common/ip.hpp"
#include "common/result.hpp"

namespace tern::bgp::session {

// RFC 2385 TCP MD5 signatures (Linux TCP_MD5SIG_EXT). On a listening socket, one key per
// peer or per prefix of peers (a dynamic-neighbour listen range); on a connecting socket,
// the peer's key before connect(). An empty key removes it. Where the kernel lacks
// CONFIG_TCP_MD5SIG the error says so.
Status set_tcp_md5(int fd, const Prefix& peers, std::string_view key);

// Outgoing TTL / hop limit (eBGP multihop).
Status set_ttl(int fd, Family family, int ttl);

// RFC 5082 GTSM: send with TTL 255 and drop anything that arrives with a TTL below
// 256 - hops (IP_MINTTL / IPV6_MINHOPCOUNT), so a spoofer further away cannot reach us.
Status set_gtsm(int fd, Family family, int hops);

// DSCP CS6 (network control), as routers mark BGP.
Status set_network_control_dscp(int fd, Family family);

// Binds the local end to a source address (port 0: any).
Status bind_source(int fd, const IpAddress& source, uint16_t port = 0);

}  // namespace tern::bgp::session
