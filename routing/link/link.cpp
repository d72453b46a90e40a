#include "routing/link/link.hpp"

#include <linux/if.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>
#include <netlink/msg.h>
#include <sys/socket.h>

#include <cstdio>

namespace tern::routing::link {
namespace {

// RAII for the libnl objects, taken at the moment each is created.
struct LinkPut { void operator()(rtnl_link* p) const { rtnl_link_put(p); } };
struct AddrPut { void operator()(rtnl_addr* p) const { rtnl_addr_put(p); } };
struct RoutePut { void operator()(rtnl_route* p) const { rtnl_route_put(p); } };
struct NeighPut { void operator()(rtnl_neigh* p) const { rtnl_neigh_put(p); } };
struct NlAddrPut { void operator()(nl_addr* p) const { nl_addr_put(p); } };
struct CacheFree { void operator()(nl_cache* p) const { nl_cache_free(p); } };
using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;
using AddrPtr = std::unique_ptr<rtnl_addr, AddrPut>;
using RoutePtr = std::unique_ptr<rtnl_route, RoutePut>;
using NeighPtr = std::unique_ptr<rtnl_neigh, NeighPut>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlAddrPut>;
using CachePtr = std::unique_ptr<nl_cache, CacheFree>;

// libnl returns negative NLE_* codes; map the ones callers branch on.
Error nl_error(const std::string& what, int err) {
  int code = err < 0 ? -err : err;
  Errc errc = Errc::kIo;
  if (code == NLE_OBJ_NOTFOUND || code == NLE_NODEV) errc = Errc::kNotFound;
  if (code == NLE_EXIST) errc = Errc::kAlreadyExists;
  if (code == NLE_INVAL || code == NLE_RANGE) errc = Errc::kInvalidArgument;
  return make_error(errc, what + ": " + nl_geterror(code));
}

Status check_name(const std::string& name) {
  if (name.empty() || name.size() > static_cast<size_t>(kMaxInterfaceName) || name == "." ||
      name == ".." || name.find_first_of("/: \t\n") != std::string::npos) {
    return make_error(Errc::kInvalidArgument, "invalid interface name \"" + name + "\"");
  }
  return {};
}

int af(Family f) { return f == Family::kIpv4 ? AF_INET : AF_INET6; }

NlAddrPtr to_nl_addr(const IpAddress& a, int prefix_length) {
  auto bytes = a.bytes();
  NlAddrPtr out(nl_addr_build(af(a.family()), bytes.data(), bytes.size()));
  if (out) nl_addr_set_prefixlen(out.get(), prefix_length);
  return out;
}

std::optional<IpAddress> from_nl_addr(nl_addr* a) {
  if (a == nullptr) return std::nullopt;
  auto* data = static_cast<const uint8_t*>(nl_addr_get_binary_addr(a));
  return IpAddress::from_bytes({data, nl_addr_get_len(a)});
}

LinkInfo to_info(rtnl_link* link) {
  LinkInfo info;
  info.ifindex = rtnl_link_get_ifindex(link);
  info.name = rtnl_link_get_name(link) ? rtnl_link_get_name(link) : "";
  info.mtu = rtnl_link_get_mtu(link);
  info.up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
  if (const char* kind = rtnl_link_get_type(link)) info.kind = kind;
  if (nl_addr* ll = rtnl_link_get_addr(link); ll && nl_addr_get_len(ll) == info.mac.size()) {
    auto* data = static_cast<const uint8_t*>(nl_addr_get_binary_addr(ll));
    std::copy(data, data + info.mac.size(), info.mac.begin());
  }
  return info;
}

Result<LinkPtr> fetch_link(NlSocket& sock, const std::string& name) {
  if (auto ok = check_name(name); !ok) return ok.error();
  rtnl_link* raw = nullptr;
  int err = rtnl_link_get_kernel(sock.get(), 0, name.c_str(), &raw);
  LinkPtr link(raw);
  if (err < 0) return nl_error("link " + name, err);
  return link;
}

// Applies `changes` to the link called `name`.
Status change_link(NlSocket& sock, const std::string& name, rtnl_link* changes, const char* what) {
  auto orig = fetch_link(sock, name);
  if (!orig) return orig.error();
  int err = rtnl_link_change(sock.get(), orig->get(), changes, 0);
  if (err < 0) return nl_error(std::string(what) + " " + name, err);
  return {};
}

}  // namespace

std::string to_string(const MacAddress& mac) {
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
                mac[3], mac[4], mac[5]);
  return text;
}

NlSocket::NlSocket(nl_sock* sock) : sock_(sock, nl_socket_free) {}

Result<NlSocket> NlSocket::open() {
  nl_sock* raw = nl_socket_alloc();
  if (raw == nullptr) return make_error(Errc::kIo, "nl_socket_alloc failed");
  NlSocket sock(raw);
  if (int err = nl_connect(raw, NETLINK_ROUTE); err < 0) return nl_error("netlink connect", err);
  return sock;
}

Result<LinkInfo> get_link(NlSocket& sock, const std::string& name) {
  auto link = fetch_link(sock, name);
  if (!link) return link.error();
  return to_info(link->get());
}

Result<std::vector<LinkInfo>> list_links(NlSocket& sock) {
  nl_cache* raw = nullptr;
  int err = rtnl_link_alloc_cache(sock.get(), AF_UNSPEC, &raw);
  CachePtr cache(raw);
  if (err < 0) return nl_error("dump links", err);
  std::vector<LinkInfo> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
    out.push_back(to_info(reinterpret_cast<rtnl_link*>(o)));
  }
  return out;
}

Status create_veth(NlSocket& sock, const VethSpec& spec) {
  if (auto ok = check_name(spec.name); !ok) return ok.error();
  if (auto ok = check_name(spec.peer_name); !ok) return ok.error();
  LinkPtr link(rtnl_link_veth_alloc());
  if (!link) return make_error(Errc::kIo, "veth alloc failed");
  LinkPtr peer(rtnl_link_veth_get_peer(link.get()));  // takes a reference
  rtnl_link_set_name(link.get(), spec.name.c_str());
  rtnl_link_set_name(peer.get(), spec.peer_name.c_str());
  if (spec.mtu != 0) {
    rtnl_link_set_mtu(link.get(), spec.mtu);
    rtnl_link_set_mtu(peer.get(), spec.mtu);
  }
  if (spec.up) rtnl_link_set_flags(link.get(), IFF_UP);
  // The peer is born in its target namespace: no move, no name clash in ours.
  if (spec.peer_netns != nullptr) rtnl_link_set_ns_fd(peer.get(), spec.peer_netns->fd());
  int err = rtnl_link_add(sock.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0) return nl_error("create veth " + spec.name + "/" + spec.peer_name, err);
  return {};
}

Status delete_link(NlSocket& sock, const std::string& name) {
  auto link = fetch_link(sock, name);
  if (!link) return link.error();
  int err = rtnl_link_delete(sock.get(), link->get());
  if (err < 0) return nl_error("delete link " + name, err);
  return {};
}

Status delete_link(NlSocket& sock, int ifindex) {
  LinkPtr link(rtnl_link_alloc());
  if (!link) return make_error(Errc::kIo, "link alloc failed");
  rtnl_link_set_ifindex(link.get(), ifindex);
  int err = rtnl_link_delete(sock.get(), link.get());
  if (err < 0) return nl_error("delete link " + std::to_string(ifindex), err);
  return {};
}

Status set_link_up(NlSocket& sock, int ifindex, bool up) {
  LinkPtr link(rtnl_link_alloc()), changes(rtnl_link_alloc());
  if (!link || !changes) return make_error(Errc::kIo, "link alloc failed");
  rtnl_link_set_ifindex(link.get(), ifindex);  // the request names it by index alone
  if (up) {
    rtnl_link_set_flags(changes.get(), IFF_UP);
  } else {
    rtnl_link_unset_flags(changes.get(), IFF_UP);
  }
  int err = rtnl_link_change(sock.get(), link.get(), changes.get(), 0);
  if (err < 0) return nl_error(std::string(up ? "set up" : "set down") + " link " + std::to_string(ifindex), err);
  return {};
}

Status set_link_mtu(NlSocket& sock, const std::string& name, uint32_t mtu) {
  LinkPtr changes(rtnl_link_alloc());
  rtnl_link_set_mtu(changes.get(), mtu);
  return change_link(sock, name, changes.get(), "set mtu");
}

Status rename_link(NlSocket& sock, const std::string& name, const std::string& new_name) {
  if (auto ok = check_name(new_name); !ok) return ok.error();
  LinkPtr changes(rtnl_link_alloc());
  rtnl_link_set_name(changes.get(), new_name.c_str());
  return change_link(sock, name, changes.get(), "rename");
}

Status move_link(NlSocket& sock, const std::string& name, const NetnsFd& netns) {
  LinkPtr changes(rtnl_link_alloc());
  rtnl_link_set_ns_fd(changes.get(), netns.fd());
  return change_link(sock, name, changes.get(), "move");
}

Status move_link(NlSocket& sock, const std::string& name, const std::string& netns_path) {
  auto netns = NetnsFd::open(netns_path);
  if (!netns) return netns.error();
  return move_link(sock, name, *netns);
}

Status add_address(NlSocket& sock, int ifindex, const IpAddress& address, int prefix_length,
                   bool nodad) {
  AddrPtr addr(rtnl_addr_alloc());
  NlAddrPtr local = to_nl_addr(address, prefix_length);
  if (!addr || !local) return make_error(Errc::kIo, "address alloc failed");
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  rtnl_addr_set_family(addr.get(), af(address.family()));
  if (int err = rtnl_addr_set_local(addr.get(), local.get()); err < 0) {
    return nl_error("address " + address.to_string(), err);
  }
  rtnl_addr_set_prefixlen(addr.get(), prefix_length);
  if (nodad) rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);
  int err = rtnl_addr_add(sock.get(), addr.get(), NLM_F_REPLACE);
  if (err < 0) return nl_error("add address " + address.to_string(), err);
  return {};
}

Result<std::vector<AddressEntry>> list_addresses(NlSocket& sock, int ifindex) {
  nl_cache* raw = nullptr;
  int err = rtnl_addr_alloc_cache(sock.get(), &raw);
  CachePtr cache(raw);
  if (err < 0) return nl_error("dump addresses", err);
  std::vector<AddressEntry> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_ifindex(a) != ifindex) continue;
    auto ip = from_nl_addr(rtnl_addr_get_local(a));
    if (!ip) continue;
    unsigned flags = rtnl_addr_get_flags(a);
    out.push_back({*ip, rtnl_addr_get_prefixlen(a),
                   (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) == 0});
  }
  return out;
}

namespace {

Result<RoutePtr> build_route(const RouteSpec& spec) {
  RoutePtr route(rtnl_route_alloc());
  NlAddrPtr dst = to_nl_addr(spec.destination.address(), spec.destination.length());
  if (!route || !dst) return make_error(Errc::kIo, "route alloc failed");
  rtnl_route_set_family(route.get(), af(spec.destination.family()));
  if (int err = rtnl_route_set_dst(route.get(), dst.get()); err < 0) {
    return nl_error("route " + spec.destination.to_string(), err);
  }
  rtnl_route_set_table(route.get(), spec.table);
  rtnl_route_set_protocol(route.get(), spec.protocol);
  rtnl_route_set_scope(route.get(), static_cast<uint8_t>(spec.scope));
  rtnl_route_set_type(route.get(), RTN_UNICAST);
  rtnl_nexthop* nh = rtnl_route_nh_alloc();  // owned by the route once added
  if (nh == nullptr) return make_error(Errc::kIo, "nexthop alloc failed");
  rtnl_route_nh_set_ifindex(nh, spec.ifindex);
  if (spec.gateway) {
    NlAddrPtr gw = to_nl_addr(*spec.gateway, spec.gateway->max_prefix_length());
    rtnl_route_nh_set_gateway(nh, gw.get());  // takes its own reference
  }
  if (spec.onlink) rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
  rtnl_route_add_nexthop(route.get(), nh);
  return route;
}

}  // namespace

Status add_route(NlSocket& sock, const RouteSpec& spec) {
  auto route = build_route(spec);
  if (!route) return route.error();
  int err = rtnl_route_add(sock.get(), route->get(), NLM_F_CREATE | NLM_F_REPLACE);
  if (err < 0) return nl_error("add route " + spec.destination.to_string(), err);
  return {};
}

Status delete_route(NlSocket& sock, const RouteSpec& spec) {
  auto route = build_route(spec);
  if (!route) return route.error();
  int err = rtnl_route_delete(sock.get(), route->get(), 0);
  if (err < 0) return nl_error("delete route " + spec.destination.to_string(), err);
  return {};
}

Result<std::vector<RouteEntry>> list_routes(NlSocket& sock, Family family) {
  nl_cache* raw = nullptr;
  int err = rtnl_route_alloc_cache(sock.get(), af(family), 0, &raw);
  CachePtr cache(raw);
  if (err < 0) return nl_error("dump routes", err);
  std::vector<RouteEntry> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    nl_addr* dst = rtnl_route_get_dst(r);
    RouteEntry entry;
    auto ip = from_nl_addr(dst);
    // A default route may come without a destination attribute.
    IpAddress base = ip ? *ip : (family == Family::kIpv4 ? IpAddress() : IpAddress::parse("::").value());
    entry.destination = Prefix(base, ip ? static_cast<int>(nl_addr_get_prefixlen(dst)) : 0);
    entry.protocol = rtnl_route_get_protocol(r);
    entry.table = rtnl_route_get_table(r);
    if (rtnl_route_get_nnexthops(r) >= 1) {
      rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
      entry.ifindex = rtnl_route_nh_get_ifindex(nh);
      entry.gateway = from_nl_addr(rtnl_route_nh_get_gateway(nh));
    }
    out.push_back(entry);
  }
  return out;
}

namespace {

Status add_neigh(NlSocket& sock, int ifindex, const IpAddress& address, const MacAddress* mac) {
  NeighPtr neigh(rtnl_neigh_alloc());
  NlAddrPtr dst = to_nl_addr(address, address.max_prefix_length());
  if (!neigh || !dst) return make_error(Errc::kIo, "neighbour alloc failed");
  rtnl_neigh_set_ifindex(neigh.get(), ifindex);
  rtnl_neigh_set_family(neigh.get(), af(address.family()));
  if (int err = rtnl_neigh_set_dst(neigh.get(), dst.get()); err < 0) {
    return nl_error("neighbour " + address.to_string(), err);
  }
  rtnl_neigh_set_state(neigh.get(), NUD_PERMANENT);
  if (mac != nullptr) {
    NlAddrPtr ll(nl_addr_build(AF_LLC, mac->data(), mac->size()));
    rtnl_neigh_set_lladdr(neigh.get(), ll.get());
  } else {
    rtnl_neigh_set_flags(neigh.get(), NTF_PROXY);
  }
  int err = rtnl_neigh_add(sock.get(), neigh.get(), NLM_F_CREATE | NLM_F_REPLACE);
  if (err < 0) return nl_error("add neighbour " + address.to_string(), err);
  return {};
}

}  // namespace

Status add_neighbour(NlSocket& sock, int ifindex, const IpAddress& address, const MacAddress& mac) {
  return add_neigh(sock, ifindex, address, &mac);
}

Status add_proxy_neighbour(NlSocket& sock, int ifindex, const IpAddress& address) {
  return add_neigh(sock, ifindex, address, nullptr);
}

namespace {

// The FIB entry a lookup of `probe` matches (RTM_GETROUTE with RTM_F_FIB_MATCH): one round
// trip, whatever the size of the table. nullopt when nothing matches or it is no default.
std::optional<int> default_route_ifindex(NlSocket& sock, const IpAddress& probe) {
  struct nl_msg* raw = nlmsg_alloc_simple(RTM_GETROUTE, 0);
  if (raw == nullptr) return std::nullopt;
  std::unique_ptr<nl_msg, void (*)(nl_msg*)> msg(raw, nlmsg_free);
  rtmsg rtm{};
  rtm.rtm_family = static_cast<uint8_t>(af(probe.family()));
  rtm.rtm_dst_len = static_cast<uint8_t>(probe.max_prefix_length());
  rtm.rtm_flags = RTM_F_FIB_MATCH;
  auto bytes = probe.bytes();
  if (nlmsg_append(raw, &rtm, sizeof rtm, NLMSG_ALIGNTO) < 0 ||
      nla_put(raw, RTA_DST, static_cast<int>(bytes.size()), bytes.data()) < 0 || nl_send_auto(sock.get(), raw) < 0) {
    return std::nullopt;
  }
  struct Found {
    std::optional<int> ifindex;
  } found;
  std::unique_ptr<nl_cb, void (*)(nl_cb*)> cb(nl_cb_alloc(NL_CB_DEFAULT), nl_cb_put);
  if (!cb) return std::nullopt;
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM,
            [](nl_msg* m, void* arg) -> int {
              rtnl_route* parsed = nullptr;
              if (rtnl_route_parse(nlmsg_hdr(m), &parsed) < 0) return NL_SKIP;
              RoutePtr route(parsed);
              if (nl_addr* dst = rtnl_route_get_dst(route.get()); dst && nl_addr_get_prefixlen(dst) != 0) return NL_SKIP;
              if (rtnl_route_get_table(route.get()) != RT_TABLE_MAIN || rtnl_route_get_nnexthops(route.get()) < 1) return NL_SKIP;
              int ifindex = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(route.get(), 0));
              if (ifindex > 0) static_cast<Found*>(arg)->ifindex = ifindex;
              return NL_SKIP;
            },
            &found);
  // No route: the kernel answers ENETUNREACH, an error that is also the ack. Otherwise the
  // route, then the ack (its own datagram), taken here so the socket's next request does
  // not read it.
  if (nl_recvmsgs(sock.get(), cb.get()) < 0) return std::nullopt;
  if (nl_wait_for_ack(sock.get()) < 0) return std::nullopt;
  return found.ifindex;
}

}  // namespace

Result<std::optional<uint32_t>> default_route_mtu(NlSocket& sock) {
  // Probes in the documentation ranges (RFC 5737, RFC 3849): only a default route covers
  // them on a sane node, and the lookup sends nothing. Asking the kernel beats dumping a
  // table that holds every BGP route and every Pod's host route.
  for (const char* probe : {"192.0.2.1", "2001:db8:ffff:ffff::1"}) {
    auto ifindex = default_route_ifindex(sock, *IpAddress::parse(probe));
    if (!ifindex) continue;
    rtnl_link* raw = nullptr;
    if (rtnl_link_get_kernel(sock.get(), *ifindex, nullptr, &raw) < 0) continue;
    LinkPtr link(raw);
    return std::optional<uint32_t>(rtnl_link_get_mtu(link.get()));
  }
  return std::optional<uint32_t>();
}

}  // namespace tern::routing::link
