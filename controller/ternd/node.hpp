// The node: ternd's BGP speaker and RIB put together. Sessions feed the RIB their
// UPDATEs; what the RIB decides goes out to the peers (packed, paced by each session's
// write queue) and, as best-path changes, to whoever installs routes.
// Everything runs on the one io_context thread.
#pragma once

#include <functional>
#include <memory>
#include <unordered_map>

#include "bgp/rib/rib.hpp"
#include "bgp/session/session.hpp"
#include "controller/ternd/config.hpp"
#include "routing/fib/fib.hpp"

namespace tern::ternd {

class Node {
 public:
  using BestChangeHandler = std::function<void(const bgp::rib::BestChange&)>;

  Node(boost::asio::io_context& io, Config config, BestChangeHandler on_best_change);
  // Reconciles the kernel's routes, listens, starts the sessions, announces the blocks.
  Status start();
  void stop(const std::string& message);
  // SIGHUP: the peers and their policies from a fresh configuration.
  Status reload(const Config& fresh);

  const Config& config() const { return config_; }
  const bgp::session::Speaker& speaker() const { return *speaker_; }
  const bgp::rib::Rib& rib() const { return rib_; }
  uint64_t best_changes() const { return best_changes_; }
  struct FibCounters {
    uint64_t operations = 0, errors = 0;
    size_t installed = 0;
    bool in_sync = true;  // the last commit or reconcile had no failure
  };
  const FibCounters& fib_counters() const { return fib_counters_; }
  // The kernel routes the node wants (nullptr when routing.install is off).
  const routing::Fib* fib() const { return fib_ ? &*fib_ : nullptr; }
  // Graceful restart: when the stale routes kept for this peer go at the latest, if any are.
  std::optional<std::chrono::steady_clock::time_point> stale_until(const IpAddress& peer) const {
    auto it = stale_.find(peer);
    if (it == stale_.end()) return std::nullopt;
    return it->second.timer->expiry();
  }

 private:
  void on_state(bgp::session::Session& s, bgp::fsm::State from, bgp::fsm::State to);
  void on_update(bgp::session::Session& s, const bgp::wire::Decoded& update);
  void on_route_refresh(bgp::session::Session& s, const bgp::wire::RouteRefresh& request);
  const PeerPolicy& policy_for(const bgp::session::PeerConfig& peer) const;
  bool keep_stale(const bgp::session::Session& s, bgp::rib::PeerId id);
  void peer_back(const bgp::session::Session& s);
  void drop_stale(const IpAddress& address, const char* why);
  void offer_graceful_restart(std::vector<bgp::session::PeerConfig>& peers,
                              std::vector<bgp::session::DynamicRange>& ranges) const;
  // One flush per turn of the event loop, however many UPDATEs came in it.
  void schedule_flush();
  void flush();
  // Best paths become kernel routes, committed in one batch per turn of the loop.
  void install(const bgp::rib::BestChange& change);
  void commit_fib();
  void reconcile_fib();
  void account(const routing::FibStats& stats, const char* what);
  void watch_fib();

  boost::asio::io_context& io_;
  Config config_;
  BestChangeHandler on_best_change_;
  bgp::rib::Rib rib_;
  std::unique_ptr<bgp::session::Speaker> speaker_;
  std::unordered_map<const bgp::session::Session*, bgp::rib::PeerId> in_rib_;
  // MRAI: when each peer was last sent UPDATEs, and the timer of its next batch.
  struct Pacing {
    std::chrono::steady_clock::time_point last{};
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  std::unordered_map<const bgp::session::Session*, Pacing> pacing_;
  bool flush_scheduled_ = false;
  std::optional<routing::Fib> fib_;
  bool commit_scheduled_ = false;
  bool stopping_ = false;  // the kernel's routes are left as they are from here on
  bool reconciled_once_ = false;
  std::vector<IpAddress> awaiting_end_of_rib_;  // configured peers, until their End-of-RIB
  boost::asio::steady_timer reconcile_timer_;
  std::optional<boost::asio::posix::stream_descriptor> fib_events_;
  boost::asio::steady_timer repair_timer_;  // repairs are written at most ten times a second
  bool repair_armed_ = false;
  bool reconcile_wanted_ = false;  // at the repair timer: a full reconcile, not a commit
  FibCounters fib_counters_;
  uint64_t best_changes_ = 0;
  PeerPolicy default_policy_;
  bool forwarding_preserved_ = false;  // a previous run's routes were in the kernel at start
  // Graceful restart as the helper: each Established peer's capability and families, and
  // the routes of failed sessions kept stale, by peer address, until their timer.
  std::unordered_map<const bgp::session::Session*,
                     std::pair<bgp::wire::GracefulRestart, std::vector<bgp::wire::AddressFamily>>>
      peer_restart_;
  struct Stale {
    bgp::rib::PeerId peer{};
    std::vector<bgp::wire::AddressFamily> families;  // End-of-RIB still due for these
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  std::unordered_map<IpAddress, Stale> stale_;
  // How long stale routes wait for End-of-RIB once the peer is back (FRR's and BIRD's default).
  static constexpr std::chrono::seconds kStaleTime{360};
};

}  // namespace tern::ternd
