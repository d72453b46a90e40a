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

namespace tern::ternd {

class Node {
 public:
  using BestChangeHandler = std::function<void(const bgp::rib::BestChange&)>;

  Node(boost::asio::io_context& io, Config config, BestChangeHandler on_best_change);
  Status start();  // listens, starts the sessions, announces the node's blocks
  void stop(const std::string& message);
  // SIGHUP: the peers and their policies from a fresh configuration.
  Status reload(const Config& fresh);

  const Config& config() const { return config_; }
  const bgp::session::Speaker& speaker() const { return *speaker_; }
  const bgp::rib::Rib& rib() const { return rib_; }
  uint64_t best_changes() const { return best_changes_; }

 private:
  void on_state(bgp::session::Session& s, bgp::fsm::State from, bgp::fsm::State to);
  void on_update(bgp::session::Session& s, const bgp::wire::Decoded& update);
  void on_route_refresh(bgp::session::Session& s, const bgp::wire::RouteRefresh& request);
  const PeerPolicy& policy_for(const bgp::session::PeerConfig& peer) const;
  // One flush per turn of the event loop, however many UPDATEs came in it.
  void schedule_flush();
  void flush();

  boost::asio::io_context& io_;
  Config config_;
  BestChangeHandler on_best_change_;
  bgp::rib::Rib rib_;
  std::unique_ptr<bgp::session::Speaker> speaker_;
  std::unordered_map<const bgp::session::Session*, bgp::rib::PeerId> in_rib_;
  bool flush_scheduled_ = false;
  uint64_t best_changes_ = 0;
  PeerPolicy default_policy_;
};

}  // namespace tern::ternd
