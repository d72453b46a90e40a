// Links, addresses, routes and neighbour entries over rtnetlink (libnl-route-3).
//
// Every call acts in the namespace the NlSocket was opened in. Names are kernel interface
// names (at most 15 characters). Deletes report kNotFound when there was nothing to delete,
// so idempotent callers can treat that as success.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/ip.hpp"
#include "common/result.hpp"
#include "routing/link/netns.hpp"
#include "routing/protocol.hpp"

struct nl_sock;

namespace tern::routing::link {

inline constexpr int kMaxInterfaceName = 15;  // IFNAMSIZ - 1

using MacAddress = std::array<uint8_t, 6>;
std::string to_string(const MacAddress& mac);

// An owned NETLINK_ROUTE socket, bound to the namespace of the thread that opened it.
class NlSocket {
 public:
  static Result<NlSocket> open();
  nl_sock* get() const { return sock_.get(); }

 private:
  explicit NlSocket(nl_sock* sock);
  std::unique_ptr<nl_sock, void (*)(nl_sock*)> sock_;
};

struct LinkInfo {
  int ifindex = 0;
  std::string name;
  MacAddress mac{};
  uint32_t mtu = 0;
  bool up = false;
  std::string kind;   // "veth", ... ; empty for links without rtnl_link_ops
};

struct VethSpec {
  std::string name;                   // in the socket's namespace
  std::string peer_name;              // in peer_netns (or the socket's namespace when null)
  const NetnsFd* peer_netns = nullptr;
  uint32_t mtu = 0;                   // both ends; 0 keeps the kernel default
  bool up = false;                    // `name` created up (saves a set_link_up round trip)
};

struct AddressEntry {
  IpAddress address;
  int prefix_length = 0;
  bool permanent = false;  // not tentative/dadfailed
};

enum class RouteScope : uint8_t { kUniverse = 0, kLink = 253, kHost = 254 };

struct RouteSpec {
  Prefix destination;
  std::optional<IpAddress> gateway;
  int ifindex = 0;
  RouteScope scope = RouteScope::kUniverse;
  uint8_t protocol = 4;  // RTPROT_STATIC unless tern's number is given
  uint32_t table = 254;  // RT_TABLE_MAIN
  bool onlink = false;   // RTNH_F_ONLINK: the gateway is on the link without a covering route
};

struct RouteEntry {
  Prefix destination;
  std::optional<IpAddress> gateway;
  int ifindex = 0;
  uint8_t protocol = 0;
  uint32_t table = 0;
};

// Links.
Result<LinkInfo> get_link(NlSocket& sock, const std::string& name);
Result<std::vector<LinkInfo>> list_links(NlSocket& sock);
Status create_veth(NlSocket& sock, const VethSpec& spec);
Status delete_link(NlSocket& sock, const std::string& name);
// By index: never a link made since under the same name (a name lookup and a delete by
// name are two requests, and the name may change hands between them).
Status delete_link(NlSocket& sock, int ifindex);
// By index: one request, where a name would cost a look-up first.
Status set_link_up(NlSocket& sock, int ifindex, bool up);
Status set_link_mtu(NlSocket& sock, const std::string& name, uint32_t mtu);
Status rename_link(NlSocket& sock, const std::string& name, const std::string& new_name);
// Moves the link into the namespace at `netns_path` (e.g. /var/run/netns/X, /proc/PID/ns/net).
Status move_link(NlSocket& sock, const std::string& name, const std::string& netns_path);
Status move_link(NlSocket& sock, const std::string& name, const NetnsFd& netns);

// Addresses. `nodad` sets IFA_F_NODAD, so an IPv6 address is usable at once.
Status add_address(NlSocket& sock, int ifindex, const IpAddress& address, int prefix_length,
                   bool nodad);
Result<std::vector<AddressEntry>> list_addresses(NlSocket& sock, int ifindex);

// Routes (replace semantics: adding an existing route updates it).
Status add_route(NlSocket& sock, const RouteSpec& route);
Status delete_route(NlSocket& sock, const RouteSpec& route);
Result<std::vector<RouteEntry>> list_routes(NlSocket& sock, Family family);

// A permanent neighbour entry (ARP/NDP answered in advance).
Status add_neighbour(NlSocket& sock, int ifindex, const IpAddress& address, const MacAddress& mac);
// A proxy entry (`ip neigh add proxy ADDR dev IF`): with proxy_ndp=1 the kernel answers
// neighbour solicitations for ADDR on that link.
Status add_proxy_neighbour(NlSocket& sock, int ifindex, const IpAddress& address);

// The MTU of the link that carries the default route (IPv4, then IPv6), if any.
Result<std::optional<uint32_t>> default_route_mtu(NlSocket& sock);

}  // namespace tern::routing::link
