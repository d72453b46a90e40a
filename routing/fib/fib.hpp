// The kernel FIB programmer: tern's desired routes, written to the kernel in batches and
// kept right.
//
// Routes carry tern's protocol number (rtm_protocol, 77 by default: routing/protocol.hpp) in a configurable
// table, so tern only ever touches its own: reconcile() dumps the routes of that protocol
// in that table, diffs them against the desired set and applies only the difference —
// routes a previous run left and still wanted stay untouched, which is what lets
// forwarding survive a restart of ternd.
//
// Requests are raw rtnetlink messages packed many to a sendmsg(); the kernel's error
// for a failing request is matched back to its route by sequence number, and one
// acknowledgement closes each batch, so a million routes go in without a round trip each
// and a failing route (EEXIST, ENETUNREACH, ENODEV ...) is reported on its own. (libnl builds one message per send; its per-route objects would double the
// cost of a full table. The link helpers in routing/link stay on libnl.)
//
// Not thread-safe; bound to the network namespace of the thread that opened it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/ip.hpp"
#include "common/result.hpp"
#include "routing/protocol.hpp"

namespace tern::routing {

struct NextHop {
  std::optional<IpAddress> gateway;  // none: directly on `ifindex`
  int ifindex = 0;                   // 0: the kernel finds it from the gateway
  uint8_t weight = 1;                // ECMP weight, 1..256
  bool onlink = false;               // the gateway is on the link even without a covering route
  friend bool operator==(const NextHop&, const NextHop&) = default;
};

enum class RouteType : uint8_t { kUnicast, kBlackhole, kUnreachable };

struct Route {
  Prefix prefix;
  RouteType type = RouteType::kUnicast;
  std::vector<NextHop> next_hops;  // several: one multipath route (RTA_MULTIPATH)
  uint32_t metric = 0;
  std::optional<IpAddress> source;  // RTA_PREFSRC
  friend bool operator==(const Route&, const Route&) = default;
};

struct FibOptions {
  uint32_t table = 254;  // RT_TABLE_MAIN
  uint8_t protocol = kTernProtocol;
  // When set, only routes of this metric are the FIB's: the CNI plugin routes each Pod's
  // address to its veth under the same protocol at the kernel's default metric, and a
  // reconcile must leave those alone.
  std::optional<uint32_t> metric;
};

struct FibFailure {
  Prefix prefix;
  int error = 0;  // errno
  std::string message;
};

struct FibStats {
  size_t added = 0, replaced = 0, removed = 0, kept = 0;
  std::vector<FibFailure> failures;
};

class Fib {
 public:
  static Result<Fib> open(FibOptions options = {});
  Fib(Fib&&) noexcept;
  Fib& operator=(Fib&&) noexcept;
  ~Fib();

  // The desired state; nothing reaches the kernel before commit().
  void set(const Route& route);
  void remove(const Prefix& prefix);

  // Writes what changed since the last commit: replaces (so a multipath route changes
  // without a moment where the prefix is missing) and deletes, batched. At most `limit`
  // prefixes per call, so a caller on an event loop can keep its other work on time;
  // pending() says how many wait. A route that fails is reported and tried again when it
  // changes, when another route changes (read_events), or at the next reconcile.
  //
  // Recursive next hops: a gateway that is not on a link (a BGP next hop on a loopback
  // two hops away) is resolved through the kernel's own route to it, and the route is
  // written via that route's gateway; when routes change, it is resolved again.
  FibStats commit(size_t limit = SIZE_MAX);
  size_t pending() const { return dirty_.size(); }
  // Dumps tern's routes from the kernel and makes them exactly the desired set.
  Result<FibStats> reconcile();

  // The kernel's route and link changes, whoever makes them: a second netlink socket
  // subscribed to them, whose descriptor the caller watches in its event loop.
  Result<int> watch();
  struct Events {
    size_t repairs = 0;     // routes of ours deleted by someone else, queued again
    size_t resolve = 0;     // routes with a next hop off-link (or not reachable yet), queued
                            // to be resolved again because another route changed
    bool reconcile = false;  // events were lost (ENOBUFS), or a link came up
    std::vector<std::string> shadowed;  // foreign routes covering one of ours, for the log
  };
  // Reads what events there are without blocking. Repairs are only queued: commit()
  // writes them (the caller rate-limits).
  Events read_events();

  const std::unordered_map<Prefix, Route>& desired() const { return desired_; }
  size_t installed() const { return installed_.size(); }

 private:
  explicit Fib(int fd, FibOptions options);
  Result<std::vector<Route>> dump();
  // The kernel's route to `gateway` (not one of ours): its gateway and link.
  std::optional<NextHop> lookup(const IpAddress& gateway);
  // `r` with each gateway replaced by the way the kernel reaches it; nullopt when one
  // cannot be reached.
  std::optional<Route> resolve(const Route& r);
  // Requests, back to back in one buffer (no allocation per route).
  struct Requests {
    std::vector<uint8_t> bytes;
    std::vector<std::pair<Prefix, size_t>> at;  // each request's prefix and offset
  };
  // Sends the requests and collects every acknowledgement.
  std::vector<FibFailure> transact(Requests& requests);
  void route_message(const Route& route, bool add, Requests& out);

  int fd_ = -1;
  int watch_fd_ = -1;
  FibOptions options_;
  uint32_t seq_ = 1;
  std::unordered_map<Prefix, Route> desired_;
  // What the kernel has, as far as we know: each route's fingerprint (a delete needs no
  // more than the prefix, and a copy of every route would double the memory).
  std::unordered_map<Prefix, uint64_t> installed_;
  std::vector<Prefix> dirty_;
  std::unordered_map<Prefix, Route> recursive_;  // as written, for routes resolved through another
  std::unordered_set<Prefix> failed_;            // failed at their last attempt
  // What the monitor knows of each link, so only a link coming back up costs a reconcile.
  enum class LinkState : uint8_t { kUnknown, kNew, kRunning, kDown };
  std::unordered_map<int, LinkState> links_;
};

}  // namespace tern::routing
