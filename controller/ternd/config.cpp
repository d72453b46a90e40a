#include "controller/ternd/config.hpp"

#include <yaml-cpp/yaml.h>

#include "controller/http/http_server.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <fstream>
#include <set>
#include <sstream>

namespace tern::ternd {

namespace {

namespace wire = bgp::wire;

// Errors carry where they are: "FILE:LINE:COLUMN: KEY: what".
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  Error error(const YAML::Node& at, const std::string& key, const std::string& what) const {
    auto m = at.Mark();
    std::string where = file_;
    if (!m.is_null()) where += ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
    return make_error(Errc::kInvalidArgument, where + ": " + key + ": " + what);
  }

  // Only the known keys may appear in a mapping.
  Status keys(const YAML::Node& map, const std::string& path, const std::set<std::string>& known) const {
    if (!map.IsMap()) return error(map, path, "must be a mapping");
    for (const auto& kv : map) {
      auto key = kv.first.as<std::string>();
      if (!known.count(key)) {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        return error(kv.first, join(path, key), "unknown key (known: " + list + ")");
      }
    }
    return {};
  }

  Result<std::string> string(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) return error(n, key, "must be a value");
    return n.Scalar();
  }

  Result<uint64_t> number(const YAML::Node& n, const std::string& key, uint64_t min, uint64_t max) const {
    if (!n.IsScalar()) return error(n, key, "must be a number");
    const auto& s = n.Scalar();
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return error(n, key, "'" + s + "' is not a number");
    if (v < min || v > max) {
      return error(n, key, std::to_string(v) + " is out of range " + std::to_string(min) + ".." + std::to_string(max));
    }
    return v;
  }

  Result<bool> boolean(const YAML::Node& n, const std::string& key) const {
    if (n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "false")) return n.Scalar() == "true";
    return error(n, key, "must be true or false");
  }

  Result<IpAddress> address(const YAML::Node& n, const std::string& key) const {
    auto s = string(n, key);
    if (!s) return s.error();
    auto a = IpAddress::parse(*s);
    if (!a) return error(n, key, a.error().message);
    return *a;
  }

  Result<wire::Asn> asn(const YAML::Node& n, const std::string& key) const {
    auto s = string(n, key);
    if (!s) return s.error();
    auto a = parse_asn(*s);
    if (!a) return error(n, key, a.error().message);
    return *a;
  }

  static std::string join(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The settings a peer and a peer template share.
const std::set<std::string> kPeerSettings{"remote_as", "port",   "passive",  "hold_time", "connect_retry",
                                          "password",  "password_file", "source", "multihop", "gtsm", "families",
                                          "route_reflector_client", "import", "export", "advertisement_interval",
                                          "delay_open"};

// A peer's keys, falling back to its template's: a value is read, and its errors are
// reported, where it is written.
class PeerNode {
 public:
  PeerNode(const YAML::Node& peer, const YAML::Node& tmpl, std::string path, std::string tmpl_path)
      : peer_(peer), tmpl_(tmpl), path_(std::move(path)), tmpl_path_(std::move(tmpl_path)) {}
  YAML::Node operator[](const char* key) const {
    if (peer_[key]) return peer_[key];
    if (tmpl_ && tmpl_[key]) return tmpl_[key];
    return YAML::Node(YAML::NodeType::Undefined);
  }
  std::string path(const char* key) const {
    return (peer_[key] || !tmpl_ || !tmpl_[key] ? path_ : tmpl_path_) + "." + key;
  }
  const YAML::Node& node() const { return peer_; }
  const std::string& base() const { return path_; }

 private:
  YAML::Node peer_, tmpl_;
  std::string path_, tmpl_path_;
};

// Reads one peer (or a dynamic neighbour's template, given the range's address); the
// defaults follow what operators expect of FRR and BIRD.
Result<bgp::session::PeerConfig> read_peer(const Reader& r, const PeerNode& n, const IpAddress& address,
                                           const Config& node, uint16_t hold_time, uint32_t connect_retry) {
  const std::string& path = n.base();
  bgp::session::PeerConfig p;
  if (!n["remote_as"]) return r.error(n.node(), path + ".remote_as", "required (an AS number, internal or external)");
  p.address = address;
  p.name = p.address.to_string();
  if (n["name"]) {
    auto name = r.string(n["name"], path + ".name");
    if (!name) return name.error();
    p.name = *name;
  }
  const auto& ras = n["remote_as"];
  if (ras.IsScalar() && (ras.Scalar() == "internal" || ras.Scalar() == "external")) {
    p.expect.internal = ras.Scalar() == "internal";
    if (p.expect.internal) p.expect.remote_as = node.asn;
  } else {
    auto as = r.asn(ras, n.path("remote_as"));
    if (!as) return as.error();
    p.expect.remote_as = *as;
    p.expect.internal = *as == node.asn;
  }
  auto optional_number = [&](const char* key, uint64_t min, uint64_t max, uint64_t fallback) -> Result<uint64_t> {
    if (!n[key]) return fallback;
    return r.number(n[key], n.path(key), min, max);
  };
  auto port = optional_number("port", 1, 65535, 179);
  if (!port) return port.error();
  p.port = static_cast<uint16_t>(*port);
  auto hold = optional_number("hold_time", 0, 65535, hold_time);
  if (!hold) return hold.error();
  if (*hold == 1 || *hold == 2) return r.error(n["hold_time"], n.path("hold_time"), "must be 0 or at least 3 (RFC 4271)");
  auto retry = optional_number("connect_retry", 1, 3600, connect_retry);
  if (!retry) return retry.error();
  // iBGP sessions run between loopbacks as often as not: TTL 255 unless told otherwise.
  auto multihop = optional_number("multihop", 1, 255, p.expect.internal ? 255 : 1);
  if (!multihop) return multihop.error();
  p.ttl = static_cast<int>(*multihop);
  if (n["gtsm"]) {
    auto gtsm = r.boolean(n["gtsm"], n.path("gtsm"));
    if (!gtsm) return gtsm.error();
    p.gtsm = *gtsm;
    if (p.gtsm && p.ttl > 254) p.ttl = 1;  // GTSM counts hops; a directly connected peer is one
  }
  if (n["passive"]) {
    auto passive = r.boolean(n["passive"], n.path("passive"));
    if (!passive) return passive.error();
    p.timers.passive = *passive;
  }
  if (n["password"] && n["password_file"]) {
    return r.error(n["password_file"], n.path("password_file"), "give password or password_file, not both");
  }
  if (n["password"]) {
    auto pw = r.string(n["password"], n.path("password"));
    if (!pw) return pw.error();
    p.password = *pw;
  }
  if (n["password_file"]) {
    auto file = r.string(n["password_file"], n.path("password_file"));
    if (!file) return file.error();
    std::ifstream in(*file);
    if (!in) return r.error(n["password_file"], n.path("password_file"), "cannot read " + *file);
    std::getline(in, p.password);
  }
  if (p.password.size() > 80) {
    const char* key = n["password"] ? "password" : "password_file";
    return r.error(n[key], n.path(key), "longer than 80 bytes (TCP_MD5SIG_MAXKEYLEN)");
  }
  if (n["source"]) {
    auto source = r.address(n["source"], n.path("source"));
    if (!source) return source.error();
    if (source->family() != p.address.family()) return r.error(n["source"], n.path("source"), "not the peer's address family");
    p.source = *source;
  }
  p.offer.families = {p.address.is_v4() ? wire::kIpv4Unicast : wire::kIpv6Unicast};
  if (n["families"]) {
    const auto& f = n["families"];
    if (!f.IsSequence()) return r.error(f, n.path("families"), "must be a list");
    p.offer.families.clear();
    for (const auto& item : f) {
      auto name = r.string(item, n.path("families"));
      if (!name) return name.error();
      if (*name == "ipv4-unicast") {
        p.offer.families.push_back(wire::kIpv4Unicast);
      } else if (*name == "ipv6-unicast") {
        p.offer.families.push_back(wire::kIpv6Unicast);
      } else {
        return r.error(item, n.path("families"), "unknown family '" + *name + "' (ipv4-unicast, ipv6-unicast)");
      }
    }
  }
  p.offer.asn = node.asn;
  p.offer.bgp_id = node.router_id.v4_host_order();
  p.offer.hold_time = static_cast<uint16_t>(*hold);
  p.offer.fqdn = wire::Fqdn{node.node_name, ""};
  if (node.graceful_restart) {
    // The families as offered; whether forwarding survived (R and F bits) is the
    // running node's to say (Node::offer_graceful_restart).
    wire::GracefulRestart gr;
    gr.restart_time = node.graceful_restart;
    for (auto f : p.offer.families) gr.families.push_back({f, false});
    p.offer.graceful_restart = std::move(gr);
  }
  auto delay_open = optional_number("delay_open", 0, 240, 0);
  if (!delay_open) return delay_open.error();
  p.timers.delay_open = std::chrono::seconds(*delay_open);
  p.timers.hold_time = static_cast<uint16_t>(*hold);
  p.timers.connect_retry = std::chrono::seconds(*retry);
  p.timers.seed = p.address.is_v4() ? p.address.v4_host_order() : p.address.bytes()[15];
  return p;
}

Result<Prefix> prefix(const Reader& r, const YAML::Node& n, const std::string& key) {
  auto text = r.string(n, key);
  if (!text) return text.error();
  auto p = Prefix::parse(*text);
  if (!p) return r.error(n, key, p.error().message);
  if (p->address() != p->address().masked(p->length())) {
    return r.error(n, key, "'" + *text + "' has host bits set (did you mean " + Prefix(p->address().masked(p->length()), p->length()).to_string() + "?)");
  }
  return *p;
}

Result<std::vector<Prefix>> prefixes(const Reader& r, const YAML::Node& n, const std::string& key) {
  if (!n.IsSequence()) return r.error(n, key, "must be a list of prefixes");
  std::vector<Prefix> out;
  for (const auto& item : n) {
    auto p = prefix(r, item, key);
    if (!p) return p.error();
    out.push_back(*p);
  }
  return out;
}

// "65001:100", or a well-known name (RFC 1997).
Result<uint32_t> community(const Reader& r, const YAML::Node& n, const std::string& key) {
  auto text = r.string(n, key);
  if (!text) return text.error();
  static const std::map<std::string, uint32_t> names{{"no-export", wire::community::kNoExport},
                                                     {"no-advertise", wire::community::kNoAdvertise},
                                                     {"graceful-shutdown", wire::community::kGracefulShutdown}};
  if (auto it = names.find(*text); it != names.end()) return it->second;
  unsigned a = 0, b = 0;
  char tail = 0;
  if (std::sscanf(text->c_str(), "%u:%u%c", &a, &b, &tail) == 2 && a <= 0xffff && b <= 0xffff) return a << 16 | b;
  return r.error(n, key, "'" + *text + "' is not a community (ASN:VALUE, or no-export, no-advertise, graceful-shutdown)");
}

Result<wire::LargeCommunity> large_community(const Reader& r, const YAML::Node& n, const std::string& key) {
  auto text = r.string(n, key);
  if (!text) return text.error();
  unsigned long a = 0, b = 0, c = 0;
  char tail = 0;
  if (std::sscanf(text->c_str(), "%lu:%lu:%lu%c", &a, &b, &c, &tail) == 3 && a <= 0xffffffff && b <= 0xffffffff &&
      c <= 0xffffffff) {
    return wire::LargeCommunity{static_cast<uint32_t>(a), static_cast<uint32_t>(b), static_cast<uint32_t>(c)};
  }
  return r.error(n, key, "'" + *text + "' is not a large community (GLOBAL:LOCAL1:LOCAL2)");
}

// A peer's role and policies. Import defaults to the cluster's pools, any length within
// them, never the node's own blocks; export to the node's own blocks only.
Result<PeerPolicy> read_policy(const Reader& r, const PeerNode& n, const Config& node) {
  PeerPolicy p;
  if (n["route_reflector_client"]) {
    auto v = r.boolean(n["route_reflector_client"], n.path("route_reflector_client"));
    if (!v) return v.error();
    p.rr_client = *v;
  }
  if (n["advertisement_interval"]) {
    auto v = r.number(n["advertisement_interval"], n.path("advertisement_interval"), 0, 600);
    if (!v) return v.error();
    p.advertisement_interval = static_cast<uint32_t>(*v);
  }
  p.import.deny = node.blocks;
  for (const auto& pool : node.pools) p.import.allow.push_back({pool, pool.length(), pool.address().max_prefix_length()});
  if (const auto im = n["import"]) {
    std::string path = n.path("import");
    if (auto st = r.keys(im, path, {"allow", "accept_default_route", "max_prefixes", "max_prefix_action",
                                    "max_prefix_restart"});
        !st) {
      return st.error();
    }
    if (const auto allow = im["allow"]) {
      if (!allow.IsSequence()) return r.error(allow, path + ".allow", "must be a list");
      p.import.allow.clear();
      for (const auto& a : allow) {
        if (auto st = r.keys(a, path + ".allow", {"prefix", "min_length", "max_length"}); !st) return st.error();
        if (!a["prefix"]) return r.error(a, path + ".allow.prefix", "required");
        auto within = prefix(r, a["prefix"], path + ".allow.prefix");
        if (!within) return within.error();
        int max = within->address().max_prefix_length();
        bgp::rib::ImportPolicy::Allow entry{*within, within->length(), max};
        if (a["min_length"]) {
          auto v = r.number(a["min_length"], path + ".allow.min_length", 0, static_cast<uint64_t>(max));
          if (!v) return v.error();
          entry.min_length = static_cast<int>(*v);
        }
        if (a["max_length"]) {
          auto v = r.number(a["max_length"], path + ".allow.max_length", static_cast<uint64_t>(entry.min_length),
                            static_cast<uint64_t>(max));
          if (!v) return v.error();
          entry.max_length = static_cast<int>(*v);
        }
        p.import.allow.push_back(entry);
      }
    }
    if (im["accept_default_route"]) {
      auto v = r.boolean(im["accept_default_route"], path + ".accept_default_route");
      if (!v) return v.error();
      p.import.accept_default_route = *v;
      if (*v) {
        p.import.allow.push_back({*Prefix::parse("0.0.0.0/0"), 0, 0});
        p.import.allow.push_back({*Prefix::parse("::/0"), 0, 0});
      }
    }
    if (im["max_prefixes"]) {
      auto v = r.number(im["max_prefixes"], path + ".max_prefixes", 1, 100000000);
      if (!v) return v.error();
      p.import.max_prefixes = static_cast<uint32_t>(*v);
    }
    if (im["max_prefix_action"]) {
      auto v = r.string(im["max_prefix_action"], path + ".max_prefix_action");
      if (!v) return v.error();
      if (*v != "warn" && *v != "teardown") return r.error(im["max_prefix_action"], path + ".max_prefix_action", "warn or teardown");
      p.import.max_prefix_teardown = *v == "teardown";
    }
    if (im["max_prefix_restart"]) {
      auto v = r.number(im["max_prefix_restart"], path + ".max_prefix_restart", 0, 86400);
      if (!v) return v.error();
      p.max_prefix_restart = static_cast<uint32_t>(*v);
    }
  }
  if (const auto ex = n["export"]) {
    std::string path = n.path("export");
    if (auto st = r.keys(ex, path, {"local", "learned", "next_hop_self", "communities", "large_communities", "prepend",
                                    "med", "local_pref"});
        !st) {
      return st.error();
    }
    for (auto [key, field] : {std::pair{"local", &p.exports.local}, std::pair{"learned", &p.exports.learned},
                              std::pair{"next_hop_self", &p.exports.next_hop_self}}) {
      if (!ex[key]) continue;
      auto v = r.boolean(ex[key], path + "." + key);
      if (!v) return v.error();
      *field = *v;
    }
    if (const auto cs = ex["communities"]) {
      if (!cs.IsSequence()) return r.error(cs, path + ".communities", "must be a list");
      for (const auto& c : cs) {
        auto v = community(r, c, path + ".communities");
        if (!v) return v.error();
        p.exports.communities.push_back(*v);
      }
    }
    if (const auto cs = ex["large_communities"]) {
      if (!cs.IsSequence()) return r.error(cs, path + ".large_communities", "must be a list");
      for (const auto& c : cs) {
        auto v = large_community(r, c, path + ".large_communities");
        if (!v) return v.error();
        p.exports.large_communities.push_back(*v);
      }
    }
    if (ex["prepend"]) {
      auto v = r.number(ex["prepend"], path + ".prepend", 0, 10);
      if (!v) return v.error();
      p.exports.prepend = static_cast<uint32_t>(*v);
    }
    for (auto [key, field] : {std::pair{"med", &p.exports.med}, std::pair{"local_pref", &p.exports.local_pref}}) {
      if (!ex[key]) continue;
      auto v = r.number(ex[key], path + "." + key, 0, 0xffffffff);
      if (!v) return v.error();
      *field = static_cast<uint32_t>(*v);
    }
  }
  return p;
}

}  // namespace

Result<wire::Asn> parse_asn(const std::string& text) {
  auto number = [](std::string_view s, uint64_t max, uint64_t& out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size() && !s.empty() && out <= max;
  };
  auto dot = text.find('.');
  uint64_t high = 0, low = 0;
  if (dot == std::string::npos) {
    if (number(text, 0xffffffffu, low) && low != 0) return static_cast<wire::Asn>(low);
  } else if (number(std::string_view(text).substr(0, dot), 0xffff, high) &&
             number(std::string_view(text).substr(dot + 1), 0xffff, low) && (high || low)) {
    return static_cast<wire::Asn>(high << 16 | low);
  }
  return make_error(Errc::kInvalidArgument,
                    "'" + text + "' is not an AS number (1..4294967295 asplain, or asdot like 64086.59904)");
}

Result<Config> load_config(const std::string& path) {
  Reader r(path);
  YAML::Node root;
  try {
    std::ifstream probe(path);
    if (!probe) return make_error(Errc::kNotFound, path + ": cannot read the file");
    root = YAML::Load(read_file(path));
  } catch (const YAML::Exception& e) {
    return make_error(Errc::kInvalidArgument, path + ":" + std::to_string(e.mark.line + 1) + ":" +
                                                  std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (auto st = r.keys(root, "", {"node", "pools", "bgp", "peers", "peer_templates", "dynamic_neighbors", "admin",
                                  "http", "routing", "ipam", "log_level"});
      !st) {
    return st.error();
  }
  Config c;
  const auto& node = root["node"];
  if (!node) return r.error(root, "node", "required");
  if (auto st = r.keys(node, "node", {"name", "router_id", "as", "blocks"}); !st) return st.error();
  for (const char* key : {"name", "router_id", "as"}) {
    if (!node[key]) return r.error(node, std::string("node.") + key, "required");
  }
  auto name = r.string(node["name"], "node.name");
  if (!name) return name.error();
  c.node_name = *name;
  auto id = r.address(node["router_id"], "node.router_id");
  if (!id) return id.error();
  if (!id->is_v4() || id->is_unspecified()) return r.error(node["router_id"], "node.router_id", "must be a non-zero IPv4 address");
  c.router_id = *id;
  auto as = r.asn(node["as"], "node.as");
  if (!as) return as.error();
  c.asn = *as;
  if (node["blocks"]) {
    auto blocks = prefixes(r, node["blocks"], "node.blocks");
    if (!blocks) return blocks.error();
    c.blocks = *blocks;
  }
  if (root["pools"]) {
    auto pools = prefixes(r, root["pools"], "pools");
    if (!pools) return pools.error();
    c.pools = *pools;
  }
  for (const auto& b : c.blocks) {
    if (!c.pools.empty() && std::none_of(c.pools.begin(), c.pools.end(), [&](const Prefix& p) { return p.contains(b); })) {
      return r.error(node["blocks"], "node.blocks", b.to_string() + " is in none of the pools");
    }
  }

  uint16_t hold_time = 90;
  uint32_t connect_retry = 5;
  if (const auto& bgp = root["bgp"]) {
    if (auto st = r.keys(bgp, "bgp", {"listen_port", "listen_addresses", "hold_time", "connect_retry",
                                      "dynamic_neighbor_limit", "cluster_id", "max_paths", "multipath_relax",
                                      "always_compare_med", "graceful_restart"});
        !st) {
      return st.error();
    }
    if (bgp["cluster_id"]) {
      auto id = r.address(bgp["cluster_id"], "bgp.cluster_id");
      if (!id) return id.error();
      if (!id->is_v4()) return r.error(bgp["cluster_id"], "bgp.cluster_id", "must be an IPv4 address (a 32-bit ID)");
      c.cluster_id = id->v4_host_order();
    }
    if (bgp["max_paths"]) {
      auto v = r.number(bgp["max_paths"], "bgp.max_paths", 1, 64);
      if (!v) return v.error();
      c.decision.max_paths = *v;
    }
    for (auto [key, field] : {std::pair{"multipath_relax", &c.decision.multipath_relax},
                              std::pair{"always_compare_med", &c.decision.always_compare_med}}) {
      if (!bgp[key]) continue;
      auto v = r.boolean(bgp[key], std::string("bgp.") + key);
      if (!v) return v.error();
      *field = *v;
    }
    if (bgp["dynamic_neighbor_limit"]) {
      auto limit = r.number(bgp["dynamic_neighbor_limit"], "bgp.dynamic_neighbor_limit", 0, 100000);
      if (!limit) return limit.error();
      c.dynamic_neighbor_limit = *limit;
    }
    if (bgp["listen_port"]) {
      auto port = r.number(bgp["listen_port"], "bgp.listen_port", 1, 65535);
      if (!port) return port.error();
      c.listen_port = static_cast<uint16_t>(*port);
    }
    if (bgp["listen_addresses"]) {
      if (!bgp["listen_addresses"].IsSequence()) return r.error(bgp["listen_addresses"], "bgp.listen_addresses", "must be a list");
      for (const auto& a : bgp["listen_addresses"]) {
        auto addr = r.address(a, "bgp.listen_addresses");
        if (!addr) return addr.error();
        c.listen_addresses.push_back(*addr);
      }
    }
    if (bgp["hold_time"]) {
      auto hold = r.number(bgp["hold_time"], "bgp.hold_time", 0, 65535);
      if (!hold) return hold.error();
      if (*hold == 1 || *hold == 2) return r.error(bgp["hold_time"], "bgp.hold_time", "must be 0 or at least 3 (RFC 4271)");
      hold_time = static_cast<uint16_t>(*hold);
    }
    if (bgp["graceful_restart"]) {
      // RFC 4724: the Restart Time is 12 bits.
      auto time = r.number(bgp["graceful_restart"], "bgp.graceful_restart", 0, 4095);
      if (!time) return time.error();
      c.graceful_restart = static_cast<uint16_t>(*time);
    }
    if (bgp["connect_retry"]) {
      auto retry = r.number(bgp["connect_retry"], "bgp.connect_retry", 1, 3600);
      if (!retry) return retry.error();
      connect_retry = static_cast<uint32_t>(*retry);
    }
  }
  const YAML::Node templates = root["peer_templates"];
  if (templates) {
    if (!templates.IsMap()) return r.error(templates, "peer_templates", "must be a mapping of names to peer settings");
    for (const auto& kv : templates) {
      auto name = kv.first.as<std::string>();
      if (auto st = r.keys(kv.second, "peer_templates." + name, kPeerSettings); !st) return st.error();
    }
  }
  // The template a peer or a range names: its node, and its path for error messages.
  auto find_template = [&](const YAML::Node& at, const std::string& path) -> Result<std::pair<YAML::Node, std::string>> {
    if (!at["template"]) return std::pair<YAML::Node, std::string>{};
    auto name = r.string(at["template"], path + ".template");
    if (!name) return name.error();
    if (!templates || !templates[*name]) {
      return r.error(at["template"], path + ".template", "no peer template named '" + *name + "' in peer_templates");
    }
    return std::pair<YAML::Node, std::string>{templates[*name], "peer_templates." + *name};
  };
  if (const auto& peers = root["peers"]) {
    if (!peers.IsSequence()) return r.error(peers, "peers", "must be a list");
    std::set<std::string> peer_keys = kPeerSettings;
    peer_keys.insert({"address", "name", "template", "required"});
    for (size_t i = 0; i < peers.size(); ++i) {
      std::string path = "peers[" + std::to_string(i) + "]";
      if (auto st = r.keys(peers[i], path, peer_keys); !st) return st.error();
      auto tmpl = find_template(peers[i], path);
      if (!tmpl) return tmpl.error();
      if (!peers[i]["address"]) return r.error(peers[i], path + ".address", "required");
      auto address = r.address(peers[i]["address"], path + ".address");
      if (!address) return address.error();
      auto p = read_peer(r, PeerNode(peers[i], tmpl->first, path, tmpl->second), *address, c, hold_time,
                         connect_retry);
      if (!p) return p.error();
      auto policy = read_policy(r, PeerNode(peers[i], tmpl->first, path, tmpl->second), c);
      if (!policy) return policy.error();
      c.peer_policies.push_back(std::move(*policy));
      if (peers[i]["required"]) {
        auto required = r.boolean(peers[i]["required"], path + ".required");
        if (!required) return required.error();
        if (*required) c.required_peers.push_back(p->address);
      }
      for (const auto& other : c.peers) {
        if (other.address == p->address) {
          return r.error(peers[i]["address"], "peers[" + std::to_string(i) + "].address",
                         p->address.to_string() + " is already peer '" + other.name + "'");
        }
      }
      c.peers.push_back(std::move(*p));
    }
  }
  if (const auto& ranges = root["dynamic_neighbors"]) {
    if (!ranges.IsSequence()) return r.error(ranges, "dynamic_neighbors", "must be a list");
    for (size_t i = 0; i < ranges.size(); ++i) {
      std::string path = "dynamic_neighbors[" + std::to_string(i) + "]";
      const auto& n = ranges[i];
      if (auto st = r.keys(n, path, {"range", "template"}); !st) return st.error();
      if (!n["range"]) return r.error(n, path + ".range", "required (a prefix such as 198.18.0.0/24)");
      if (!n["template"]) return r.error(n, path + ".template", "required (a name in peer_templates)");
      auto text = r.string(n["range"], path + ".range");
      if (!text) return text.error();
      auto range = Prefix::parse(*text);
      if (!range) return r.error(n["range"], path + ".range", range.error().message);
      auto tmpl = find_template(n, path);
      if (!tmpl) return tmpl.error();
      auto p = read_peer(r, PeerNode(YAML::Node(YAML::NodeType::Map), tmpl->first, path, tmpl->second),
                         range->address(), c, hold_time, connect_retry);
      if (!p) return p.error();
      auto policy = read_policy(r, PeerNode(YAML::Node(YAML::NodeType::Map), tmpl->first, path, tmpl->second), c);
      if (!policy) return policy.error();
      c.range_policies.push_back(std::move(*policy));
      c.dynamic_neighbors.push_back({*range, n["template"].Scalar(), std::move(*p)});
    }
  }
  if (const auto& admin = root["admin"]) {
    if (auto st = r.keys(admin, "admin", {"socket"}); !st) return st.error();
    if (admin["socket"]) {
      auto path = r.string(admin["socket"], "admin.socket");
      if (!path) return path.error();
      if (path->empty() || path->front() != '/' || path->size() >= 108) {
        return r.error(admin["socket"], "admin.socket", "must be an absolute path under 108 characters");
      }
      c.admin_socket = *path;
    }
  }
  if (const auto& routing = root["routing"]) {
    if (auto st = r.keys(routing, "routing", {"install", "table", "protocol", "blackhole_blocks", "reconcile_interval",
                                              "startup_grace", "metric", "nexthop_objects"});
        !st) {
      return st.error();
    }
    for (auto [key, field] : {std::pair{"install", &c.routing.install},
                              std::pair{"blackhole_blocks", &c.routing.blackhole_blocks},
                              std::pair{"nexthop_objects", &c.routing.nexthop_objects}}) {
      if (!routing[key]) continue;
      auto v = r.boolean(routing[key], std::string("routing.") + key);
      if (!v) return v.error();
      *field = *v;
    }
    if (routing["table"]) {
      auto v = r.number(routing["table"], "routing.table", 1, 0xfffffffe);
      if (!v) return v.error();
      if (*v == 255) return r.error(routing["table"], "routing.table", "255 is the kernel's local table");
      c.routing.table = static_cast<uint32_t>(*v);
    }
    if (routing["protocol"]) {
      auto v = r.number(routing["protocol"], "routing.protocol", 5, 254);  // 0-4 are the kernel's own
      if (!v) return v.error();
      c.routing.protocol = static_cast<uint8_t>(*v);
    }
    if (routing["metric"]) {
      auto v = r.number(routing["metric"], "routing.metric", 1, 0xffffffff);
      if (!v) return v.error();
      c.routing.metric = static_cast<uint32_t>(*v);
    }
    if (routing["startup_grace"]) {
      auto v = r.number(routing["startup_grace"], "routing.startup_grace", 0, 3600);
      if (!v) return v.error();
      c.routing.startup_grace = static_cast<uint32_t>(*v);
    }
    if (routing["reconcile_interval"]) {
      auto v = r.number(routing["reconcile_interval"], "routing.reconcile_interval", 1, 86400);
      if (!v) return v.error();
      c.routing.reconcile_interval = static_cast<uint32_t>(*v);
    }
  }
  if (const auto& ipam = root["ipam"]) {
    if (auto st = r.keys(ipam, "ipam", {"state_dir", "spool_dir", "reserved"}); !st) return st.error();
    for (auto [key, field] : {std::pair{"state_dir", &c.ipam.state_dir}, std::pair{"spool_dir", &c.ipam.spool_dir}}) {
      if (!ipam[key]) continue;
      auto path = r.string(ipam[key], std::string("ipam.") + key);
      if (!path) return path.error();
      if (path->empty() || path->front() != '/') return r.error(ipam[key], std::string("ipam.") + key, "must be an absolute path");
      *field = *path;
    }
    if (const auto& reserved = ipam["reserved"]) {
      if (!reserved.IsSequence()) return r.error(reserved, "ipam.reserved", "must be a list of addresses");
      for (size_t i = 0; i < reserved.size(); ++i) {
        std::string key = "ipam.reserved[" + std::to_string(i) + "]";
        auto a = r.address(reserved[i], key);
        if (!a) return a.error();
        bool inside = std::any_of(c.blocks.begin(), c.blocks.end(), [&](const Prefix& b) { return b.contains(*a); });
        if (!inside) return r.error(reserved[i], key, a->to_string() + " is in none of node.blocks");
        c.ipam.reserved.push_back(*a);
      }
    }
  }
  if (c.ipam.spool_dir.empty()) c.ipam.spool_dir = c.ipam.state_dir + "/release-spool";
  if (const auto& http = root["http"]) {
    if (auto st = r.keys(http, "http", {"listen"}); !st) return st.error();
    if (http["listen"]) {
      auto listen = r.string(http["listen"], "http.listen");
      if (!listen) return listen.error();
      if (!listen->empty()) {
        if (auto e = http::parse_endpoint(*listen); !e) return r.error(http["listen"], "http.listen", e.error().message);
      }
      c.http_listen = *listen;
    }
  }
  if (root["log_level"]) {
    auto level = r.string(root["log_level"], "log_level");
    if (!level) return level.error();
    static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
    if (!levels.count(*level)) return r.error(root["log_level"], "log_level", "one of trace, debug, info, warn, error, critical, off");
    c.log_level = *level;
  }
  return c;
}

}  // namespace tern::ternd
