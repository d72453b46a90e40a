#include "controller/ternctl/peers.hpp"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

namespace tern::ctl {

std::string format_duration(uint64_t s) {
  if (s >= 86400) return fmt::format("{}d{:02}h", s / 86400, s % 86400 / 3600);
  return fmt::format("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60);
}

namespace {

std::string as_text(const admin::Peer& p) {
  if (p.remote_as() != 0) return std::to_string(p.remote_as());
  if (p.has_negotiated()) return std::to_string(p.negotiated().peer_as());
  return p.internal() ? "internal" : "external";
}

std::string join(const google::protobuf::RepeatedPtrField<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out.empty() ? "-" : out;
}

}  // namespace

void print_peers_table(const admin::PeersReply& r, std::ostream& out) {
  out << fmt::format("ternd {}  AS {}  router-id {}  {} peers\n\n", r.node_name(), r.local_as(), r.router_id(),
                     r.peers_size());
  out << fmt::format("{:<24} {:<11} {:<12} {:>9} {:>8} {:>8} {:>8} {:>8} {:>5}  {}\n", "Peer", "AS", "State",
                     "Up/Down", "MsgRcvd", "MsgSent", "PfxRcd", "PfxSnt", "Hold", "Last error");
  for (const auto& p : r.peers()) {
    std::string name = p.name() == p.address() ? p.address() : p.name() + " " + p.address();
    if (p.dynamic()) name += "*";
    bool up = p.state() == "Established";
    out << fmt::format("{:<24} {:<11} {:<12} {:>9} {:>8} {:>8} {:>8} {:>8} {:>5}  {}\n", name, as_text(p),
                       p.state(), format_duration(up ? p.uptime_seconds() : p.down_seconds()), p.messages_in(),
                       p.messages_out(), p.prefixes_in(), p.prefixes_out(),
                       p.has_negotiated() ? std::to_string(p.negotiated().hold_time()) : "-",
                       p.last_error().empty() ? "-" : p.last_error());
  }
  bool any_dynamic = false;
  for (const auto& p : r.peers()) any_dynamic |= p.dynamic();
  if (any_dynamic) out << "\n* dynamic neighbour (accepted from a listen range)\n";
}

void print_peer_detail(const admin::Peer& p, std::ostream& out) {
  out << fmt::format("Peer {} ({}), AS {}, {}{}\n", p.name(), p.address(), as_text(p), p.internal() ? "iBGP" : "eBGP",
                     p.dynamic() ? ", dynamic neighbour" : "");
  bool up = p.state() == "Established";
  out << fmt::format("  State {} for {}, established {} times\n", p.state(),
                     format_duration(up ? p.uptime_seconds() : p.down_seconds()), p.established_count());
  if (!p.local_address().empty()) {
    out << fmt::format("  Connection {}:{} -> {}:{}\n", p.local_address(), p.local_port(), p.address(),
                       p.remote_port());
  }
  if (p.has_negotiated()) {
    const auto& n = p.negotiated();
    out << fmt::format("  Peer router-id {}, AS {}{}\n", n.peer_router_id(), n.peer_as(),
                       n.peer_hostname().empty() ? "" : ", hostname " + n.peer_hostname());
    out << fmt::format("  Hold time {} s, keepalive {} s\n", n.hold_time(), n.keepalive_time());
    out << fmt::format("  Families: {}\n", join(n.families()));
    std::string caps;
    auto cap = [&](bool on, const char* name) {
      if (on) caps += (caps.empty() ? "" : ", ") + std::string(name);
    };
    cap(n.four_octet_as(), "4-octet AS");
    cap(n.route_refresh(), "route refresh");
    cap(n.enhanced_route_refresh(), "enhanced route refresh");
    cap(n.extended_message(), "extended message");
    cap(n.extended_next_hop(), "extended next hop");
    cap(n.peer_graceful_restart(), "graceful restart (peer)");
    out << fmt::format("  Capabilities: {}\n", caps.empty() ? "-" : caps);
    if (n.add_path_receive_size() || n.add_path_send_size()) {
      out << fmt::format("  ADD-PATH: receive {}; send {}\n", join(n.add_path_receive()), join(n.add_path_send()));
    }
  }
  out << fmt::format("  Messages: {} in, {} out; updates {} in, {} out\n", p.messages_in(), p.messages_out(),
                     p.updates_in(), p.updates_out());
  out << fmt::format("  Prefixes: {} received, {} sent\n", p.prefixes_in(), p.prefixes_out());
  if (p.write_queue_bytes()) out << fmt::format("  Write queue: {} bytes\n", p.write_queue_bytes());
  if (p.stale_seconds_left()) {
    out << fmt::format("  Graceful restart: the last session's routes kept, stale, {} more at most\n",
                       format_duration(p.stale_seconds_left()));
  }
  out << fmt::format("  Last error: {}\n", p.last_error().empty() ? "none" : p.last_error());
}

void print_rib(const admin::RibReply& r, std::ostream& out) {
  out << fmt::format("{} IPv4 and {} IPv6 prefixes, {} paths, {} attribute sets\n\n", r.ipv4_prefixes(),
                     r.ipv6_prefixes(), r.paths(), r.attribute_sets());
  out << fmt::format("   {:<28} {:<26} {:<16} {:>7} {:>6}  {:<10} {}\n", "Prefix", "Next hop", "Peer", "LocPrf",
                     "MED", "Origin", "AS path");
  for (const auto& route : r.routes()) {
    bool first = true;
    for (const auto& p : route.paths()) {
      const char* mark = p.best() ? "*>" : p.multipath() ? "*=" : "* ";
      out << fmt::format("{} {:<28} {:<26} {:<16} {:>7} {:>6}  {:<10} {}{}\n", mark, first ? route.prefix() : "",
                         p.next_hop().empty() ? "-" : p.next_hop(), p.peer(),
                         p.has_local_pref() ? std::to_string(p.local_pref()) : "-",
                         p.has_med() ? std::to_string(p.med()) : "-", p.origin(),
                         p.as_path().empty() ? "-" : p.as_path(),
                         p.not_best_because().empty() ? "" : "  (lost: " + p.not_best_because() + ")");
      first = false;
    }
  }
}

void print_routes(const admin::RoutesReply& r, std::ostream& out) {
  out << fmt::format("table {}  protocol {}  {} routes wanted, {} in the kernel, {} pending, {}\n\n", r.table(),
                     r.protocol(), r.routes_size(), r.installed(), r.pending(),
                     r.in_sync() ? "in sync" : "NOT in sync (see the log)");
  for (const auto& route : r.routes()) {
    std::string line = route.type() == "unicast" ? route.prefix() : route.type() + " " + route.prefix();
    for (const auto& nh : route.next_hops()) {
      line += route.next_hops_size() > 1 ? "\n    nexthop" : "";
      if (!nh.gateway().empty()) line += " via " + nh.gateway();
      if (nh.ifindex()) line += fmt::format(" ifindex {}", nh.ifindex());
      if (route.next_hops_size() > 1) line += fmt::format(" weight {}", nh.weight());
      if (nh.onlink()) line += " onlink";
    }
    out << line << fmt::format(" metric {}\n", route.metric());
  }
}

void print_ipam(const admin::IpamReply& r, std::ostream& out) {
  out << fmt::format("{:<28} {:>12} {:>12} {:>6}\n", "Block", "Capacity", "Used", "Use%");
  for (const auto& b : r.blocks()) {
    double percent = b.capacity() ? 100.0 * double(b.used()) / double(b.capacity()) : 100.0;
    out << fmt::format("{:<28} {:>12} {:>12} {:>5.1f}%\n", b.prefix(), b.capacity(), b.used(), percent);
  }
  out << fmt::format("\n{} allocations (journal {})\n", r.allocations_size(), r.journal());
  if (r.allocations_size()) {
    out << fmt::format("{:<34} {:<10} {:<16} {:<40} {}\n", "Container", "Interface", "Host end", "Pod", "Addresses");
    for (const auto& a : r.allocations()) {
      std::string pod = a.pod_name().empty() ? "-" : a.pod_namespace() + "/" + a.pod_name();
      std::string container = a.attachment().container_id();
      if (container.size() > 32) container = container.substr(0, 31) + "~";
      out << fmt::format("{:<34} {:<10} {:<16} {:<40} {}\n", container, a.attachment().ifname(), a.host_interface(), pod,
                         join(a.addresses()));
    }
  }
  if (r.spooled_releases()) out << fmt::format("{} releases applied from the CNI spool since start\n", r.spooled_releases());
  for (const auto& repair : r.repairs()) out << "repaired at start: " << repair << '\n';
}

void print_status(const admin::StatusReply& r, std::ostream& out) {
  out << fmt::format("ternd {}  AS {}  router-id {}  up {}\n", r.node_name(), r.local_as(), r.router_id(),
                     format_duration(r.uptime_seconds()));
  out << fmt::format("ready:    {}\n", r.ready() ? "yes" : "no");
  if (!r.ready()) out << r.reason();
  out << fmt::format("sessions: {} of {} established\n", r.peers_established(), r.peers_configured());
  out << fmt::format("kernel:   {} routes, {}\n", r.routes_installed(), r.fib_in_sync() ? "in sync" : "NOT in sync");
  uint64_t used = 0, capacity = 0;
  for (const auto& b : r.blocks()) used += b.used(), capacity += b.capacity();
  out << fmt::format("ipam:     {} Pods, {} of {} addresses in {} blocks\n", r.allocations(), used, capacity, r.blocks_size());
}

std::string to_json(const google::protobuf::Message& m) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &json, options);
  return json;
}

}  // namespace tern::ctl
