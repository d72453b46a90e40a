#include "controller/ternd/metrics.hpp"

#include <fmt/format.h>

namespace tern::ternd {

namespace {

// Label values escape backslash, double quote and newline.
std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

class Writer {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(const char* name, const std::string& labels, double value) {
    out_ += labels.empty() ? fmt::format("{} {}\n", name, value) : fmt::format("{}{{{}}} {}\n", name, labels, value);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string render_metrics(const Node& node, std::chrono::steady_clock::time_point now) {
  using bgp::fsm::State;
  const Config& config = node.config();
  const auto& speaker = node.speaker();
  Writer w;
  w.family("tern_info", "gauge", "The node: name, AS and router ID.");
  w.sample("tern_info",
           fmt::format("node=\"{}\",as=\"{}\",router_id=\"{}\"", escape(config.node_name), config.asn,
                       config.router_id.to_string()),
           1);

  struct Counter {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const bgp::session::SessionStatus&);
  };
  static const Counter counters[] = {
      {"tern_bgp_peer_up", "gauge", "1 when the session is Established.",
       [](const auto& s) { return s.state == State::kEstablished ? 1.0 : 0.0; }},
      {"tern_bgp_peer_established_total", "counter", "Times the session reached Established.",
       [](const auto& s) { return double(s.established_count); }},
      {"tern_bgp_messages_received_total", "counter", "BGP messages received.",
       [](const auto& s) { return double(s.messages_in); }},
      {"tern_bgp_messages_sent_total", "counter", "BGP messages sent.",
       [](const auto& s) { return double(s.messages_out); }},
      {"tern_bgp_updates_received_total", "counter", "UPDATE messages received.",
       [](const auto& s) { return double(s.updates_in); }},
      {"tern_bgp_updates_sent_total", "counter", "UPDATE messages sent.",
       [](const auto& s) { return double(s.updates_out); }},
      {"tern_bgp_prefixes_received_total", "counter", "Prefixes announced to us.",
       [](const auto& s) { return double(s.prefixes_in); }},
      {"tern_bgp_prefixes_sent_total", "counter", "Prefixes we announced.",
       [](const auto& s) { return double(s.prefixes_out); }},
      {"tern_bgp_collisions_total", "counter", "Connection collisions resolved (RFC 4271 6.8).",
       [](const auto& s) { return double(s.collisions); }},
      {"tern_bgp_write_queue_bytes", "gauge", "Bytes queued for the peer and not yet written.",
       [](const auto& s) { return double(s.write_queue_bytes); }},
  };
  auto labels = [](const bgp::session::Session& s) {
    return fmt::format("peer=\"{}\",address=\"{}\"", escape(s.config().name), s.config().address.to_string());
  };
  for (const auto& c : counters) {
    w.family(c.name, c.type, c.help);
    for (const auto& s : speaker.sessions()) w.sample(c.name, labels(*s), c.value(s->status()));
  }
  w.family("tern_bgp_peer_state", "gauge", "1 for the session's current FSM state.");
  for (const auto& s : speaker.sessions()) {
    for (State st : {State::kIdle, State::kConnect, State::kActive, State::kOpenSent, State::kOpenConfirm,
                     State::kEstablished}) {
      w.sample("tern_bgp_peer_state", labels(*s) + fmt::format(",state=\"{}\"", bgp::fsm::to_string(st)),
               s->status().state == st ? 1 : 0);
    }
  }
  w.family("tern_bgp_peer_uptime_seconds", "gauge", "Seconds in Established; 0 when down.");
  for (const auto& s : speaker.sessions()) {
    bool up = s->status().state == State::kEstablished;
    w.sample("tern_bgp_peer_uptime_seconds", labels(*s),
             up ? std::chrono::duration<double>(now - s->status().since).count() : 0);
  }
  const auto& rib = node.rib();
  w.family("tern_rib_prefixes", "gauge", "Prefixes in the Loc-RIB.");
  w.sample("tern_rib_prefixes", "family=\"ipv4\"", double(rib.prefixes(Family::kIpv4)));
  w.sample("tern_rib_prefixes", "family=\"ipv6\"", double(rib.prefixes(Family::kIpv6)));
  w.family("tern_rib_paths", "gauge", "Paths in every Adj-RIB-In and the node's own.");
  w.sample("tern_rib_paths", "", double(rib.paths()));
  w.family("tern_rib_attribute_sets", "gauge", "Distinct path attribute sets (interned).");
  w.sample("tern_rib_attribute_sets", "", double(rib.attribute_sets()));
  w.family("tern_rib_best_path_changes_total", "counter", "Best-path changes handed to the routing module.");
  w.sample("tern_rib_best_path_changes_total", "", double(node.best_changes()));
  const auto& fib = node.fib_counters();
  w.family("tern_fib_routes", "gauge", "tern's routes in the kernel.");
  w.sample("tern_fib_routes", "", double(fib.installed));
  w.family("tern_fib_operations_total", "counter", "Routes added, replaced or removed in the kernel.");
  w.sample("tern_fib_operations_total", "", double(fib.operations));
  w.family("tern_fib_errors_total", "counter", "Kernel route operations that failed.");
  w.sample("tern_fib_errors_total", "", double(fib.errors));
  w.family("tern_fib_in_sync", "gauge", "1 when the last write or reconcile of kernel routes had no failure.");
  w.sample("tern_fib_in_sync", "", fib.in_sync ? 1 : 0);
  return w.take();
}

http::Reply readiness(const Node& node) {
  const Config& config = node.config();
  const auto& speaker = node.speaker();
  std::string missing;
  bool any_static = false, any_up = false;
  for (const auto& s : speaker.sessions()) {
    bool up = s->status().state == bgp::fsm::State::kEstablished;
    any_up |= up;
    any_static |= !s->config().dynamic;
    bool required = std::find(config.required_peers.begin(), config.required_peers.end(), s->config().address) !=
                    config.required_peers.end();
    if (required && !up) {
      missing += fmt::format("required peer {} ({}) is {}\n", s->config().name, s->config().address.to_string(),
                             bgp::fsm::to_string(s->status().state));
    }
  }
  if (any_static && !any_up) missing += "no BGP session is established\n";
  if (!node.fib_counters().in_sync) missing += "the kernel's routes are not in sync (see the log)\n";
  if (!missing.empty()) return {503, "text/plain; charset=utf-8", "not ready:\n" + missing};
  return {200, "text/plain; charset=utf-8", "ready\n"};
}

}  // namespace tern::ternd

namespace tern::ternd {

std::string render_ipam_metrics(const IpamService& ipam) {
  Writer w;
  auto usage = ipam.usage();
  w.family("tern_ipam_block_capacity", "gauge", "Addresses a node block can hand to Pods.");
  for (const auto& u : usage) w.sample("tern_ipam_block_capacity", fmt::format("block=\"{}\"", u.block.to_string()), double(u.capacity));
  w.family("tern_ipam_block_used", "gauge", "Addresses of a node block held by Pods.");
  for (const auto& u : usage) w.sample("tern_ipam_block_used", fmt::format("block=\"{}\"", u.block.to_string()), double(u.used));
  const auto& c = ipam.counters();
  w.family("tern_ipam_requests_total", "counter", "IPAM requests from tern-ipam by result.");
  w.sample("tern_ipam_requests_total", "result=\"allocated\"", double(c.allocated));
  w.sample("tern_ipam_requests_total", "result=\"released\"", double(c.released));
  w.sample("tern_ipam_requests_total", "result=\"exhausted\"", double(c.exhausted));
  w.sample("tern_ipam_requests_total", "result=\"failed\"", double(c.failed));
  w.family("tern_ipam_journal_syncs_total", "counter",
           "fdatasyncs of the IPAM journal for allocations; allocated / syncs is the group commit's batch size.");
  w.sample("tern_ipam_journal_syncs_total", "", double(c.syncs));
  w.family("tern_cni_ipam_request_duration_seconds", "histogram",
           "Time ternd took to answer the CNI's tern-ipam, journal write included.");
  const char* kinds[] = {"allocate", "release", "gc"};
  for (size_t k = 0; k < 3; ++k) {
    const auto& l = ipam.latencies()[k];
    for (size_t i = 0; i < l.kBounds.size(); ++i) {
      w.sample("tern_cni_ipam_request_duration_seconds_bucket",
               fmt::format("request=\"{}\",le=\"{}\"", kinds[k], l.kBounds[i]), double(l.buckets[i]));
    }
    w.sample("tern_cni_ipam_request_duration_seconds_bucket", fmt::format("request=\"{}\",le=\"+Inf\"", kinds[k]),
             double(l.count));
    w.sample("tern_cni_ipam_request_duration_seconds_sum", fmt::format("request=\"{}\"", kinds[k]), l.sum);
    w.sample("tern_cni_ipam_request_duration_seconds_count", fmt::format("request=\"{}\"", kinds[k]), double(l.count));
  }
  return w.take();
}

std::string render_cni_metrics(const CniService& cni) {
  Writer w;
  const auto& c = cni.counters();
  const char* commands[] = {"ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION"};
  w.family("tern_cni_calls_total", "counter", "CNI calls that tern handed to ternd and ternd ran, by command and result.");
  for (size_t i = 0; i < c.run.size(); ++i) {
    w.sample("tern_cni_calls_total", fmt::format("command=\"{}\",result=\"succeeded\"", commands[i]),
             double(c.run[i] - c.failed[i]));
    w.sample("tern_cni_calls_total", fmt::format("command=\"{}\",result=\"failed\"", commands[i]), double(c.failed[i]));
  }
  w.family("tern_cni_calls_declined_total", "counter",
           "CNI calls ternd left to tern-standalone (an IPAM other than tern-ipam on this socket).");
  w.sample("tern_cni_calls_declined_total", "", double(c.declined));
  return w.take();
}

}  // namespace tern::ternd
