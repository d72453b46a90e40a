#include "controller/ternd/admin_api.hpp"

#include <algorithm>
#include <ctime>

#include "bgp/mrt/mrt.hpp"
#include "bgp/wire/format.hpp"
#include "controller/ternd/metrics.hpp"

namespace tern::ternd {

namespace {

void fill(admin::Negotiated& out, const bgp::fsm::Negotiated& n) {
  out.set_peer_as(n.peer_as);
  out.set_peer_router_id(bgp::wire::bgp_id_to_string(n.peer_id));
  out.set_hold_time(n.hold_time);
  out.set_keepalive_time(n.hold_time / 3);
  for (const auto& f : n.families) out.add_families(bgp::wire::family_name(f));
  out.set_four_octet_as(n.four_octet_as);
  out.set_route_refresh(n.route_refresh);
  out.set_enhanced_route_refresh(n.enhanced_route_refresh);
  out.set_extended_message(n.extended_message);
  out.set_extended_next_hop(n.extended_next_hop);
  for (const auto& f : n.add_path_receive) out.add_add_path_receive(bgp::wire::family_name(f));
  for (const auto& f : n.add_path_send) out.add_add_path_send(bgp::wire::family_name(f));
  out.set_peer_graceful_restart(n.peer_graceful_restart.has_value());
  out.set_peer_hostname(n.peer_hostname);
}

// Every path of the Loc-RIB as RFC 6396 TABLE_DUMP_V2: the peers in a PEER_INDEX_TABLE
// (the node itself for its own blocks), then one RIB record per prefix.
std::string mrt_dump(const bgp::rib::Rib& rib) {
  bgp::mrt::PeerIndexTable index;
  index.collector_id = rib.peer(bgp::rib::kLocal).router_id;
  index.view_name = "ternd";
  std::vector<bgp::mrt::Rib> ribs;
  auto now = static_cast<uint32_t>(std::time(nullptr));
  for (const auto& route : rib.view()) {
    bgp::mrt::Rib r{static_cast<uint32_t>(ribs.size()), route.prefix, {}};
    for (const auto& p : route.paths) {
      bgp::mrt::Peer peer{p.peer_router_id, p.peer == "local" ? *IpAddress::parse("0.0.0.0") : p.peer_address,
                          p.peer_as};
      auto it = std::find(index.peers.begin(), index.peers.end(), peer);
      if (it == index.peers.end()) it = index.peers.insert(index.peers.end(), peer);
      bgp::mrt::RibEntry e;
      e.peer_index = static_cast<uint16_t>(it - index.peers.begin());
      e.originated = now;
      e.attributes = *p.attrs;
      if (e.attributes.mp_reach) {
        e.attributes.mp_reach->nlri.clear();
        if (e.attributes.mp_reach->next_hop.is_unspecified()) e.attributes.mp_reach.reset();  // the node's own
      }
      r.entries.push_back(std::move(e));
    }
    ribs.push_back(std::move(r));
  }
  auto bytes = bgp::mrt::write_table_dump(now, index, ribs);
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

admin::RibReply rib_reply(const bgp::rib::Rib& rib, const admin::RibRequest& request) {
  admin::RibReply reply;
  reply.set_ipv4_prefixes(rib.prefixes(Family::kIpv4));
  reply.set_ipv6_prefixes(rib.prefixes(Family::kIpv6));
  reply.set_paths(rib.paths());
  reply.set_attribute_sets(rib.attribute_sets());
  if (request.mrt()) {
    reply.set_mrt(mrt_dump(rib));
    return reply;
  }
  std::optional<Prefix> only;
  if (!request.prefix().empty()) {
    auto p = Prefix::parse(request.prefix());
    if (!p) {
      // An address: the most specific route that covers it, as `ip route get` does.
      auto a = IpAddress::parse(request.prefix());
      if (!a) return reply;
      for (int len = a->max_prefix_length(); len >= 0 && !only; --len) {
        Prefix candidate(a->masked(len), len);
        if (!rib.view(candidate).empty()) only = candidate;
      }
      if (!only) return reply;
    } else {
      only = *p;
    }
  }
  static const char* origins[] = {"igp", "egp", "incomplete"};
  for (const auto& r : rib.view(only)) {
    auto& route = *reply.add_routes();
    route.set_prefix(r.prefix.to_string());
    for (const auto& p : r.paths) {
      const auto& a = *p.attrs;
      auto& path = *route.add_paths();
      path.set_peer(p.peer);
      if (p.peer != "local") path.set_peer_address(p.peer_address.to_string());
      if (a.mp_reach && !a.mp_reach->next_hop.is_unspecified()) {
        path.set_next_hop(a.mp_reach->next_hop.to_string());
      } else if (a.next_hop) {
        path.set_next_hop(a.next_hop->to_string());
      }
      if (a.as_path) path.set_as_path(bgp::wire::to_string(*a.as_path));
      if (a.origin) path.set_origin(origins[static_cast<int>(*a.origin)]);
      if (a.local_pref) path.set_local_pref(*a.local_pref);
      if (a.med) path.set_med(*a.med);
      for (auto c : a.communities) path.add_communities(bgp::wire::community_to_string(c));
      for (const auto& c : a.large_communities) path.add_large_communities(bgp::wire::large_community_to_string(c));
      if (a.originator_id) path.set_originator_id(bgp::wire::bgp_id_to_string(*a.originator_id));
      for (auto c : a.cluster_list) path.add_cluster_list(bgp::wire::bgp_id_to_string(c));
      path.set_best(p.best);
      path.set_multipath(p.multipath);
      if (!p.best) path.set_not_best_because(std::string(bgp::rib::to_string(p.lost_because)));
      path.set_path_id(p.path_id);
    }
  }
  return reply;
}

admin::PeersReply peers_reply(const Node& node, std::chrono::steady_clock::time_point now) {
  const Config& config = node.config();
  const bgp::session::Speaker& speaker = node.speaker();
  admin::PeersReply reply;
  reply.set_node_name(config.node_name);
  reply.set_local_as(config.asn);
  reply.set_router_id(config.router_id.to_string());
  for (const auto& session : speaker.sessions()) {
    const auto& c = session->config();
    const auto& s = session->status();
    auto& p = *reply.add_peers();
    p.set_name(c.name);
    p.set_address(c.address.to_string());
    p.set_remote_as(c.expect.remote_as.value_or(0));
    p.set_internal(c.expect.internal);
    p.set_dynamic(c.dynamic);
    p.set_state(std::string(bgp::fsm::to_string(s.state)));
    auto seconds = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(now - s.since).count());
    if (s.state == bgp::fsm::State::kEstablished) {
      p.set_uptime_seconds(seconds);
    } else {
      p.set_down_seconds(seconds);
    }
    p.set_established_count(s.established_count);
    p.set_last_error(s.last_error);
    p.set_messages_in(s.messages_in);
    p.set_messages_out(s.messages_out);
    p.set_updates_in(s.updates_in);
    p.set_updates_out(s.updates_out);
    p.set_prefixes_in(s.prefixes_in);
    p.set_prefixes_out(s.prefixes_out);
    if (s.negotiated) fill(*p.mutable_negotiated(), *s.negotiated);
    if (s.local) {
      p.set_local_address(s.local->address().to_string());
      p.set_local_port(s.local->port());
    }
    if (s.remote) p.set_remote_port(s.remote->port());
    p.set_write_queue_bytes(s.write_queue_bytes);
    if (auto until = node.stale_until(c.address)) {
      p.set_stale_seconds_left(
          static_cast<uint64_t>(std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(*until - now).count())));
    }
  }
  return reply;
}

}  // namespace tern::ternd

namespace tern::ternd {

admin::RoutesReply routes_reply(const Node& node, const admin::RoutesRequest& request) {
  admin::RoutesReply reply;
  const auto& config = node.config();
  reply.set_table(config.routing.table);
  reply.set_protocol(config.routing.protocol);
  const auto& counters = node.fib_counters();
  reply.set_installed(counters.installed);
  reply.set_in_sync(counters.in_sync);
  reply.set_operations(counters.operations);
  reply.set_errors(counters.errors);
  const routing::Fib* fib = node.fib();
  if (!fib) return reply;
  reply.set_pending(fib->pending());
  std::optional<Prefix> only;
  if (!request.prefix().empty()) {
    auto p = Prefix::parse(request.prefix());
    if (p) only = *p;
  }
  std::vector<const routing::Route*> routes;
  if (!only) {
    routes = fib->desired();  // by prefix
  } else if (const routing::Route* r = fib->desired(*only)) {
    routes.push_back(r);
  }
  for (const auto* r : routes) {
    auto* out = reply.add_routes();
    out->set_prefix(r->prefix.to_string());
    out->set_type(r->type == routing::RouteType::kBlackhole     ? "blackhole"
                  : r->type == routing::RouteType::kUnreachable ? "unreachable"
                                                                : "unicast");
    out->set_metric(r->metric);
    for (const auto& nh : r->next_hops) {
      auto* hop = out->add_next_hops();
      if (nh.gateway) hop->set_gateway(nh.gateway->to_string());
      hop->set_ifindex(static_cast<uint32_t>(nh.ifindex));
      hop->set_weight(nh.weight);
      hop->set_onlink(nh.onlink);
    }
  }
  return reply;
}

admin::StatusReply status_reply(const Node& node, const IpamService& ipam, std::chrono::steady_clock::duration uptime) {
  admin::StatusReply reply;
  auto ready = readiness(node);
  reply.set_ready(ready.status == 200);
  if (ready.status != 200) reply.set_reason(ready.body);
  const Config& config = node.config();
  reply.set_node_name(config.node_name);
  reply.set_local_as(config.asn);
  reply.set_router_id(config.router_id.to_string());
  for (const auto& s : node.speaker().sessions()) {
    reply.set_peers_configured(reply.peers_configured() + 1);
    if (s->status().state == bgp::fsm::State::kEstablished) reply.set_peers_established(reply.peers_established() + 1);
  }
  reply.set_fib_in_sync(node.fib_counters().in_sync);
  reply.set_routes_installed(node.fib_counters().installed);
  reply.set_uptime_seconds(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(uptime).count()));
  for (const auto& u : ipam.usage()) fill(reply.add_blocks(), u);
  reply.set_allocations(ipam.allocations());
  return reply;
}

}  // namespace tern::ternd
