#include "controller/ternd/node.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>
#include <utility>

#include "bgp/wire/format.hpp"
#include "routing/link/link.hpp"

namespace tern::ternd {

namespace asio = boost::asio;
using bgp::fsm::State;

namespace {

std::vector<asio::ip::tcp::endpoint> listen_endpoints(const Config& c) {
  std::vector<asio::ip::tcp::endpoint> out;
  if (c.listen_addresses.empty()) {
    out = {{asio::ip::tcp::v4(), c.listen_port}, {asio::ip::tcp::v6(), c.listen_port}};
  }
  for (const auto& a : c.listen_addresses) out.emplace_back(asio::ip::make_address(a.to_string()), c.listen_port);
  return out;
}

// Whether a previous run's routes are in the kernel: routes of tern's protocol in its
// table (the FIB's, and the CNI's Pod routes). They outlive ternd but not a reboot, so
// they say whether forwarding was preserved across this start.
bool kernel_kept_routes(const Config::Routing& routing) {
  if (!routing.install) return false;
  auto sock = routing::link::NlSocket::open();
  if (!sock) return false;
  for (auto family : {Family::kIpv4, Family::kIpv6}) {
    auto routes = routing::link::list_routes(*sock, family);
    if (!routes) continue;
    for (const auto& r : *routes) {
      if (r.protocol == routing.protocol && r.table == routing.table) return true;
    }
  }
  return false;
}

// The family's entry in a Graceful Restart capability, if it lists the family.
const bgp::wire::GracefulRestart::Family* listed(const bgp::wire::GracefulRestart& gr, bgp::wire::AddressFamily f) {
  auto it = std::find_if(gr.families.begin(), gr.families.end(), [f](const auto& g) { return g.family == f; });
  return it == gr.families.end() ? nullptr : &*it;
}

}  // namespace

// RFC 4724 §3: the Restart State bit says this speaker has restarted, the Forwarding
// State bit per family that its forwarding survived; both hold when a previous run's
// routes were still in the kernel at start. A session that drops without a NOTIFICATION
// later (a crash, kill -9) leaves the peers holding this node's routes for the Restart
// Time, while the kernel keeps forwarding; a NOTIFICATION (SIGTERM's Cease, a hold
// timer expiring) withdraws them at once, as without graceful restart.
void Node::offer_graceful_restart(std::vector<bgp::session::PeerConfig>& peers,
                                  std::vector<bgp::session::DynamicRange>& ranges) const {
  auto mark = [this](bgp::session::PeerConfig& p) {
    auto& gr = p.offer.graceful_restart;
    if (!gr) return;
    gr->restarting = forwarding_preserved_;
    for (auto& f : gr->families) f.forwarding_preserved = forwarding_preserved_;
  };
  for (auto& p : peers) mark(p);
  for (auto& r : ranges) mark(r.peer);
}

Node::Node(asio::io_context& io, Config config, BestChangeHandler on_best_change)
    : io_(io),
      config_(std::move(config)),
      on_best_change_(std::move(on_best_change)),
      rib_(bgp::rib::Options{config_.asn, config_.router_id.v4_host_order(), config_.cluster_id, config_.decision},
           [this](const bgp::rib::BestChange& c) {
             ++best_changes_;
             install(c);
             if (on_best_change_) on_best_change_(c);
           }),
      reconcile_timer_(io),
      repair_timer_(io),
      forwarding_preserved_(kernel_kept_routes(config_.routing)) {
  offer_graceful_restart(config_.peers, config_.dynamic_neighbors);
  if (forwarding_preserved_) spdlog::info("restarting: a previous run's routes are in the kernel");
  bgp::session::Session::Callbacks callbacks;
  callbacks.on_state = [this](auto& s, State from, State to) { on_state(s, from, to); };
  callbacks.on_update = [this](auto& s, const auto& u) { on_update(s, u); };
  callbacks.on_route_refresh = [this](auto& s, const auto& r) { on_route_refresh(s, r); };
  callbacks.on_drained = [this](auto&) { schedule_flush(); };
  speaker_ = std::make_unique<bgp::session::Speaker>(io, config_.peers, callbacks, listen_endpoints(config_),
                                                     config_.dynamic_neighbors, config_.dynamic_neighbor_limit);
}

Status Node::start() {
  if (config_.routing.install) {
    auto fib = routing::Fib::open({config_.routing.table, config_.routing.protocol, config_.routing.metric,
                                   config_.routing.nexthop_objects});
    if (!fib) return fib.error().wrap("routing");
    fib_.emplace(std::move(fib.value()));
    auto fd = fib_->watch();
    if (!fd) return fd.error().wrap("routing: the route monitor");
    fib_events_.emplace(io_, ::dup(*fd));
    watch_fib();
  }
  for (const auto& b : config_.blocks) rib_.announce_local(b);
  // What a previous run left in the kernel stays while the sessions come back and
  // re-learn it (new routes replace old ones in place); once every configured peer has
  // sent its End-of-RIB, or the grace time is over, a reconcile removes what nobody
  // wants any more. A restart does not interrupt forwarding through routes still valid.
  for (const auto& p : config_.peers) awaiting_end_of_rib_.push_back(p.address);
  reconcile_timer_.expires_after(std::chrono::seconds(config_.routing.startup_grace));
  reconcile_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) reconcile_fib();
  });
  if (awaiting_end_of_rib_.empty()) reconcile_fib();
  return speaker_->start();
}

void Node::install(const bgp::rib::BestChange& c) {
  if (!fib_ || stopping_) return;
  if (c.local) {
    if (config_.routing.blackhole_blocks) {
      routing::Route r;
      r.prefix = c.prefix;
      r.type = routing::RouteType::kBlackhole;
      r.metric = config_.routing.metric;
      fib_->set(std::move(r));
    }
  } else if (c.next_hops.empty()) {
    fib_->remove(c.prefix);
  } else {
    routing::Route r;
    r.prefix = c.prefix;
    r.metric = config_.routing.metric;
    for (const auto& nh : c.next_hops) r.next_hops.push_back({nh});
    fib_->set(std::move(r));
  }
  if (commit_scheduled_) return;
  commit_scheduled_ = true;
  asio::post(io_, [this] {
    commit_scheduled_ = false;
    commit_fib();
  });
}

void Node::account(const routing::FibStats& stats, const char* what) {
  fib_counters_.operations += stats.added + stats.replaced + stats.removed;
  fib_counters_.errors += stats.failures.size();
  fib_counters_.installed = fib_->installed();
  // An empty commit says nothing about routes that failed before.
  bool did_something = stats.added + stats.replaced + stats.removed + stats.failures.size() > 0;
  if (did_something || std::string_view(what) == "reconciled") fib_counters_.in_sync = stats.failures.empty();
  for (const auto& f : stats.failures) {
    spdlog::warn("kernel route {}: {} (tried again at the next change or reconcile)", f.prefix.to_string(), f.message);
  }
  if (stats.added + stats.replaced + stats.removed || !stats.failures.empty() || std::string_view(what) == "reconciled") {
    spdlog::info("kernel routes {}: {} added, {} replaced, {} removed, {} kept, {} failed", what, stats.added,
                 stats.replaced, stats.removed, stats.kept, stats.failures.size());
  }
}

// Someone else's changes to the kernel's routes: tern's routes and nexthop objects deleted
// or changed in place go back and routes through off-link next hops are resolved again (at
// most one commit per 100 ms, however fast someone fights them); a lost event (ENOBUFS) or
// a link coming back up brings a full reconcile, at most one per 100 ms as well.
void Node::watch_fib() {
  fib_events_->async_wait(asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    auto ev = fib_->read_events();
    for (const auto& s : ev.shadowed) spdlog::warn("kernel routes: {}", s);
    if (ev.repairs) {
      spdlog::warn("kernel routes: {} of tern's routes or nexthop objects deleted or changed by someone else; "
                   "putting them back",
                   ev.repairs);
    }
    reconcile_wanted_ |= ev.reconcile;
    if ((ev.reconcile || ev.repairs || ev.resolve) && !repair_armed_) {
      repair_armed_ = true;
      repair_timer_.expires_after(std::chrono::milliseconds(100));
      repair_timer_.async_wait([this](const boost::system::error_code& ec) {
        repair_armed_ = false;
        if (ec) return;
        if (std::exchange(reconcile_wanted_, false)) {
          reconcile_fib();
        } else {
          commit_fib();
        }
      });
    }
    watch_fib();
  });
}

// A few thousand routes per turn of the loop: a full table goes in within seconds while
// keepalives and UPDATEs keep flowing between the batches.
void Node::commit_fib() {
  if (stopping_) return;
  account(fib_->commit(4096), "committed");
  if (fib_->pending() && !commit_scheduled_) {
    commit_scheduled_ = true;
    asio::post(io_, [this] {
      commit_scheduled_ = false;
      commit_fib();
    });
  }
}

void Node::reconcile_fib() {
  if (!fib_ || stopping_) return;
  reconciled_once_ = true;
  awaiting_end_of_rib_.clear();
  auto stats = fib_->reconcile();
  if (!stats) {
    spdlog::error("kernel routes: reconcile failed: {}", stats.error().message);
    fib_counters_.in_sync = false;
  } else {
    account(*stats, "reconciled");
  }
  // Level-triggered, besides the changes: whatever drifted comes back.
  reconcile_timer_.expires_after(std::chrono::seconds(config_.routing.reconcile_interval));
  reconcile_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) reconcile_fib();
  });
}

// The kernel routes stay: the next run reconciles them (forwarding survives a restart).
void Node::stop(const std::string& message) {
  stopping_ = true;
  reconcile_timer_.cancel();
  repair_timer_.cancel();
  if (fib_events_) fib_events_->cancel();
  for (auto& [address, stale] : stale_) stale.timer->cancel();
  speaker_->stop(message);
}

Status Node::reload(const Config& fresh) {
  // The node's blocks: what went is withdrawn, what came is announced.
  for (const auto& b : config_.blocks) {
    if (std::find(fresh.blocks.begin(), fresh.blocks.end(), b) == fresh.blocks.end()) rib_.withdraw_local(b);
  }
  for (const auto& b : fresh.blocks) {
    if (std::find(config_.blocks.begin(), config_.blocks.end(), b) == config_.blocks.end()) rib_.announce_local(b);
  }
  config_.blocks = fresh.blocks;
  schedule_flush();

  std::unordered_map<const bgp::session::Session*, PeerPolicy> before;
  for (const auto& [session, id] : in_rib_) before.emplace(session, policy_for(session->config()));
  config_.peers = fresh.peers;
  config_.peer_policies = fresh.peer_policies;
  config_.required_peers = fresh.required_peers;
  config_.dynamic_neighbors = fresh.dynamic_neighbors;
  offer_graceful_restart(config_.peers, config_.dynamic_neighbors);  // what the sessions offer already
  config_.range_policies = fresh.range_policies;
  config_.dynamic_neighbor_limit = fresh.dynamic_neighbor_limit;
  config_.pools = fresh.pools;
  auto st = speaker_->reconfigure(config_.peers, config_.dynamic_neighbors, fresh.dynamic_neighbor_limit);
  // A peer no longer configured is not coming back: its stale routes go now.
  std::vector<IpAddress> gone;
  for (const auto& entry : stale_) {
    const IpAddress& address = entry.first;  // (clang 14 captures no structured binding)
    bool known = std::any_of(config_.peers.begin(), config_.peers.end(), [&](const auto& p) { return p.address == address; }) ||
                 std::any_of(config_.dynamic_neighbors.begin(), config_.dynamic_neighbors.end(),
                             [&](const auto& r) { return r.range.contains(address); });
    if (!known) gone.push_back(address);
  }
  for (const auto& address : gone) drop_stale(address, "the peer was removed from the configuration");

  // Sessions that stay up take their new policies without a reset; a changed import asks
  // the peer to send its routes again (route refresh), as the RIB keeps no pre-policy copy.
  for (const auto& s : speaker_->sessions()) {
    auto it = in_rib_.find(s.get());
    auto old = before.find(s.get());
    if (it == in_rib_.end() || old == before.end()) continue;
    const PeerPolicy& now = policy_for(s->config());
    if (now == old->second) continue;
    spdlog::info("peer {}: policy changed; applied without a session reset", s->config().name);
    rib_.set_policies(it->second, now.rr_client, now.import, now.exports);
    if (!(now.import == old->second.import) && !s->request_refresh()) {
      // Narrowing applies at once (the RIB re-filters what it holds); what a wider import
      // accepts waits for routes this peer sends again.
      spdlog::warn("peer {}: no route refresh capability: routes the new import policy accepts arrive with "
                   "its next session", s->config().name);
    }
  }
  return st;
}

const PeerPolicy& Node::policy_for(const bgp::session::PeerConfig& peer) const {
  if (!peer.dynamic) {
    for (size_t i = 0; i < config_.peers.size(); ++i) {
      if (config_.peers[i].address == peer.address) return config_.peer_policies[i];
    }
  }
  const PeerPolicy* best = nullptr;
  int length = -1;
  for (size_t i = 0; i < config_.dynamic_neighbors.size(); ++i) {
    const auto& r = config_.dynamic_neighbors[i].range;
    if (r.contains(peer.address) && r.length() > length) {
      best = &config_.range_policies[i];
      length = r.length();
    }
  }
  return best ? *best : default_policy_;
}

void Node::on_state(bgp::session::Session& s, State from, State to) {
  if (to == State::kEstablished) {
    const auto& n = *s.status().negotiated;
    const auto& policy = policy_for(s.config());
    bgp::rib::PeerInfo info;
    info.name = s.config().name;
    info.address = s.config().address;
    info.router_id = n.peer_id;
    info.asn = n.peer_as;
    info.internal = s.config().expect.internal;
    info.rr_client = policy.rr_client;
    info.encode = s.encode_context();
    info.families = n.families;
    if (s.status().local) {
      IpAddress self = bgp::session::from_asio(s.status().local->address());
      (self.is_v4() ? info.self_v4 : info.self_v6) = self;
    }
    info.import = policy.import;
    info.exports = policy.exports;
    in_rib_[&s] = rib_.add_peer(std::move(info));
    // We offered graceful restart, so we are the peer's helper (RFC 4724 §4.2).
    if (s.config().offer.graceful_restart && n.peer_graceful_restart) {
      peer_restart_[&s] = {*n.peer_graceful_restart, n.families};
    }
    peer_back(s);
    schedule_flush();
  } else if (from == State::kEstablished) {
    pacing_.erase(&s);
    if (auto it = in_rib_.find(&s); it != in_rib_.end()) {
      if (!keep_stale(s, it->second)) rib_.remove_peer(it->second);
      in_rib_.erase(it);
      schedule_flush();
    }
    peer_restart_.erase(&s);
  }
}

// RFC 4724 §4.2, the helper: a peer that offered graceful restart for every family of
// the session and whose connection failed (no NOTIFICATION either way) keeps its routes,
// stale, for its Restart Time: its forwarding goes on while its BGP restarts. The stale
// routes stay in the RIB under the old session's peer and go when the new session has
// sent End-of-RIB for every family, when the Restart Time or the stale time runs out, or
// at once when the new OPEN says forwarding was not kept.
bool Node::keep_stale(const bgp::session::Session& s, bgp::rib::PeerId id) {
  auto it = peer_restart_.find(&s);
  if (it == peer_restart_.end() || s.status().notified || stopping_) return false;
  const auto& [gr, families] = it->second;
  if (gr.restart_time == 0 || families.empty()) return false;
  for (auto f : families) {
    if (!listed(gr, f)) return false;
  }
  const IpAddress& address = s.config().address;
  drop_stale(address, "the session failed again before End-of-RIB");
  auto& stale = stale_[address];
  stale.peer = id;
  stale.families = families;
  stale.timer = std::make_unique<asio::steady_timer>(io_, std::chrono::seconds(gr.restart_time));
  stale.timer->async_wait([this, address](const boost::system::error_code& ec) {
    if (!ec) drop_stale(address, "the Restart Time ran out");
  });
  spdlog::info("peer {}: graceful restart: its routes are kept, stale, for up to {} s", s.config().name,
               gr.restart_time);
  return true;
}

// The peer is back: its stale routes wait for End-of-RIB if it kept its forwarding state.
void Node::peer_back(const bgp::session::Session& s) {
  auto it = stale_.find(s.config().address);
  if (it == stale_.end()) return;
  auto restart = peer_restart_.find(&s);
  for (auto f : it->second.families) {
    const auto* g = restart == peer_restart_.end() ? nullptr : listed(restart->second.first, f);
    if (!g || !g->forwarding_preserved) return drop_stale(s.config().address, "it did not keep its forwarding state");
  }
  it->second.timer->expires_after(kStaleTime);
  it->second.timer->async_wait([this, address = s.config().address](const boost::system::error_code& ec) {
    if (!ec) drop_stale(address, "no End-of-RIB within the stale time");
  });
}

void Node::drop_stale(const IpAddress& address, const char* why) {
  auto it = stale_.find(address);
  if (it == stale_.end()) return;
  spdlog::info("peer {}: stale routes of the previous session removed: {}", address.to_string(), why);
  it->second.timer->cancel();
  rib_.remove_peer(it->second.peer);
  stale_.erase(it);
  schedule_flush();
}

void Node::on_update(bgp::session::Session& s, const bgp::wire::Decoded& decoded) {
  auto it = in_rib_.find(&s);
  if (it == in_rib_.end()) return;
  const auto& update = std::get<bgp::wire::Update>(decoded.message);
  auto applied = rib_.apply(it->second, update, decoded.verdict);
  if (applied.refused) {
    spdlog::debug("peer {}: {} prefixes refused by policy or as loops", s.config().name, applied.refused);
  }
  if (applied.end_of_rib) {
    spdlog::info("peer {}: End-of-RIB", s.config().name);
    if (auto stale = stale_.find(s.config().address); stale != stale_.end()) {
      std::erase(stale->second.families, *bgp::wire::end_of_rib(update));
      if (stale->second.families.empty()) drop_stale(s.config().address, "End-of-RIB");
    }
    std::erase(awaiting_end_of_rib_, s.config().address);
    if (!reconciled_once_ && awaiting_end_of_rib_.empty()) {
      asio::post(io_, [this] {
        if (!reconciled_once_) reconcile_fib();
      });
    }
  }
  if (applied.over_limit) {
    const auto& limit = rib_.peer(it->second).import;
    if (limit.max_prefix_teardown) {
      uint32_t restart = policy_for(s.config()).max_prefix_restart;
      spdlog::error("peer {}: more than {} prefixes: session closed{}", s.config().name, limit.max_prefixes,
                    restart ? fmt::format(", restarted in {} s", restart) : std::string());
      asio::post(io_, [this, session = &s, restart] {
        for (const auto& live : speaker_->sessions()) {
          if (live.get() != session) continue;
          live->stop("maximum prefixes reached", bgp::fsm::cease::kMaximumPrefixesReached);
          if (!restart) return;
          auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::seconds(restart));
          timer->async_wait([this, session, timer](const boost::system::error_code& ec) {
            if (ec || stopping_) return;
            for (const auto& again : speaker_->sessions()) {
              if (again.get() == session) again->start();  // still configured: up again
            }
          });
        }
      });
    } else {
      spdlog::warn("peer {}: more than {} prefixes", s.config().name, limit.max_prefixes);
    }
  }
  schedule_flush();
}

void Node::on_route_refresh(bgp::session::Session& s, const bgp::wire::RouteRefresh& request) {
  auto it = in_rib_.find(&s);
  if (it == in_rib_.end() || request.subtype != bgp::wire::RouteRefresh::kRequest) return;
  spdlog::info("peer {}: route refresh for {}", s.config().name, bgp::wire::family_name(request.family));
  rib_.refresh(it->second, request.family);
  schedule_flush();
}

void Node::schedule_flush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  asio::post(io_, [this] {
    flush_scheduled_ = false;
    flush();
  });
}

void Node::flush() {
  auto now = std::chrono::steady_clock::now();
  for (const auto& s : speaker_->sessions()) {
    auto it = in_rib_.find(s.get());
    if (it == in_rib_.end() || !s->writable()) continue;  // a full queue: on_drained brings us back
    // MRAI (RFC 4271 §9.2.1.1): changes to this peer wait until the interval since the
    // last batch is over, and then go together.
    auto& pace = pacing_[s.get()];
    std::chrono::seconds interval(policy_for(s->config()).advertisement_interval);
    if (interval.count() && now - pace.last < interval) {
      if (!pace.timer) {
        pace.timer = std::make_unique<asio::steady_timer>(io_, pace.last + interval);
        pace.timer->async_wait([this, session = s.get()](const boost::system::error_code& ec) {
          if (ec) return;
          pacing_[session].timer.reset();
          schedule_flush();
        });
      }
      continue;
    }
    uint64_t prefixes = 0, messages = 0;
    // Back to back in 64 KiB buffers: the session writes a buffer at a time, and one
    // write per UPDATE was most of a reflector's time.
    auto updates = rib_.take_buffers(it->second, 64 << 10, &prefixes, &messages);
    if (updates.empty()) continue;
    s->send_updates(std::move(updates), messages, prefixes);
    pace.last = now;
  }
}

}  // namespace tern::ternd
