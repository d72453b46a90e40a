// ternd's configuration: a YAML file read strictly. An unknown key, a wrong type, a bad
// address or an AS out of range is an error naming the file, line, column and key.
// (The sessions issue's schema; later issues add pools, policy and the routing table.)
#pragma once

#include <string>
#include <vector>

#include "bgp/rib/rib.hpp"
#include "bgp/session/session.hpp"
#include "common/result.hpp"
#include "routing/protocol.hpp"

namespace tern::ternd {

// What the RIB needs of a peer beyond its session: its role and its policies.
struct PeerPolicy {
  bool rr_client = false;
  uint32_t advertisement_interval = 0;  // seconds between UPDATE batches to it (MRAI); 0: at once
  uint32_t max_prefix_restart = 0;      // seconds before a session closed for max-prefix restarts; 0: never
  bgp::rib::ImportPolicy import;
  bgp::rib::ExportPolicy exports;
  friend bool operator==(const PeerPolicy&, const PeerPolicy&) = default;
};

struct Config {
  std::string node_name;
  IpAddress router_id;
  bgp::wire::Asn asn = 0;
  uint16_t listen_port = 179;
  std::vector<IpAddress> listen_addresses;  // empty: every address, IPv4 and IPv6
  std::vector<Prefix> blocks;  // the node's Pod CIDRs: announced, never learned
  std::vector<Prefix> pools;   // the cluster's Pod pools: what peers may announce by default
  uint32_t cluster_id = 0;     // route reflection (RFC 4456); 0: the router ID
  bgp::rib::DecisionOptions decision{false, 4, true};
  // Graceful restart (RFC 4724) as the restarting speaker: the seconds peers keep this
  // node's routes after its sessions drop without a NOTIFICATION (ternd crashed or was
  // killed; the kernel's routes, and so forwarding, live on). 0: not offered.
  uint16_t graceful_restart = 120;
  std::vector<bgp::session::PeerConfig> peers;
  std::vector<PeerPolicy> peer_policies;   // by index of peers
  std::vector<PeerPolicy> range_policies;  // by index of dynamic_neighbors
  std::vector<IpAddress> required_peers;  // ternd is not ready (/readyz) until these are up
  std::vector<bgp::session::DynamicRange> dynamic_neighbors;
  size_t dynamic_neighbor_limit = 1000;
  std::string admin_socket = "/run/tern/ternd.sock";
  std::string http_listen = "127.0.0.1:9479";  // /metrics, /healthz, /readyz; empty: off
  struct Routing {
    bool install = true;           // best paths into the kernel
    uint32_t table = 254;          // main
    uint8_t protocol = routing::kTernProtocol;  // tern's routes are told apart by it
    // A metric of its own: the kernel replaces a route of the same prefix and metric
    // whatever its protocol, so tern must never share one with the connected routes
    // (metric 0) or anyone else's. (BIRD uses 32 for the same reason.)
    uint32_t metric = 32;
    bool blackhole_blocks = true;  // the node's blocks: what no Pod uses goes nowhere
    bool nexthop_objects = true;   // kernel nexthop objects (shared by routes); false: inline next hops
    uint32_t reconcile_interval = 60;  // seconds between level-triggered reconciles
    // After a start, the kernel is reconciled (what the last run left and nobody wants
    // goes) once every configured peer has sent its End-of-RIB, or after this many seconds.
    uint32_t startup_grace = 30;
  } routing;
  struct Ipam {
    // The allocation journal lives here (ipam.journal); every allocation is on disk
    // before the CNI plugin hears of it.
    std::string state_dir = "/var/lib/tern";
    // Where tern-ipam leaves the releases of Pods deleted while ternd was down; applied
    // at start. Default: <state_dir>/release-spool.
    std::string spool_dir;
    std::vector<IpAddress> reserved;  // never handed to a Pod
  } ipam;
  std::string log_level = "info";
};

Result<Config> load_config(const std::string& path);

// "65001", "4200000000" (asplain) or "64086.59904" (asdot, RFC 5396).
Result<bgp::wire::Asn> parse_asn(const std::string& text);

}  // namespace tern::ternd
