// The RIB: Adj-RIB-In per peer (post-policy), the Loc-RIB per family with the decision
// process and ECMP, route reflection (RFC 4456), per-peer import and export policy, and
// an Adj-RIB-Out per peer that packs what changed into UPDATEs.
//
// Pure: no sockets, no clocks, no threads. ternd feeds it decoded UPDATEs and session
// events on its one io_context thread, takes the packed UPDATEs for each peer, and hands
// best-path changes to the routing module.
//
// Memory: a route is 16 bytes (attribute id, peer, path id, link); attribute sets are
// interned (AttrTable); IPv4 prefixes are 8-byte keys.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
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

  // A session came up: its peer starts with the whole exportable table queued.
  PeerId add_peer(PeerInfo info);
  // The session went down: its routes are withdrawn and its Adj-RIB-Out forgotten.
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
  std::vector<std::vector<uint8_t>> take_updates(PeerId peer, uint64_t* prefixes = nullptr);
  // Route refresh (RFC 2918): the whole table for the family is queued again.
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
  struct Peer {
    PeerInfo info;
    bool active = false;
    size_t received = 0;  // prefixes in its Adj-RIB-In
    std::unordered_map<Prefix, AttrId> sent;                   // Adj-RIB-Out; holds a reference
    std::unordered_map<Prefix, std::optional<AttrId>> pending;  // to send: a set, or a withdrawal
    // (source set, from peer, family) -> the set as sent to this peer; holds a reference
    std::unordered_map<uint64_t, AttrId> exported;
    bool end_of_rib_due = true;
  };

  Dest* find(const Prefix& p);
  const Dest* find(const Prefix& p) const;
  Dest& get(const Prefix& p);
  void erase(const Prefix& p);
  template <typename F>
  void for_each(F fn) const;

  Candidate candidate(const Path& path) const;
  bool accepted(const Peer& peer, const Prefix& prefix) const;
  void upsert(PeerId peer, const Prefix& prefix, uint32_t path_id, AttrId attrs);  // takes the reference
  bool remove(PeerId peer, const Prefix& prefix, uint32_t path_id);
  void decide(const Prefix& prefix);
  std::vector<uint32_t> multipath(const Dest& d) const;
  // The set a path goes out with to `to`, or nullopt when it must not go there.
  std::optional<AttrId> export_to(Peer& to, PeerId to_id, const Path& path);
  void queue(Peer& to, PeerId to_id, const Prefix& prefix, const Dest* d);
  void queue_table(Peer& to, PeerId to_id, std::optional<Family> family);
  void reset_exports(Peer& to);

  Options options_;
  ChangeHandler on_change_;
  AttrTable attrs_;
  std::vector<Path> paths_;
  std::vector<uint32_t> free_paths_;
  std::unordered_map<uint64_t, Dest> v4_;  // key: address << 8 | length
  std::unordered_map<Prefix, Dest> v6_;
  std::vector<Peer> peers_;  // by PeerId; 0 is the local "peer"
  std::vector<PeerId> free_peers_;
};

}  // namespace tern::bgp::rib
