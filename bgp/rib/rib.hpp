// The RIB: Adj-RIB-In per peer (post-policy), the Loc-RIB per family with the decision
// process and ECMP, route reflection (RFC 4456), per-peer import and export policy, and
// update groups: peers with the same outbound treatment share one Adj-RIB-Out, whose
// changes are packed into UPDATEs once and handed to every member (README.md).
//
// Pure: no sockets, no clocks, no threads. ternd feeds it decoded UPDATEs and session
// events on its one io_context thread, takes the packed UPDATEs for each peer, and hands
// best-path changes to the routing module.
//
// Memory: a route is 16 bytes (attribute id, peer, path id, link); attribute sets are
// interned (AttrTable); IPv4 prefixes are 8-byte keys. A peer costs O(1) beyond its
// Adj-RIB-In, plus the prefixes it must be told about apart from its group (a resync
// after falling behind, a move between groups).
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "bgp/rib/attr_table.hpp"
#include "bgp/rib/decision.hpp"
#include "bgp/wire/codec.hpp"
#include "bgp/wire/message.hpp"
#include "common/ip.hpp"

namespace tern::bgp::rib {

using PeerId = uint32_t;
inline constexpr PeerId kLocal = 0;  // routes this node originates

// What a peer may send us. Default-deny: a prefix is accepted only inside an `allow`
// entry and within its lengths; `deny` (the node's own blocks) and the default route
// are refused even then, unless the default route is allowed explicitly.
struct ImportPolicy {
  struct Allow {
    Prefix within;
    int min_length = 0;
    int max_length = 128;
    friend bool operator==(const Allow&, const Allow&) = default;
  };
  std::vector<Allow> allow;
  std::vector<Prefix> deny;
  bool accept_default_route = false;
  uint32_t max_prefixes = 0;        // 0: no limit
  bool max_prefix_teardown = false;  // over the limit: Cease/1 rather than a warning
  friend bool operator==(const ImportPolicy&, const ImportPolicy&) = default;
};

// What we send a peer, and how.
struct ExportPolicy {
  bool local = true;     // the node's own routes (its Pod blocks)
  bool learned = false;  // routes learned from other peers (eBGP transit, iBGP to iBGP);
                         // route reflection to and from clients needs no flag
  bool next_hop_self = false;  // always for eBGP and for local routes
  std::vector<uint32_t> communities;
  std::vector<wire::LargeCommunity> large_communities;
  uint32_t prepend = 0;                // extra copies of our AS (eBGP)
  std::optional<uint32_t> med;
  std::optional<uint32_t> local_pref;  // iBGP
  friend bool operator==(const ExportPolicy&, const ExportPolicy&) = default;
};

struct PeerInfo {
  std::string name;
  IpAddress address;
  uint32_t router_id = 0;  // host order, from its OPEN
  wire::Asn asn = 0;
  bool internal = false;
  bool rr_client = false;
  wire::Context encode;  // how UPDATEs to it are encoded (negotiated)
  std::vector<wire::AddressFamily> families;
  std::optional<IpAddress> self_v4, self_v6;  // our next hop towards it, per family
  ImportPolicy import;
  ExportPolicy exports;
};

struct Options {
  wire::Asn asn = 0;
  uint32_t router_id = 0;   // host order
  uint32_t cluster_id = 0;  // RFC 4456; 0: the router ID
  DecisionOptions decision;
  // Encoded UPDATEs an update group keeps for members that have not taken them yet; a
  // member further behind leaves the log and later catches up from the group's
  // Adj-RIB-Out (only the prefixes it missed).
  size_t group_log_bytes = 4 << 20;
};

// A best-path change for the kernel: the prefix's next hops now (several with ECMP;
// none when the prefix is gone or only local).
struct BestChange {
  Prefix prefix;
  std::vector<IpAddress> next_hops;
  bool local = false;  // the best path is this node's own (nothing to install)
};

// One candidate path as `ternctl rib` shows it.
struct PathView {
  std::string peer;  // name, or "local"
  IpAddress peer_address;
  uint32_t peer_router_id = 0;
  wire::Asn peer_as = 0;
  const wire::PathAttributes* attrs = nullptr;
  uint32_t path_id = 0;
  bool best = false;
  bool multipath = false;
  Reason lost_because = Reason::kEqual;  // against the best path, for the others
};
struct RouteView {
  Prefix prefix;
  std::vector<PathView> paths;  // the best first
};

class Rib {
 public:
  using ChangeHandler = std::function<void(const BestChange&)>;
  Rib(Options options, ChangeHandler on_change);

  // A session came up: its peer joins the update group of its outbound treatment (a new
  // one when none matches), and its first take_updates is that group's whole table.
  PeerId add_peer(PeerInfo info);
  // The session went down: its routes are withdrawn and it leaves its group.
  void remove_peer(PeerId peer);
  const PeerInfo& peer(PeerId peer) const { return peers_.at(peer).info; }

  struct Applied {
    size_t announced = 0, withdrawn = 0, refused = 0;
    bool end_of_rib = false;
    bool over_limit = false;  // max_prefixes passed; with teardown set the session must end
  };
  // One decoded UPDATE from `peer` with its RFC 7606 verdict (treat-as-withdraw
  // withdraws everything it names).
  Applied apply(PeerId peer, const wire::Update& update, wire::Verdict verdict);

  void announce_local(const Prefix& prefix);
  void withdraw_local(const Prefix& prefix);

  // Packed UPDATEs for the peer of everything that changed since the last call (and the
  // End-of-RIB once its initial table is out); `prefixes` gets the NLRI they announce.
  // The UPDATEs of its group's changes are built by the first member that asks and
  // shared with the others.
  std::vector<std::vector<uint8_t>> take_updates(PeerId peer, uint64_t* prefixes = nullptr);
  // The same messages back to back in buffers of at most `buffer_bytes` (one larger
  // message alone), for a writer that sends bytes: one write per buffer, not per UPDATE.
  // `messages` gets how many BGP messages they hold.
  std::vector<std::vector<uint8_t>> take_buffers(PeerId peer, size_t buffer_bytes, uint64_t* prefixes = nullptr,
                                                 uint64_t* messages = nullptr);
  // Route refresh (RFC 2918): the whole table for the family goes to this peer again.
  void refresh(PeerId peer, wire::AddressFamily family);
  // New policies for a peer, applied without a session reset: paths the new import
  // policy refuses go at once (those it now accepts need the peer to send them again: a
  // route refresh, which the caller asks for), and everything sent to it or to anyone
  // else (when its reflector-client role changed) is recomputed.
  void set_policies(PeerId peer, bool rr_client, const ImportPolicy& import, const ExportPolicy& exports);

  std::vector<RouteView> view(const std::optional<Prefix>& only = std::nullopt) const;
  size_t prefixes(Family f) const;
  size_t paths() const { return paths_.size() - free_paths_.size(); }
  size_t attribute_sets() const { return attrs_.size(); }
  size_t received_from(PeerId peer) const { return peers_.at(peer).received; }
  const AttrTable& attributes() const { return attrs_; }

  // Update groups, for the operator and the tests.
  struct GroupView {
    std::vector<PeerId> members;
    size_t adj_rib_out = 0;  // prefixes in the shared Adj-RIB-Out
    size_t log_batches = 0, log_bytes = 0;
  };
  std::vector<GroupView> groups() const;
  uint32_t group_of(PeerId peer) const { return peers_.at(peer).group; }
  // UPDATE messages encoded so far (a group's change counts once, however many members).
  uint64_t messages_built() const { return messages_built_; }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  struct Path {
    AttrId attrs;
    PeerId peer;
    uint32_t path_id;
    uint32_t next;  // the next path to the same prefix
  };
  struct Dest {
    uint32_t head = kNone;  // paths, linked
    uint32_t best = kNone;
    uint32_t installed = 0;  // fingerprint of the last BestChange (0: none)
  };
  // An Adj-RIB-Out entry: the set as exported, and whose path it is (RFC 4456: never back
  // to that member).
  struct Out {
    AttrId set;
    PeerId from;
    friend bool operator==(const Out&, const Out&) = default;
  };
  // Encoded UPDATEs of a group, with the members that must not get them.
  struct Chunk {
    std::vector<std::vector<uint8_t>> messages;
    uint64_t prefixes = 0;          // NLRI announced
    PeerId only = kNone;            // a withdrawal for this member alone
    PeerId except = kNone;          // the member the routes came from
    uint32_t except_router_id = 0;  // ORIGINATOR_ID of a member (RFC 4456 §8)
  };
  struct Batch {
    std::vector<Chunk> chunks;
    std::vector<Prefix> touched;
    size_t bytes = 0;
    uint32_t waiting = 0;  // members that have not taken it
  };
  // Where a prefix goes in a build: per family, withdrawals before announcements, one
  // chunk per set and per member it must skip.
  struct ChunkKey {
    uint32_t family;  // index into the group's families
    uint32_t kind;    // 0: withdraw, 1: announce
    AttrId set;
    PeerId only, except;
    uint32_t except_router_id;
    auto operator<=>(const ChunkKey&) const = default;
  };
  using Parts = std::map<ChunkKey, std::vector<wire::Nlri>>;
  // Peers with the same outbound treatment (same_outbound): one Adj-RIB-Out, one queue
  // of changes, one log of the UPDATEs built from them.
  struct Group {
    bool active = false;
    uint32_t id = 0;
    PeerInfo shape;  // the outbound part of its members' PeerInfo
    std::vector<PeerId> members;
    std::unordered_multimap<uint32_t, PeerId> by_router_id;
    std::unordered_map<Prefix, Out> sent;                    // Adj-RIB-Out; holds a reference
    std::unordered_map<Prefix, std::optional<Out>> pending;  // to send: a set, or a withdrawal
    // (source set, from peer, family) -> the set as sent to this group; holds a reference
    std::unordered_map<uint64_t, AttrId> exported;
    std::deque<Batch> log;  // log.front() is batch `first`; the next built is first + size
    uint64_t first = 0;
    size_t log_bytes = 0;
    uint32_t joining = 0;  // members still to take their first table
    // The whole table encoded for a member's dump, kept for the next member to dump at
    // the same point (members that come up together); small tables only.
    struct {
      uint64_t at = UINT64_MAX;
      unsigned families = 0;
      std::vector<Chunk> chunks;
      size_t bytes = 0;
    } dump;
    uint64_t end() const { return first + log.size(); }
  };
  struct Peer {
    PeerInfo info;
    bool active = false;
    size_t received = 0;  // prefixes in its Adj-RIB-In
    uint32_t group = kNone;
    bool initial = true;  // its first take_updates: the group's table, then End-of-RIB
    uint64_t next = 0;    // its first batch of the group's log not taken yet
    unsigned dump = 0;    // families (bit per Family) due again in full: route refresh
    std::unordered_set<Prefix> resync;  // prefixes to send from the Adj-RIB-Out, as they are now
  };

  Dest* find(const Prefix& p);
  const Dest* find(const Prefix& p) const;
  Dest& get(const Prefix& p);
  void erase(const Prefix& p);
  static Prefix unkey4(uint64_t key);
  template <typename F>
  void for_each(F fn) const {
    for (const auto& [k, d] : v4_) fn(unkey4(k), d);
    for (const auto& [p, d] : v6_) fn(p, d);
  }

  Candidate candidate(const Path& path) const;
  bool accepted(const Peer& peer, const Prefix& prefix) const;
  void upsert(PeerId peer, const Prefix& prefix, uint32_t path_id, AttrId attrs);  // takes the reference
  bool remove(PeerId peer, const Prefix& prefix, uint32_t path_id);
  void decide(const Prefix& prefix);
  std::vector<uint32_t> multipath(const Dest& d) const;

  // Update groups (rib_group.cpp).
  static bool same_outbound(const PeerInfo& a, const PeerInfo& b);
  uint32_t find_or_create(const PeerInfo& info);
  void add_member(uint32_t group, PeerId peer);
  uint32_t join(PeerId peer);
  void leave(PeerId peer);
  bool member(PeerId peer, uint32_t group) const;
  // Whether member `m` is to see `out` (not its own route, not its ORIGINATOR_ID).
  bool visible(PeerId m, const std::optional<Out>& out) const;
  std::optional<AttrId> seen_by(PeerId m, const Group& g, const Prefix& prefix) const;
  // The set a path goes out with to the group, or nullopt when it must not go there.
  std::optional<AttrId> export_to(Group& to, const Path& path);
  void queue(Group& to, const Prefix& prefix, const Dest* d);
  void queue_table(Group& to);
  void reset_exports(Group& to);
  static uint32_t family_index(const Group& g, const Prefix& prefix);
  ChunkKey announce_key(const Group& g, uint32_t family, const Out& out) const;
  ChunkKey withdraw_key(const Group& g, uint32_t family, const Out& out) const;
  std::vector<Chunk> pack(const Group& g, const Parts& parts);
  void build(Group& g);
  const std::vector<Chunk>& dump(Group& g, unsigned families);
  void trim(Group& g);
  std::vector<std::vector<uint8_t>> take(PeerId peer, uint64_t* prefixes, size_t buffer_bytes, uint64_t* messages);
  void move(PeerId peer);

  Options options_;
  ChangeHandler on_change_;
  AttrTable attrs_;
  std::vector<Path> paths_;
  std::vector<uint32_t> free_paths_;
  std::unordered_map<uint64_t, Dest> v4_;  // key: address << 8 | length
  std::unordered_map<Prefix, Dest> v6_;
  std::vector<Peer> peers_;  // by PeerId; 0 is the local "peer"
  std::vector<PeerId> free_peers_;
  std::deque<Group> groups_;  // by id; a deque, so that a Group& survives a new group
  std::vector<uint32_t> free_groups_;
  uint64_t messages_built_ = 0;
};

}  // namespace tern::bgp::rib
