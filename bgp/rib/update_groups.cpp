// The output side of the RIB: update groups, export policy, and the UPDATEs each peer is
// handed. Peers with the same outbound treatment share one Adj-RIB-Out and one queue;
// a change is encoded once per group into a log of batches that every member reads at
// its own pace. Design and its rules: README.md.
#include <algorithm>

#include "bgp/rib/rib.hpp"
#include "bgp/wire/update_packer.hpp"

namespace tern::bgp::rib {

namespace {

constexpr uint32_t kNoFamily = UINT32_MAX;
constexpr size_t kDumpKept = 1 << 20;  // a table dump kept for the next joiner, at most

wire::AddressFamily family_of(const Prefix& p) { return p.address().is_v4() ? wire::kIpv4Unicast : wire::kIpv6Unicast; }

unsigned bit(wire::AddressFamily f) { return f.afi == wire::Afi::kIpv4 ? 1u : 2u; }

bool has(const std::vector<uint32_t>& v, uint32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

void prepend(wire::PathAttributes& a, wire::Asn asn, uint32_t times) {
  if (!a.as_path) a.as_path = wire::AsPath{};
  auto& segs = a.as_path->segments;
  for (uint32_t i = 0; i < times; ++i) {
    if (segs.empty() || segs.front().type != wire::AsSegmentType::kSequence || segs.front().asns.size() >= 255) {
      segs.insert(segs.begin(), wire::AsSegment{wire::AsSegmentType::kSequence, {}});
    }
    segs.front().asns.insert(segs.front().asns.begin(), asn);
  }
}

// Every field of the negotiated encoding: peers that differ in any of them cannot share
// bytes.
bool same_encoding(const wire::Context& a, const wire::Context& b) {
  return a.four_octet_as == b.four_octet_as && a.ebgp == b.ebgp && a.add_path_ipv4 == b.add_path_ipv4 &&
         a.add_path_ipv6 == b.add_path_ipv6 && a.extended_message == b.extended_message &&
         a.extended_next_hop == b.extended_next_hop;
}

// A chunk of a group's UPDATEs, copied to member `m` unless it is one the member must
// not get (its own routes, RFC 4456 §8).
template <typename Chunk>
void emit(const Chunk& c, PeerId m, uint32_t router_id, std::vector<const std::vector<uint8_t>*>& out,
          uint64_t& prefixes) {
  if (c.only != UINT32_MAX && c.only != m) return;
  if (c.except == m) return;
  if (c.except_router_id && c.except_router_id == router_id) return;
  for (const auto& message : c.messages) out.push_back(&message);
  prefixes += c.prefixes;
}

// The member's own copy: one vector per message, or (buffer_bytes > 0) messages back
// to back in buffers of at most that size, exactly allocated.
std::vector<std::vector<uint8_t>> copy_out(const std::vector<const std::vector<uint8_t>*>& messages,
                                           size_t buffer_bytes) {
  std::vector<std::vector<uint8_t>> out;
  if (!buffer_bytes) {
    out.reserve(messages.size());
    for (const auto* m : messages) out.push_back(*m);
    return out;
  }
  for (size_t i = 0; i < messages.size();) {
    size_t size = 0, j = i;
    while (j < messages.size() && (j == i || size + messages[j]->size() <= buffer_bytes)) size += messages[j++]->size();
    auto& buffer = out.emplace_back();
    buffer.reserve(size);
    for (; i < j; ++i) buffer.insert(buffer.end(), messages[i]->begin(), messages[i]->end());
  }
  return out;
}

}  // namespace

// --- membership -------------------------------------------------------------------------

// What decides the bytes a peer is sent: its role, its export policy, our next hop
// towards it and the negotiated encoding. Import policy and router ID do not.
bool Rib::same_outbound(const PeerInfo& a, const PeerInfo& b) {
  return a.internal == b.internal && a.rr_client == b.rr_client && (a.internal || a.asn == b.asn) &&
         same_encoding(a.encode, b.encode) && a.families == b.families && a.self_v4 == b.self_v4 &&
         a.self_v6 == b.self_v6 && a.exports == b.exports;
}

uint32_t Rib::find_or_create(const PeerInfo& info) {
  for (auto& g : groups_) {
    if (g.active && same_outbound(g.shape, info)) return g.id;
  }
  uint32_t id;
  if (!free_groups_.empty()) {
    id = free_groups_.back();
    free_groups_.pop_back();
  } else {
    id = static_cast<uint32_t>(groups_.size());
    groups_.emplace_back();
  }
  Group& g = groups_[id];
  g = Group{};
  g.active = true;
  g.id = id;
  g.shape = info;
  // Nobody in a new group was sent anything: its Adj-RIB-Out starts as the table exported
  // to it, with nothing queued, and each member's first take dumps it.
  for_each([&](const Prefix& prefix, const Dest& d) {
    if (d.best == kNone || family_index(g, prefix) == kNoFamily) return;
    if (auto set = export_to(g, paths_[d.best])) {
      attrs_.ref(*set);
      g.sent.emplace(prefix, Out{*set, paths_[d.best].peer});
    }
  });
  return id;
}

void Rib::add_member(uint32_t group, PeerId peer) {
  Group& g = groups_[group];
  Peer& p = peers_[peer];
  g.members.push_back(peer);
  g.by_router_id.emplace(p.info.router_id, peer);
  p.group = group;
  p.next = g.end();
  g.dump = {};  // which members a chunk skips depends on who is a member
}

uint32_t Rib::join(PeerId peer) {
  uint32_t g = find_or_create(peers_[peer].info);
  add_member(g, peer);
  peers_[peer].initial = true;
  ++groups_[g].joining;
  return g;
}

// Leaving frees nothing the others use: only its place in the log, and the group itself
// with its last member.
void Rib::leave(PeerId peer) {
  Peer& p = peers_[peer];
  if (p.group == kNone) return;
  Group& g = groups_[p.group];
  if (!p.initial) {
    for (uint64_t s = std::max(p.next, g.first); s < g.end(); ++s) --g.log[s - g.first].waiting;
  } else {
    --g.joining;
  }
  std::erase(g.members, peer);
  for (auto [it, end] = g.by_router_id.equal_range(p.info.router_id); it != end; ++it) {
    if (it->second == peer) {
      g.by_router_id.erase(it);
      break;
    }
  }
  p.group = kNone;
  p.resync.clear();
  g.dump = {};
  if (!g.members.empty()) {
    trim(g);
    return;
  }
  for (const auto& [prefix, out] : g.sent) attrs_.release(out.set);
  for (const auto& [key, set] : g.exported) attrs_.release(set);
  free_groups_.push_back(g.id);
  g = Group{};
}

bool Rib::member(PeerId peer, uint32_t group) const {
  return peer != kLocal && peer < peers_.size() && peers_[peer].active && peers_[peer].group == group;
}

bool Rib::visible(PeerId m, const std::optional<Out>& out) const {
  if (!out || out->from == m) return false;  // never back to where it came from
  // RFC 4456 §8: a route whose ORIGINATOR_ID is the member's own is of no use to it.
  const auto& a = attrs_.get(out->set);
  return !(a.originator_id && *a.originator_id == peers_[m].info.router_id);
}

std::optional<AttrId> Rib::seen_by(PeerId m, const Group& g, const Prefix& prefix) const {
  auto it = g.sent.find(prefix);
  if (it == g.sent.end() || !visible(m, it->second)) return std::nullopt;
  return it->second.set;
}

std::vector<Rib::GroupView> Rib::groups() const {
  std::vector<GroupView> out;
  for (const auto& g : groups_) {
    if (!g.active) continue;
    out.push_back(GroupView{g.members, g.sent.size(), g.log.size(), g.log_bytes});
  }
  return out;
}

// --- export -----------------------------------------------------------------------------

// The same for every member: whether a route goes back to the member it came from is
// decided when it is sent (visible()).
std::optional<AttrId> Rib::export_to(Group& to, const Path& path) {
  const Peer& from = peers_[path.peer];
  const auto& src = attrs_.get(path.attrs);
  const PeerInfo& shape = to.shape;
  if (has(src.communities, wire::community::kNoAdvertise)) return std::nullopt;
  if (!shape.internal && (has(src.communities, wire::community::kNoExport) ||
                          has(src.communities, wire::community::kNoExportSubconfed))) {
    return std::nullopt;
  }
  bool local = path.peer == kLocal;
  bool reflect = false;
  if (local) {
    if (!shape.exports.local) return std::nullopt;
  } else if (from.info.internal && shape.internal) {
    // RFC 4456 §6: from a client to everyone; from a non-client to clients only.
    reflect = from.info.rr_client || shape.rr_client;
    if (!reflect) return std::nullopt;
  } else if (!shape.exports.learned) {
    return std::nullopt;
  }

  // The family matters for the next hop; it is in the key.
  bool v6 = src.mp_reach ? src.mp_reach->family.afi == wire::Afi::kIpv6 : false;
  uint64_t key = uint64_t{path.attrs} << 32 | uint64_t{path.peer} << 1 | (v6 ? 1 : 0);
  if (auto it = to.exported.find(key); it != to.exported.end()) return it->second;

  wire::PathAttributes a = src;
  const auto& policy = shape.exports;
  bool self = local || !shape.internal || policy.next_hop_self;
  if (!shape.internal) {
    prepend(a, options_.asn, 1 + policy.prepend);
    a.local_pref.reset();
    a.originator_id.reset();
    a.cluster_list.clear();
    if (!local) a.med.reset();  // RFC 4271 §5.1.4: not passed on to other ASes
  } else {
    a.local_pref = policy.local_pref.value_or(src.local_pref.value_or(100));
    if (reflect) {
      if (!a.originator_id) a.originator_id = from.info.router_id;
      a.cluster_list.insert(a.cluster_list.begin(), options_.cluster_id);
    }
  }
  if (policy.med) a.med = policy.med;
  for (uint32_t c : policy.communities) {
    if (!has(a.communities, c)) a.communities.push_back(c);
  }
  for (const auto& c : policy.large_communities) {
    if (std::find(a.large_communities.begin(), a.large_communities.end(), c) == a.large_communities.end()) {
      a.large_communities.push_back(c);
    }
  }
  if (self) {
    if (v6) {
      if (!shape.self_v6) return std::nullopt;
      a.mp_reach = wire::MpReach{wire::kIpv6Unicast, *shape.self_v6, std::nullopt, {}};
    } else {
      if (!shape.self_v4) return std::nullopt;
      a.next_hop = shape.self_v4;
    }
  }
  AttrId id = attrs_.intern(std::move(a));
  to.exported.emplace(key, id);
  return id;
}

void Rib::queue(Group& to, const Prefix& prefix, const Dest* d) {
  if (family_index(to, prefix) == kNoFamily) return;
  std::optional<Out> want;
  if (d && d->best != kNone) {
    if (auto set = export_to(to, paths_[d->best])) want = Out{*set, paths_[d->best].peer};
  }
  auto sent = to.sent.find(prefix);
  bool same = sent == to.sent.end() ? !want : (want && *want == sent->second);
  if (same) {
    to.pending.erase(prefix);
  } else {
    to.pending[prefix] = want;
  }
}

void Rib::queue_table(Group& to) {
  for_each([&](const Prefix& prefix, const Dest& d) { queue(to, prefix, &d); });
}

// Forgets how routes were exported to the group, before its table is queued again; what
// it was sent keeps its references, so an unchanged set is found equal and not sent twice.
// Pending entries stay: those of prefixes still in the table are queued over, the others
// are withdrawals that must still go out.
void Rib::reset_exports(Group& to) {
  for (const auto& [key, set] : to.exported) attrs_.release(set);
  to.exported.clear();
}

// --- building UPDATEs -------------------------------------------------------------------

uint32_t Rib::family_index(const Group& g, const Prefix& prefix) {
  const auto& fs = g.shape.families;
  auto it = std::find(fs.begin(), fs.end(), family_of(prefix));
  return it == fs.end() ? kNoFamily : static_cast<uint32_t>(it - fs.begin());
}

// The members an announcement must skip, named only when they are members: a route from
// outside the group goes to everyone in one chunk per set.
Rib::ChunkKey Rib::announce_key(const Group& g, uint32_t family, const Out& out) const {
  ChunkKey k{family, 1, out.set, kNone, member(out.from, g.id) ? out.from : kNone, 0};
  const auto& a = attrs_.get(out.set);
  if (a.originator_id && g.by_router_id.count(*a.originator_id)) k.except_router_id = *a.originator_id;
  return k;
}

// A withdrawal skips the members that never saw the route.
Rib::ChunkKey Rib::withdraw_key(const Group& g, uint32_t family, const Out& out) const {
  ChunkKey k = announce_key(g, family, out);
  k.kind = 0;
  k.set = 0;
  return k;
}

std::vector<Rib::Chunk> Rib::pack(const Group& g, const Parts& parts) {
  std::vector<Chunk> out;
  out.reserve(parts.size());
  for (const auto& [k, nlri] : parts) {
    Chunk c;
    c.only = k.only;
    c.except = k.except;
    c.except_router_id = k.except_router_id;
    auto family = g.shape.families[k.family];
    if (k.kind == 0) {
      wire::pack_withdrawals(nlri, family, g.shape.encode, c.messages);
    } else {
      wire::pack_announcements(attrs_.get(k.set), nlri, family, g.shape.encode, c.messages);
      c.prefixes = nlri.size();
    }
    messages_built_ += c.messages.size();
    out.push_back(std::move(c));
  }
  return out;
}

// The group's queue becomes one batch of UPDATEs in its log, built once for all members.
// Per member only this: a member whose own route replaces one it was sent gets a
// withdrawal of its own (the announcement skips it).
void Rib::build(Group& g) {
  if (g.pending.empty()) return;
  Parts parts;
  Batch b;
  b.touched.reserve(g.pending.size());
  for (const auto& entry : g.pending) {
    // Named, not structured bindings: the lambda below captures them (clang 14 cannot).
    const Prefix& prefix = entry.first;
    const auto& want = entry.second;
    uint32_t f = family_index(g, prefix);
    b.touched.push_back(prefix);
    auto it = g.sent.find(prefix);
    std::optional<Out> old;
    if (it != g.sent.end()) old = it->second;
    if (want) {
      parts[announce_key(g, f, *want)].push_back({prefix, 0});
      if (old) {
        auto lose = [&](PeerId m) {
          if (visible(m, old) && !visible(m, want)) parts[ChunkKey{f, 0, 0, m, kNone, 0}].push_back({prefix, 0});
        };
        if (member(want->from, g.id)) lose(want->from);
        if (const auto& o = attrs_.get(want->set).originator_id) {
          for (auto [m, end] = g.by_router_id.equal_range(*o); m != end; ++m) {
            if (m->second != want->from) lose(m->second);
          }
        }
      }
      attrs_.ref(want->set);  // before the old one goes: they may be the same set
      if (old) {
        attrs_.release(it->second.set);
        it->second = *want;
      } else {
        g.sent.emplace(prefix, *want);
      }
    } else if (old) {
      parts[withdraw_key(g, f, *old)].push_back({prefix, 0});
      attrs_.release(old->set);
      g.sent.erase(it);
    }
  }
  g.pending.clear();
  b.chunks = pack(g, parts);
  for (const auto& c : b.chunks) {
    for (const auto& m : c.messages) b.bytes += m.size();
  }
  for (PeerId m : g.members) b.waiting += peers_[m].initial ? 0 : 1;
  g.log_bytes += b.bytes;
  g.log.push_back(std::move(b));
}

// The group's whole Adj-RIB-Out for `families`, encoded once for the members that dump
// it at the same point of the log (sessions that come up together).
const std::vector<Rib::Chunk>& Rib::dump(Group& g, unsigned families) {
  if (g.dump.at == g.end() && g.dump.families == families) return g.dump.chunks;
  Parts parts;
  for (const auto& [prefix, out] : g.sent) {
    if (!(bit(family_of(prefix)) & families)) continue;
    parts[announce_key(g, family_index(g, prefix), out)].push_back({prefix, 0});
  }
  g.dump.chunks = pack(g, parts);
  g.dump.bytes = 0;
  for (const auto& c : g.dump.chunks) {
    for (const auto& m : c.messages) g.dump.bytes += m.size();
  }
  g.dump.at = g.end();
  g.dump.families = families;
  return g.dump.chunks;
}

// Batches every member has taken go. A member so far behind that the log outgrows its
// budget (its write queue full for long) leaves the log: what the dropped batches
// touched is sent to it later from the Adj-RIB-Out, as it is then.
void Rib::trim(Group& g) {
  auto drop = [&] {
    g.log_bytes -= g.log.front().bytes;
    g.log.pop_front();
    ++g.first;
  };
  while (!g.log.empty() && g.log.front().waiting == 0) drop();
  while (g.log_bytes > options_.group_log_bytes && g.log.size() > 1) {
    const Batch& b = g.log.front();
    for (PeerId m : g.members) {
      Peer& p = peers_[m];
      if (p.initial || p.next != g.first) continue;
      p.resync.insert(b.touched.begin(), b.touched.end());
      p.next = g.first + 1;
    }
    drop();
  }
}

std::vector<std::vector<uint8_t>> Rib::take_updates(PeerId id, uint64_t* prefixes) {
  return take(id, prefixes, 0, nullptr);
}

std::vector<std::vector<uint8_t>> Rib::take_buffers(PeerId id, size_t buffer_bytes, uint64_t* prefixes,
                                                    uint64_t* messages) {
  return take(id, prefixes, buffer_bytes, messages);
}

std::vector<std::vector<uint8_t>> Rib::take(PeerId id, uint64_t* prefixes, size_t buffer_bytes, uint64_t* count) {
  uint64_t announced = 0;
  Peer& p = peers_[id];
  if (p.group == kNone) {
    if (prefixes) *prefixes = 0;
    if (count) *count = 0;
    return {};
  }
  Group& g = groups_[p.group];
  build(g);
  uint32_t rid = p.info.router_id;
  std::vector<const std::vector<uint8_t>*> messages;  // shared ones, and these:
  std::vector<Chunk> own;
  std::vector<std::vector<uint8_t>> end_of_rib;
  if (p.initial) {
    // A late joiner gets the table as the group has it now, not the log before it.
    unsigned all = 0;
    for (auto f : g.shape.families) all |= bit(f);
    for (const auto& c : dump(g, all)) emit(c, id, rid, messages, announced);
    p.initial = false;
    --g.joining;
    p.next = g.end();
    p.dump = 0;
    p.resync.clear();
    for (auto f : g.shape.families) {
      end_of_rib.push_back(wire::encode_message(wire::end_of_rib_marker(f), g.shape.encode));
    }
    for (const auto& m : end_of_rib) messages.push_back(&m);
  } else {
    for (uint64_t s = p.next; s < g.end(); ++s) {
      Batch& b = g.log[s - g.first];
      for (const auto& c : b.chunks) emit(c, id, rid, messages, announced);
      --b.waiting;
    }
    p.next = g.end();
    if (!p.resync.empty()) {
      // Built for this member alone: O(the prefixes it missed).
      Parts parts;
      for (const auto& prefix : p.resync) {
        uint32_t f = family_index(g, prefix);
        if (f == kNoFamily) continue;
        if (auto set = seen_by(id, g, prefix)) {
          parts[ChunkKey{f, 1, *set, kNone, kNone, 0}].push_back({prefix, 0});
        } else {
          parts[ChunkKey{f, 0, 0, kNone, kNone, 0}].push_back({prefix, 0});
        }
      }
      own = pack(g, parts);
      for (const auto& c : own) emit(c, id, rid, messages, announced);
      std::unordered_set<Prefix>().swap(p.resync);
    }
    if (p.dump) {
      for (const auto& c : dump(g, p.dump)) emit(c, id, rid, messages, announced);
      p.dump = 0;
    }
  }
  auto out = copy_out(messages, buffer_bytes);
  // Kept for members still to take their first table, and only while small.
  if (g.dump.bytes > kDumpKept || g.joining == 0) g.dump = {};
  trim(g);
  if (prefixes) *prefixes = announced;
  if (count) *count = messages.size();
  return out;
}

// --- refresh and policy -----------------------------------------------------------------

void Rib::refresh(PeerId id, wire::AddressFamily family) {
  Peer& p = peers_[id];
  if (p.group == kNone || p.initial) return;  // the whole table is due anyway
  const auto& fs = groups_[p.group].shape.families;
  if (std::find(fs.begin(), fs.end(), family) != fs.end()) p.dump |= bit(family);
}

// A member whose outbound treatment changed goes to the group that has it now. What it
// must be told is what differs between the two Adj-RIB-Outs as it sees them, plus what
// it had not taken yet from the old one.
void Rib::move(PeerId id) {
  Peer& p = peers_[id];
  uint32_t from = p.group;
  std::unordered_set<Prefix> differ = std::move(p.resync);
  bool initial = p.initial;
  {
    Group& old = groups_[from];
    if (!initial) {
      for (uint64_t s = p.next; s < old.end(); ++s) {
        Batch& b = old.log[s - old.first];
        differ.insert(b.touched.begin(), b.touched.end());
        --b.waiting;
      }
    }
    p.next = old.end();
  }
  uint32_t to = find_or_create(p.info);
  const Group& old = groups_[from];
  const Group& now = groups_[to];
  if (!initial) {
    for (const auto& [prefix, out] : old.sent) {
      if (seen_by(id, old, prefix) != seen_by(id, now, prefix)) differ.insert(prefix);
    }
    for (const auto& [prefix, out] : now.sent) {
      if (!old.sent.count(prefix) && visible(id, out)) differ.insert(prefix);
    }
  }
  leave(id);
  add_member(to, id);
  p.initial = initial;
  if (initial) ++groups_[to].joining;
  p.resync = std::move(differ);
  trim(groups_[to]);
}

void Rib::set_policies(PeerId id, bool rr_client, const ImportPolicy& import, const ExportPolicy& exports) {
  Peer& p = peers_[id];
  bool role_changed = p.info.rr_client != rr_client;
  p.info.rr_client = rr_client;
  p.info.import = import;
  p.info.exports = exports;
  std::vector<std::pair<Prefix, uint32_t>> refused;
  for_each([&](const Prefix& prefix, const Dest& d) {
    for (uint32_t i = d.head; i != kNone; i = paths_[i].next) {
      if (paths_[i].peer == id && !accepted(p, prefix)) refused.emplace_back(prefix, paths_[i].path_id);
    }
  });
  for (const auto& [prefix, path_id] : refused) remove(id, prefix, path_id);
  if (p.group != kNone && !same_outbound(groups_[p.group].shape, p.info)) move(id);
  if (!role_changed) return;
  // Its routes now go elsewhere (RFC 4456 §6 depends on the sender's role too).
  for (auto& g : groups_) {
    if (!g.active) continue;
    reset_exports(g);
    queue_table(g);
  }
}

}  // namespace tern::bgp::rib
