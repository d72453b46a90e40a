// tern's commands: how a Pod is wired into the routed network.
//
// ADD: the IPAM plugin (ipam.type, tern-ipam by default) gives the Pod its /32 (and
// /128); a veth pair joins the Pod's namespace to the node, the Pod end renamed CNI_IFNAME
// and holding the addresses, with a default route via a link-local gateway (169.254.1.1,
// fe80::1) whose neighbour entry points at the host end; the node routes each address to
// the host end with tern's protocol number. No bridge, no encapsulation: the node's
// kernel forwards the Pod's packets like any routed host's.
//
// A call runs on one thread from start to end (tern-standalone's only thread, or one of
// ternd's CNI workers), so entering the Pod's namespace (NetnsGuard) is safe.
#include "cni/tern_plugin.hpp"

#include <net/if.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>

#include "cni/delegate.hpp"
#include "cni/ipam_client.hpp"
#include "cni/names.hpp"
#include "cni/plugin.hpp"
#include "cni/spec.hpp"
#include "proto/admin_client.hpp"
#include "routing/link/link.hpp"
#include "routing/link/netns.hpp"
#include "routing/link/sysctl.hpp"

namespace tern::cni {
namespace {

namespace link = routing::link;
using nlohmann::json;

const IpAddress kGateway4 = *IpAddress::parse("169.254.1.1");
const IpAddress kGateway6 = *IpAddress::parse("fe80::1");

struct TernConf {
  NetConf net;
  uint32_t mtu = 0;  // 0: the MTU of the node's uplink (routed: no encapsulation overhead)
  std::string socket = admin::kDefaultSocketPath;
  uint8_t route_protocol = routing::kTernProtocol;
  std::string ipam_type = ipam::kType;
  // tern-ipam's configuration when ipam.type is tern-ipam: asked in-process, not run.
  std::optional<ipam::Conf> own_ipam;
};

TernConf parse_conf(const std::string& text, Command command) {
  TernConf conf;
  conf.net = parse_netconf(text, command);
  const auto& raw = conf.net.raw;
  if (auto mtu = uint_field(raw, "mtu", "", 65535)) {
    if (*mtu && *mtu < 1280) throw Failure(Code::kInvalidConfig, "mtu: at least 1280 (IPv6's minimum), or 0 for the uplink's");
    conf.mtu = static_cast<uint32_t>(*mtu);
  }
  auto socket = string_field(raw, "socket", "");
  if (auto protocol = uint_field(raw, "routeProtocol", "", 255)) conf.route_protocol = static_cast<uint8_t>(*protocol);
  if (raw.contains("ipMasq") && raw["ipMasq"] == true) {
    throw Failure(Code::kUnsupportedField, "ipMasq: tern routes Pod addresses and never masquerades them");
  }
  if (auto ipam = raw.find("ipam"); ipam != raw.end()) {
    if (!ipam->is_object()) throw Failure(Code::kInvalidConfig, "ipam: must be an object");
    if (auto type = string_field(*ipam, "type", "ipam.")) conf.ipam_type = *type;
  }
  if (conf.ipam_type == ipam::kType) conf.own_ipam = ipam::parse_conf(conf.net);
  // One socket to configure: tern-ipam's, unless tern is given its own.
  if (socket) {
    conf.socket = *socket;
  } else if (conf.own_ipam) {
    conf.socket = conf.own_ipam->socket;
  }
  return conf;
}

template <typename T>
T must(tern::Result<T> r, const std::string& what) {
  if (!r) throw Failure(Code::kIo, what + ": " + r.error().message);
  return std::move(r).value();
}
void must(const Status& s, const std::string& what) {
  if (!s) throw Failure(Code::kIo, what + ": " + s.error().message);
}

void set_sysctl(const std::string& path, const char* value) {
  must(link::write_sysctl(path, value), "sysctl " + path);
}

// A node-wide switch is written only when it differs: toggling forwarding resets other
// settings. (A new link's own settings are simply written.)
void ensure_sysctl(const std::string& path, const char* value) {
  auto now = link::read_sysctl(path);
  if (now && *now == value) return;
  set_sysctl(path, value);
}

link::NetnsFd open_netns(const Environment& env) {
  auto ns = link::NetnsFd::open(env.netns_path);
  if (!ns) throw Failure(Code::kUnknownContainer, "CNI_NETNS " + env.netns + ": " + ns.error().message);
  return std::move(*ns);
}

bool has_family(const PluginResult& r, Family f) {
  for (const auto& ip : r.ips) {
    if (ip.address.family() == f) return true;
  }
  return false;
}

// `allocated` gives the IPAM's result: called once the veth is made, so an allocation
// asked of ternd before wire() becomes durable while the kernel makes the veth.
PluginResult wire(const TernConf& conf, const Environment& env, const std::function<PluginResult()>& allocated) {
  auto host_sock = must(link::NlSocket::open(), "netlink");
  auto pod_ns = open_netns(env);
  std::string host_name = host_ifname(env.container_id, env.ifname);

  uint32_t mtu = conf.mtu;
  if (!mtu) mtu = must(link::default_route_mtu(host_sock), "the uplink's MTU").value_or(1500);

  // The host end born up (two round trips fewer). The link has no carrier until the Pod
  // end goes up, after the sysctls below: the host's link-local address must not start
  // DAD before accept_dad=0, or the node could not solicit the Pod's /128 for a second.
  link::VethSpec veth{host_name, env.ifname, &pod_ns, mtu, true};
  auto created = link::create_veth(host_sock, veth);
  if (!created && created.error().code == Errc::kAlreadyExists) {
    // Either the host end of an ADD that failed half-way (it goes, its Pod end with it,
    // and the pair is made again) or CNI_IFNAME is taken in the Pod.
    auto stale = link::delete_link(host_sock, host_name);
    if (stale) created = link::create_veth(host_sock, veth);
    if (!stale && stale.error().code != Errc::kNotFound) must(stale, "removing the stale " + host_name);
  }
  if (!created) {
    if (created.error().code == Errc::kAlreadyExists) {
      throw Failure(Code::kInvalidEnvironment, "CNI_IFNAME " + env.ifname + " already exists in " + env.netns);
    }
    must(created, "creating the veth pair");
  }
  auto host = must(link::get_link(host_sock, host_name), host_name);

  PluginResult ipam = allocated();
  if (ipam.ips.empty()) throw Failure(Code::kInvalidConfig, conf.ipam_type + " gave no address");
  bool v4 = has_family(ipam, Family::kIpv4), v6 = has_family(ipam, Family::kIpv6);

  // The node: a router for its Pods. proxy_arp/proxy_ndp let the host end answer for the
  // gateway should a Pod lose its neighbour entry; no router advertisements are taken
  // from a Pod, and no DAD wait before the host end's link-local address works.
  if (v4) {
    ensure_sysctl("net/ipv4/ip_forward", "1");
    set_sysctl(link::conf_path(Family::kIpv4, host_name, "proxy_arp"), "1");
    set_sysctl(link::neigh_path(Family::kIpv4, host_name, "proxy_delay"), "0");
  }
  if (v6) {
    ensure_sysctl("net/ipv6/conf/all/forwarding", "1");
    set_sysctl(link::conf_path(Family::kIpv6, host_name, "accept_ra"), "0");
    set_sysctl(link::conf_path(Family::kIpv6, host_name, "accept_dad"), "0");
    set_sysctl(link::conf_path(Family::kIpv6, host_name, "proxy_ndp"), "1");
  }
  if (v6) must(link::add_proxy_neighbour(host_sock, host.ifindex, kGateway6), "proxy NDP for fe80::1");

  link::LinkInfo pod;
  {
    auto guard = link::NetnsGuard::enter(pod_ns);
    if (!guard) throw Failure(Code::kIo, "entering " + env.netns + ": " + guard.error().message);
    auto pod_sock = must(link::NlSocket::open(), "netlink in the Pod");
    // A routed /128 needs no duplicate address detection: nothing else is on this link.
    if (v6) set_sysctl(link::conf_path(Family::kIpv6, env.ifname, "accept_dad"), "0");
    pod = must(link::get_link(pod_sock, env.ifname), env.ifname);
    for (const auto& ip : ipam.ips) {
      must(link::add_address(pod_sock, pod.ifindex, ip.address, ip.address.max_prefix_length(), true),
           "address " + ip.address.to_string());
    }
    must(link::set_link_up(pod_sock, pod.ifindex, true), "setting " + env.ifname + " up");
    // The gateway's neighbour entry in advance: the first packet leaves without an ARP
    // or NDP round trip, and the Pod's routes do not depend on the node's routing table.
    // The IPv4 gateway is on the link by fiat (onlink), without a route of its own.
    if (v4) {
      must(link::add_neighbour(pod_sock, pod.ifindex, kGateway4, host.mac), "neighbour 169.254.1.1");
      link::RouteSpec default_route{*Prefix::parse("0.0.0.0/0"), kGateway4, pod.ifindex};
      default_route.onlink = true;
      must(link::add_route(pod_sock, default_route), "default route");
    }
    if (v6) {
      must(link::add_neighbour(pod_sock, pod.ifindex, kGateway6, host.mac), "neighbour fe80::1");
      must(link::add_route(pod_sock, {*Prefix::parse("::/0"), kGateway6, pod.ifindex}), "IPv6 default route");
    }
  }

  for (const auto& ip : ipam.ips) {
    link::RouteSpec route{Prefix(ip.address, ip.address.max_prefix_length()), std::nullopt, host.ifindex,
                          link::RouteScope::kLink, conf.route_protocol};
    must(link::add_route(host_sock, route), "host route to " + ip.address.to_string());
  }

  PluginResult out;
  out.interfaces.push_back(Interface{host_name, link::to_string(host.mac), "", mtu});
  out.interfaces.push_back(Interface{env.ifname, link::to_string(pod.mac), env.netns, mtu});
  for (auto ip : ipam.ips) {
    ip.prefix_length = ip.address.max_prefix_length();
    ip.gateway = ip.address.is_v4() ? kGateway4 : kGateway6;
    ip.interface = 1;
    out.ips.push_back(ip);
  }
  if (v4) out.routes.push_back({*Prefix::parse("0.0.0.0/0"), kGateway4});
  if (v6) out.routes.push_back({*Prefix::parse("::/0"), kGateway6});
  out.dns = ipam.dns;
  return out;
}

// The IPAM's DEL (and CHECK, STATUS, GC): tern-ipam in-process, any other plugin run.
void ipam_command(const TernConf& conf, const Environment& env, const std::string& stdin_text, Command command) {
  if (!conf.own_ipam) {
    const char* names[] = {"ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION"};
    delegate(conf.ipam_type, env.path, names[static_cast<int>(command)], stdin_text);
    return;
  }
  switch (command) {
    case Command::kDel: ipam::del(*conf.own_ipam, env); break;
    case Command::kCheck: ipam::check(*conf.own_ipam, env, *conf.net.prev_result); break;
    case Command::kStatus: ipam::status(*conf.own_ipam); break;
    case Command::kGc: ipam::gc(*conf.own_ipam, conf.net.valid_attachments); break;
    default: throw Failure(Code::kInternal, "no such IPAM command");
  }
}

std::string add(const TernConf& conf, const Environment& env, const std::string& stdin_text) {
  try {
    PluginResult out;
    if (conf.own_ipam) {
      // Asked first, answered once durable: ternd's fdatasync overlaps the veth's making.
      auto pending = ipam::PendingAdd::start(*conf.own_ipam, env);
      if (pending.failed()) pending.finish();  // ternd unreachable: fail before making anything
      out = wire(conf, env, [&] { return pending.finish(); });
    } else {
      PluginResult ipam = parse_result(delegate(conf.ipam_type, env.path, "ADD", stdin_text));
      out = wire(conf, env, [&] { return ipam; });
    }
    return to_json(out, conf.net.cni_version).dump() + '\n';
  } catch (const Failure&) {
    // Nothing half-made stays behind: the veth (with the Pod end) goes, and the address
    // goes back, even when the IPAM's own ADD failed (ternd may have died after making
    // the allocation and before answering; the release is then spooled).
    if (auto sock = link::NlSocket::open()) (void)link::delete_link(*sock, host_ifname(env.container_id, env.ifname));
    try {
      ipam_command(conf, env, stdin_text, Command::kDel);
    } catch (const Failure&) {
    }
    throw;
  }
}

// Hands the host end to ternd, which deletes it (and the Pod end with it) after
// answering; false when ternd is not there to take it.
bool hand_to_ternd(const TernConf& conf, const std::string& name, unsigned ifindex) {
  auto client = admin::Client::connect(conf.socket, std::chrono::seconds(1));
  if (!client) return false;
  admin::Request request;
  request.mutable_delete_link()->set_name(name);
  request.mutable_delete_link()->set_ifindex(ifindex);
  auto response = client->call(request);
  return response && response->has_delete_link();
}

// The Pod end's name once retired: "ternx" and the host end's hash less its first digit
// (within IFNAMSIZ; it need only be unique in the Pod's namespace).
std::string retired_ifname(const std::string& host_name) { return "ternx" + host_name.substr(5); }

// Frees CNI_IFNAME in the Pod's namespace at once (down, then renamed), so an ADD that
// follows this DEL into the same namespace finds the name free while ternd still tears
// the pair down. False when the namespace or the interface is gone, or it is no veth.
bool retire_pod_end(const Environment& env, const std::string& host_name) {
  if (env.netns.empty()) return false;
  auto pod_ns = link::NetnsFd::open(env.netns_path);
  if (!pod_ns) return false;
  auto guard = link::NetnsGuard::enter(*pod_ns);
  if (!guard) return false;
  auto sock = link::NlSocket::open();
  if (!sock) return false;
  auto pod = link::get_link(*sock, env.ifname);
  if (!pod || pod->kind != "veth") return false;
  if (pod->up && !link::set_link_up(*sock, pod->ifindex, false)) return false;
  return bool(link::rename_link(*sock, env.ifname, retired_ifname(host_name)));
}

// Idempotent: a missing namespace, veth or allocation is success. The IPAM is always
// asked, so the address is released by container ID alone (containerd's second DEL has
// no namespace and no prevResult). The veth goes with ternd's help when it runs: the
// kernel's teardown of a veth pair is most of a DEL's time otherwise. (if_nametoindex
// looks the name up without the kernel's rtnl lock, which that teardown holds.) The Pod
// end is retired first, so the Pod's interface name is free when DEL returns.
void del(const TernConf& conf, const Environment& env, const std::string& stdin_text) {
  std::string name = host_ifname(env.container_id, env.ifname);
  unsigned ifindex = ::if_nametoindex(name.c_str());
  Status deleted;
  if (ifindex) {
    retire_pod_end(env, name);
    if (!hand_to_ternd(conf, name, ifindex)) {
      auto sock = must(link::NlSocket::open(), "netlink");
      deleted = link::delete_link(sock, name);  // the Pod end and the host routes go with it
    }
  }
  ipam_command(conf, env, stdin_text, Command::kDel);
  if (!deleted && deleted.error().code != Errc::kNotFound) must(deleted, "deleting " + name);
}

void check(const TernConf& conf, const Environment& env, const std::string& stdin_text) {
  const PluginResult& prev = *conf.net.prev_result;
  ipam_command(conf, env, stdin_text, Command::kCheck);
  auto fail = [](const std::string& what) { throw Failure(Code::kInternal, what); };
  auto host_sock = must(link::NlSocket::open(), "netlink");
  std::string host_name = host_ifname(env.container_id, env.ifname);
  auto host = link::get_link(host_sock, host_name);
  if (!host) fail("the host end " + host_name + " is missing");
  if (!host->up) fail("the host end " + host_name + " is down");
  // Each family's routes dumped once, and only the families prevResult has.
  std::map<Family, std::vector<link::RouteEntry>> host_routes, pod_routes;
  auto routes_of = [](link::NlSocket& sock, std::map<Family, std::vector<link::RouteEntry>>& cache, Family f)
      -> const std::vector<link::RouteEntry>& {
    auto it = cache.find(f);
    if (it == cache.end()) it = cache.emplace(f, must(link::list_routes(sock, f), "routes")).first;
    return it->second;
  };
  int pod_index = -1;
  for (size_t i = 0; i < prev.interfaces.size(); ++i) {
    if (prev.interfaces[i].name == env.ifname && !prev.interfaces[i].sandbox.empty()) pod_index = static_cast<int>(i);
  }
  if (pod_index < 0) fail("prevResult has no interface " + env.ifname + " in a sandbox");
  for (const auto& ip : prev.ips) {
    const auto& routes = routes_of(host_sock, host_routes, ip.address.family());
    Prefix p(ip.address, ip.address.max_prefix_length());
    bool routed = std::any_of(routes.begin(), routes.end(), [&](const link::RouteEntry& r) {
      return r.destination == p && r.ifindex == host->ifindex && r.protocol == conf.route_protocol;
    });
    if (!routed) fail("the node has no route to " + ip.address.to_string() + " via " + host_name);
  }
  auto pod_ns = open_netns(env);
  auto guard = link::NetnsGuard::enter(pod_ns);
  if (!guard) throw Failure(Code::kIo, "entering " + env.netns + ": " + guard.error().message);
  auto pod_sock = must(link::NlSocket::open(), "netlink in the Pod");
  auto pod = link::get_link(pod_sock, env.ifname);
  if (!pod) fail(env.ifname + " is missing in " + env.netns);
  if (!pod->up) fail(env.ifname + " is down");
  if (!prev.interfaces[pod_index].mac.empty() && prev.interfaces[pod_index].mac != link::to_string(pod->mac)) {
    fail(env.ifname + " has MAC " + link::to_string(pod->mac) + ", not " + prev.interfaces[pod_index].mac);
  }
  auto addresses = must(link::list_addresses(pod_sock, pod->ifindex), "addresses");
  for (const auto& ip : prev.ips) {
    if (ip.interface && *ip.interface != pod_index) continue;
    bool present = std::any_of(addresses.begin(), addresses.end(), [&](const link::AddressEntry& a) {
      return a.address == ip.address && a.prefix_length == ip.prefix_length;
    });
    if (!present) fail(env.ifname + " lacks " + ip.address.to_string() + "/" + std::to_string(ip.prefix_length));
  }
  // Routes: a later plugin in the chain may add its own, so only ours must be there.
  for (const auto& route : prev.routes) {
    const auto& routes = routes_of(pod_sock, pod_routes, route.destination.family());
    bool present = std::any_of(routes.begin(), routes.end(), [&](const link::RouteEntry& r) {
      return r.destination == route.destination && r.gateway == route.gateway;
    });
    if (!present) fail("the Pod has no route to " + route.destination.to_string());
  }
}

// Ready when ternd is up, its required sessions established and its routes in the
// kernel (containerd polls this before it starts Pods).
void status(const TernConf& conf, const Environment& env, const std::string& stdin_text) {
  auto client = admin::Client::connect(conf.socket, std::chrono::seconds(2));
  if (!client) throw Failure(Code::kNotAvailable, "ternd is not reachable: " + client.error().message);
  admin::Request request;
  request.mutable_status();
  auto response = client->call(request);
  if (!response) throw Failure(Code::kNotAvailable, "ternd: " + response.error().message);
  if (!response->has_status()) throw Failure(Code::kNotAvailable, "ternd does not answer STATUS (an older ternd?)");
  if (!response->status().ready()) {
    throw Failure(Code::kLimitedConnectivity, "the node's network is not ready", response->status().reason());
  }
  ipam_command(conf, env, stdin_text, Command::kStatus);
}

// Releases the addresses of attachments the runtime no longer lists (the IPAM), and
// removes host ends whose attachment is gone (a Pod whose DEL never came).
void gc(const TernConf& conf, const Environment& env, const std::string& stdin_text) {
  ipam_command(conf, env, stdin_text, Command::kGc);
  auto sock = must(link::NlSocket::open(), "netlink");
  std::set<std::string> keep;
  for (const auto& [container, ifname] : conf.net.valid_attachments) keep.insert(host_ifname(container, ifname));
  for (const auto& l : must(link::list_links(sock), "links")) {
    if (l.kind == "veth" && is_host_ifname(l.name) && !keep.count(l.name)) {
      (void)link::delete_link(sock, l.name);
    }
  }
}

// The command, on a configuration already parsed.
std::string dispatch(const TernConf& conf, const Environment& env, const std::string& stdin_text) {
  switch (env.command) {
    case Command::kAdd: return add(conf, env, stdin_text);
    case Command::kDel: del(conf, env, stdin_text); break;
    case Command::kCheck: check(conf, env, stdin_text); break;
    case Command::kStatus: status(conf, env, stdin_text); break;
    case Command::kGc: gc(conf, env, stdin_text); break;
    case Command::kVersion: break;
  }
  return "";
}

}  // namespace

std::string handle_tern(const Environment& env, const std::string& stdin_text, std::string* version) {
  auto conf = parse_conf(stdin_text, env.command);
  *version = conf.net.cni_version;
  return dispatch(conf, env, stdin_text);
}

std::optional<Outcome> run_tern_for_ternd(const std::string& socket,
                                          const std::function<const char*(const char*)>& getenv,
                                          const std::string& stdin_text, const std::string& netns_path) {
  bool declined = false;
  auto handle = [&](const Environment& env, const std::string& text, std::string* version) -> std::string {
    auto conf = parse_conf(text, env.command);
    *version = conf.net.cni_version;
    if (!conf.own_ipam || conf.own_ipam->socket != socket || conf.socket != socket) {
      declined = true;
      return "";
    }
    return dispatch(conf, env, text);
  };
  Outcome outcome = run_command(handle, getenv, stdin_text, netns_path);
  if (declined) return std::nullopt;
  return outcome;
}

}  // namespace tern::cni
