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
// Next hops are kernel nexthop objects when the kernel has them (Linux 5.3+): one object
// per distinct next hop as asked (gateway, link, onlink), one group (NHA_GROUP, with
// weights) per distinct multipath set, and routes that name them (RTA_NH_ID). Objects are
// tagged with tern's protocol, reference-counted (routes and groups using them) and
// deleted when unused; the kernel picks their ids. A recursive next hop is one object
// whose gateway and link are the kernel's way to it, replaced in place when that way
// changes; a multipath change that moves every route of a group is the group replaced in
// place. Where the kernel refuses objects (EOPNOTSUPP, EINVAL) or FibOptions says no,
// next hops are written inline (RTA_GATEWAY / RTA_MULTIPATH) as before. README.md.
//
// Not thread-safe; bound to the network namespace of the thread that opened it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/ip.hpp"
#include "common/result.hpp"
#include "routing/fib/table.hpp"
#include "routing/protocol.hpp"

struct nlmsghdr;  // <linux/netlink.h>

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
  // Kernel nexthop objects for unicast next hops; false: inline in each route.
  bool nexthop_objects = true;
};

struct FibFailure {
  Prefix prefix;
  int error = 0;  // errno
  std::string message;
};

struct FibStats {
  size_t added = 0, replaced = 0, removed = 0, kept = 0;
  // Nexthop objects created, replaced in place and deleted.
  size_t objects_added = 0, objects_replaced = 0, objects_removed = 0;
  std::vector<FibFailure> failures;
};

class Fib {
 public:
  static Result<Fib> open(FibOptions options = {});
  Fib(Fib&&) noexcept;
  Fib& operator=(Fib&&) noexcept;
  ~Fib();

  // The desired state; nothing reaches the kernel before commit().
  void set(Route route);
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
  size_t pending() const { return dirty_.size() + rewrite_.size() + (recheck_ ? 1 : 0); }
  // Dumps tern's routes from the kernel and makes them exactly the desired set.
  Result<FibStats> reconcile();

  // The kernel's route and link changes, whoever makes them: a second netlink socket
  // subscribed to them, whose descriptor the caller watches in its event loop.
  Result<int> watch();
  struct Events {
    size_t repairs = 0;     // routes of ours deleted or changed in place by someone else
                            // (or with a nexthop object of ours deleted under them), and
                            // objects of ours changed by someone: queued to be written again
    size_t resolve = 0;     // routes with a next hop off-link (or not reachable yet), queued
                            // to be resolved again because another route changed
    bool reconcile = false;  // events were lost (ENOBUFS), or a link came up
    std::vector<std::string> shadowed;  // foreign routes covering one of ours, for the log
  };
  // Reads what events there are without blocking. Repairs are only queued: commit()
  // writes them (the caller rate-limits). A route or object of ours counts as changed when
  // the kernel's announcement differs from what this Fib installed; the announcements of
  // its own writes (which carry its socket's port id) are passed over, so a repair never
  // answers itself.
  Events read_events();

  // The desired routes, by prefix; one of them (nullptr when it is not wanted). Valid until
  // the next set(), remove(), commit() or reconcile().
  std::vector<const Route*> desired() const;
  const Route* desired(const Prefix& prefix) const;
  size_t installed() const { return installed_; }
  // Whether next hops go in as kernel nexthop objects, and how many of ours there are.
  bool uses_nexthop_objects() const { return nexthops_; }
  size_t nexthop_objects() const { return objects_.size(); }

 private:
  explicit Fib(int fd, FibOptions options);
  // A route of ours as the kernel has it, with the nexthop object it names (0: inline).
  struct KernelRoute {
    Route route;
    uint32_t nh_id = 0;
  };
  // An RTM_NEWROUTE/RTM_DELROUTE as a route, and the table it is in.
  static KernelRoute parse_route(const nlmsghdr* h, uint32_t& table);
  // Whether a route the kernel announces or dumps is one the FIB owns (protocol, table,
  // metric).
  bool owned(uint8_t protocol, uint32_t table, const Route& r) const;
  // Routes of ours; `pins` gets the nexthop objects that routes not ours name.
  Result<std::vector<KernelRoute>> dump(std::vector<uint32_t>& pins);
  // Sends a dump request and hands each answer to `each` until NLMSG_DONE.
  Status dump_each(nlmsghdr& request, const char* what, const std::function<void(const nlmsghdr*)>& each);
  // The kernel's route to `gateway` (not one of ours): its gateway and link.
  std::optional<NextHop> lookup(const IpAddress& gateway);
  // `r` with each gateway replaced by the way the kernel reaches it; nullopt when one
  // cannot be reached.
  std::optional<Route> resolve(const Route& r);
  // One entry a prefix: what is wanted and what the kernel has, as far as we know (a
  // fingerprint of it: a delete needs no more than the prefix), so set() looks a route up
  // once and commit() not at all. There is an entry while the route is wanted or installed.
  struct Entry {
    Route route;               // the desired route while `wanted`; its prefix always
    uint64_t fingerprint = 0;  // of the route installed (0: written again at the next commit)
    uint32_t nh_id = 0;        // the nexthop object the installed route names, 0 for none
    bool wanted = false;
    bool installed = false;
    const Prefix& key() const { return route.prefix; }
  };
  using Table = PrefixTable<Entry>;
  // Requests, back to back in one buffer (no allocation per route).
  struct Requests {
    struct At {
      uint32_t entry;            // in routes_: nothing is added to it between requests and answers
      uint32_t nh_id;            // the nexthop object the route names, 0 for none
      size_t offset;
      uint64_t fingerprint = 0;  // of the desired route an add writes; 0 for a delete
    };
    std::vector<uint8_t> bytes;
    std::vector<At> at;
  };
  const Prefix& prefix_of(const Requests::At& at) const { return routes_[at.entry].route.prefix; }
  // Sends the requests and collects every acknowledgement.
  std::vector<FibFailure> transact(Requests& requests);
  void route_message(const Route& route, bool add, Requests& out, uint32_t entry, uint32_t nh_id = 0);

  // Nexthop objects (nexthops.cpp).
  // An object's identity: the next hops as the routes ask for them (before resolution),
  // in the routes' family. One hop (weight 1): a single object; several, sorted: a group.
  struct NhKey {
    uint8_t family = 0;
    std::vector<NextHop> hops;
  };
  struct NhKeyLess {
    bool operator()(const NhKey& a, const NhKey& b) const;
  };
  struct NhObject {
    NhKey key;                 // no hops: found in the kernel and not claimed yet
    uint8_t family = 0;
    bool group = false;
    NextHop written;           // a single: as written (the way to the gateway)
    std::vector<std::pair<uint32_t, uint8_t>> members;  // a group: ids and weights as written
    uint32_t refs = 0;         // installed routes and groups naming it
    bool pinned = false;       // named by a route that is not ours: never deleted
  };
  // What one commit needs of the objects, per distinct key.
  struct NhNeed {
    NhKey key;
    std::vector<size_t> members;  // a group's singles (indices into the needs)
    uint32_t id = 0;              // the object once there is one
    bool inline_hops = false;     // the kernel refused: the routes carry their next hops
    bool looked = false;          // existing_id() has looked for it
    int error = 0;
    std::string message;
  };
  struct NhPlan {
    std::vector<NhNeed> needs;
    std::map<NhKey, size_t, NhKeyLess> index;
    const Route* last = nullptr;  // routes in a row with the same next hops share the look-up
    size_t last_need = 0;
  };
  struct NhAnswer {
    int error = 0;
    uint32_t id = 0;  // echoed by the kernel for a new object
    std::string message;
  };
  static NhKey key_of(const Route& r);
  size_t need(NhPlan& plan, const Route& r);
  size_t need(NhPlan& plan, NhKey key);
  // Finds, adopts or creates the objects the plan needs; `moving`: groups to replace in
  // place by the need their routes all move to.
  void provide(NhPlan& plan, FibStats& stats, const std::unordered_map<uint32_t, size_t>& moving);
  // The id a route would name without creating anything (reconcile), 0 when none fits.
  uint32_t existing_id(NhPlan& plan, const Route& r);
  std::optional<NextHop> way_to(const NextHop& hop);
  uint32_t adoptable(uint8_t family, const NextHop& written) const;
  uint32_t adoptable(const std::vector<std::pair<uint32_t, uint8_t>>& members) const;
  std::vector<NhAnswer> nh_exchange(std::vector<uint8_t>& bytes, const std::vector<size_t>& offsets);
  void nh_message(uint32_t id, const NhObject& o, std::vector<uint8_t>& buf, std::vector<size_t>& at);
  void ref(uint32_t id);
  void unref(uint32_t id);
  // Deletes our objects nothing names any more (groups before their members).
  void collect(FibStats& stats);
  // Resolved objects looked up again; those whose way changed are replaced in place.
  void recheck(FibStats& stats);
  // Our objects as the kernel has them: known ones checked, unknown ones adoptable.
  Status sync_objects();
  // An object of ours deleted by someone: its routes (gone with it) queued again.
  size_t object_gone(uint32_t id);
  // An RTM_NEWNEXTHOP: the object and its id (0: none).
  static uint32_t parse_object(const nlmsghdr* h, NhObject& o);
  // Whether the kernel's object `k` is `o` as we wrote it.
  static bool same_object(const NhObject& k, const NhObject& o);
  // An object of ours announced by someone else (RTM_NEWNEXTHOP): queued to be written
  // back in place (rewrite_) when it is not as we wrote it. 1 when queued.
  size_t object_changed(const nlmsghdr* h);
  // The objects in rewrite_ replaced in place as written: the routes naming them follow.
  void rewrite(FibStats& stats);
  // A route of ours announced by someone else: whether it is not what `e` says is installed.
  bool changed(const Entry& e, const Route& kernel, uint32_t nh_id) const;
  void installed_as(Entry& e, uint64_t fingerprint, uint32_t nh_id);
  // The kernel no longer has it; the entry goes unless the route is still wanted.
  void forget(uint32_t entry);
  void forget(const Prefix& p);

  int fd_ = -1;
  int watch_fd_ = -1;
  // One receive buffer for every answer and event, made once: a datagram is read whole
  // and parsed before the next is read, and zeroing a fresh one per read cost more than
  // the parse during a storm of Pod veths.
  static constexpr size_t kBufferSize = 1 << 20;
  std::unique_ptr<uint8_t[]> buffer_;
  uint8_t* buffer() {
    if (!buffer_) buffer_ = std::make_unique_for_overwrite<uint8_t[]>(kBufferSize);
    return buffer_.get();
  }
  uint32_t port_ = 0;  // fd_'s netlink port id: the kernel's announcements of our writes carry it
  FibOptions options_;
  uint32_t seq_ = 1;
  Table routes_;
  size_t installed_ = 0;  // entries installed
  // Entries to look at in the next commit, by number: the commit needs no look-up. A number
  // may be of an entry gone since (skipped) or reused by another prefix (looked at for
  // nothing); compact() waits until there are none.
  std::vector<uint32_t> dirty_;
  void mark(const Prefix& p) {
    if (uint32_t i = routes_.find(p); i != Table::kNone) dirty_.push_back(i);
  }
  std::unordered_map<Prefix, Route> recursive_;  // as written, for routes resolved through another
  std::unordered_set<Prefix> failed_;            // failed at their last attempt
  // What the monitor knows of each link, so only a link coming back up costs a reconcile.
  enum class LinkState : uint8_t { kUnknown, kNew, kRunning, kDown };
  std::unordered_map<int, LinkState> links_;
  bool nexthops_ = true;    // objects in use: asked for, and the kernel has them
  bool recheck_ = false;    // another route changed: resolved objects to look up again
  std::unordered_map<uint32_t, NhObject> objects_;
  std::map<NhKey, uint32_t, NhKeyLess> by_key_;
  std::vector<uint32_t> rewrite_;  // objects of ours someone changed: written back at the next commit
};

}  // namespace tern::routing
