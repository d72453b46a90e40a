#include "bgp/wire/format.hpp"

#include <cstdio>

namespace tern::bgp::wire {

namespace {

std::string join_asns(const std::vector<Asn>& asns, const char* sep) {
  std::string s;
  for (size_t i = 0; i < asns.size(); ++i) s += (i ? sep : "") + std::to_string(asns[i]);
  return s;
}

std::string hex(const std::vector<uint8_t>& bytes) {
  std::string s;
  char buf[3];
  for (uint8_t b : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", b);
    s += buf;
  }
  return s;
}

}  // namespace

std::string family_name(AddressFamily f) {
  std::string afi = f.afi == Afi::kIpv4 ? "ipv4" : f.afi == Afi::kIpv6 ? "ipv6" : "afi" + std::to_string(static_cast<int>(f.afi));
  std::string safi = f.safi == Safi::kUnicast     ? "unicast"
                     : f.safi == Safi::kMulticast ? "multicast"
                                                  : "safi" + std::to_string(static_cast<int>(f.safi));
  return afi + "-" + safi;
}

std::string origin_name(Origin o) {
  switch (o) {
    case Origin::kIgp: return "igp";
    case Origin::kEgp: return "egp";
    case Origin::kIncomplete: return "incomplete";
  }
  return "?";
}

std::string to_string(const AsPath& path) {
  std::string s;
  for (const auto& seg : path.segments) {
    if (!s.empty()) s += ' ';
    switch (seg.type) {
      case AsSegmentType::kSequence: s += join_asns(seg.asns, " "); break;
      case AsSegmentType::kSet: s += "{" + join_asns(seg.asns, ",") + "}"; break;
      case AsSegmentType::kConfedSequence: s += "(" + join_asns(seg.asns, " ") + ")"; break;
      case AsSegmentType::kConfedSet: s += "[" + join_asns(seg.asns, ",") + "]"; break;
    }
  }
  return s;
}

std::string community_to_string(uint32_t c) {
  switch (c) {
    case community::kGracefulShutdown: return "graceful-shutdown";
    case community::kBlackhole: return "blackhole";
    case community::kNoExport: return "no-export";
    case community::kNoAdvertise: return "no-advertise";
    case community::kNoExportSubconfed: return "no-export-subconfed";
    case community::kNoPeer: return "no-peer";
  }
  return std::to_string(c >> 16) + ":" + std::to_string(c & 0xffff);
}

std::string large_community_to_string(const LargeCommunity& c) {
  return std::to_string(c.global_admin) + ":" + std::to_string(c.local1) + ":" + std::to_string(c.local2);
}

std::string extended_community_to_string(uint64_t c) {
  // RFC 4360 §3: type high octet, subtype; the common two-octet-AS, IPv4 and
  // four-octet-AS (RFC 5668) route targets and origins.
  uint8_t type = static_cast<uint8_t>(c >> 56), subtype = static_cast<uint8_t>(c >> 48);
  const char* kind = subtype == 0x02 ? "rt" : subtype == 0x03 ? "soo" : nullptr;
  if (kind && (type == 0x00 || type == 0x40)) {
    return std::string(kind) + " " + std::to_string((c >> 32) & 0xffff) + ":" + std::to_string(c & 0xffffffff);
  }
  if (kind && (type == 0x01 || type == 0x41)) {
    return std::string(kind) + " " + IpAddress::v4(static_cast<uint32_t>(c >> 16)).to_string() + ":" +
           std::to_string(c & 0xffff);
  }
  if (kind && (type == 0x02 || type == 0x42)) {
    return std::string(kind) + " " + std::to_string((c >> 16) & 0xffffffff) + ":" + std::to_string(c & 0xffff);
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(c));
  return buf;
}

std::string bgp_id_to_string(uint32_t id) { return IpAddress::v4(id).to_string(); }

std::string to_string(const Capabilities& caps) {
  std::string s;
  auto add = [&](const std::string& item) { s += (s.empty() ? "" : " ") + item; };
  for (const auto& f : caps.multiprotocol) add("mp(" + family_name(f) + ")");
  if (caps.route_refresh) add("route-refresh");
  if (caps.enhanced_route_refresh) add("enhanced-route-refresh");
  if (caps.four_octet_as) add("4-octet-as(" + std::to_string(*caps.four_octet_as) + ")");
  if (caps.extended_message) add("extended-message");
  if (const auto& gr = caps.graceful_restart) {
    std::string g = "graceful-restart(time " + std::to_string(gr->restart_time) + (gr->restarting ? " restarting" : "") +
                    (gr->notification ? " notification" : "");
    for (const auto& f : gr->families) g += " " + family_name(f.family) + (f.forwarding_preserved ? "+F" : "");
    add(g + ")");
  }
  if (const auto& llgr = caps.long_lived_graceful_restart) {
    std::string g = "llgr(";
    for (size_t i = 0; i < llgr->size(); ++i) {
      g += (i ? " " : "") + family_name((*llgr)[i].family) + " stale " + std::to_string((*llgr)[i].stale_time);
    }
    add(g + ")");
  }
  for (const auto& a : caps.add_path) {
    const char* mode = a.mode == AddPathMode::kReceive ? "rx" : a.mode == AddPathMode::kSend ? "tx" : "rx/tx";
    add("add-path(" + family_name(a.family) + " " + mode + ")");
  }
  for (const auto& e : caps.extended_next_hop) {
    add("extended-nexthop(" + family_name({e.nlri_afi, static_cast<Safi>(e.nlri_safi)}) + " via " +
        (e.next_hop_afi == Afi::kIpv6 ? "ipv6" : "ipv4") + ")");
  }
  if (caps.fqdn) add("fqdn(" + caps.fqdn->hostname + (caps.fqdn->domain.empty() ? "" : "." + caps.fqdn->domain) + ")");
  for (const auto& u : caps.unknown) add("cap" + std::to_string(u.code) + (u.value.empty() ? "" : "(" + hex(u.value) + ")"));
  return s;
}

std::string to_string(const PathAttributes& a) {
  std::string s;
  auto add = [&](const std::string& item) { s += (s.empty() ? "" : " ") + item; };
  if (a.origin) add("origin " + origin_name(*a.origin));
  if (a.as_path) add("as-path [" + to_string(*a.as_path) + "]");
  if (a.next_hop) add("next-hop " + a.next_hop->to_string());
  if (a.mp_reach) {
    add("mp-next-hop " + a.mp_reach->next_hop.to_string() +
        (a.mp_reach->link_local ? "," + a.mp_reach->link_local->to_string() : ""));
  }
  if (a.med) add("med " + std::to_string(*a.med));
  if (a.local_pref) add("local-pref " + std::to_string(*a.local_pref));
  if (a.atomic_aggregate) add("atomic-aggregate");
  if (a.aggregator) add("aggregator " + std::to_string(a.aggregator->asn) + ":" + a.aggregator->address.to_string());
  if (!a.communities.empty()) {
    std::string c = "communities";
    for (uint32_t x : a.communities) c += " " + community_to_string(x);
    add(c);
  }
  if (!a.large_communities.empty()) {
    std::string c = "large-communities";
    for (const auto& x : a.large_communities) c += " " + large_community_to_string(x);
    add(c);
  }
  if (!a.extended_communities.empty()) {
    std::string c = "ext-communities";
    for (uint64_t x : a.extended_communities) c += " " + extended_community_to_string(x);
    add(c);
  }
  if (a.originator_id) add("originator-id " + bgp_id_to_string(*a.originator_id));
  if (!a.cluster_list.empty()) {
    std::string c = "cluster-list";
    for (uint32_t x : a.cluster_list) c += " " + bgp_id_to_string(x);
    add(c);
  }
  for (const auto& u : a.unknown) add("attr" + std::to_string(u.type) + "(" + hex(u.value) + ")");
  return s;
}

std::string notification_to_string(uint8_t code, uint8_t subcode, const std::vector<uint8_t>& data) {
  std::string s = std::to_string(code) + "/" + std::to_string(subcode);
  auto code_name = error_code_name(code);
  auto sub_name = error_subcode_name(code, subcode);
  if (!code_name.empty()) s += " " + std::string(code_name);
  if (!sub_name.empty()) s += " / " + std::string(sub_name);
  if (auto msg = shutdown_message(code, subcode, data)) {
    s += " \"" + *msg + "\"";
  } else if (!data.empty()) {
    s += " data " + hex(data);
  }
  return s;
}

std::string describe(const Message& m) {
  if (const auto* o = std::get_if<Open>(&m)) {
    return "OPEN version " + std::to_string(o->version) + " as " + std::to_string(o->asn()) + " hold " +
           std::to_string(o->hold_time) + " id " + bgp_id_to_string(o->bgp_identifier) + " capabilities " +
           to_string(o->capabilities);
  }
  if (const auto* u = std::get_if<Update>(&m)) {
    if (auto eor = end_of_rib(*u)) return "UPDATE end-of-rib " + family_name(*eor);
    size_t announced = u->nlri.size() + (u->attributes.mp_reach ? u->attributes.mp_reach->nlri.size() : 0);
    size_t withdrawn = u->withdrawn.size() + (u->attributes.mp_unreach ? u->attributes.mp_unreach->withdrawn.size() : 0);
    std::string s = "UPDATE announce " + std::to_string(announced) + " withdraw " + std::to_string(withdrawn);
    auto attrs = to_string(u->attributes);
    return attrs.empty() ? s : s + " " + attrs;
  }
  if (const auto* n = std::get_if<Notification>(&m)) return "NOTIFICATION " + notification_to_string(n->code, n->subcode, n->data);
  if (std::holds_alternative<Keepalive>(m)) return "KEEPALIVE";
  const auto& rr = std::get<RouteRefresh>(m);
  const char* sub = rr.subtype == RouteRefresh::kRequest     ? ""
                    : rr.subtype == RouteRefresh::kBeginning ? " begin"
                    : rr.subtype == RouteRefresh::kEnd       ? " end"
                                                              : " unknown-subtype";
  return "ROUTE-REFRESH " + family_name(rr.family) + sub;
}

}  // namespace tern::bgp::wire
