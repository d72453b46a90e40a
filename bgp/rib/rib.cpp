#include "bgp/rib/rib.hpp"

#include <algorithm>

namespace tern::bgp::rib {

namespace {

uint64_t key4(const Prefix& p) { return uint64_t{p.address().v4_host_order()} << 8 | static_cast<uint64_t>(p.length()); }

bool has(const std::vector<uint32_t>& v, uint32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

std::optional<IpAddress> next_hop_of(const wire::PathAttributes& a) {
  if (a.mp_reach) return a.mp_reach->next_hop;
  return a.next_hop;
}

}  // namespace

Rib::Rib(Options options, ChangeHandler on_change) : options_(options), on_change_(std::move(on_change)) {
  if (options_.cluster_id == 0) options_.cluster_id = options_.router_id;
  Peer local;
  local.info.name = "local";
  local.info.router_id = options_.router_id;
  local.info.asn = options_.asn;
  local.active = true;
  peers_.push_back(std::move(local));
}

// --- the prefix tables ------------------------------------------------------------------

Rib::Dest* Rib::find(const Prefix& p) {
  if (p.address().is_v4()) {
    auto it = v4_.find(key4(p));
    return it == v4_.end() ? nullptr : &it->second;
  }
  auto it = v6_.find(p);
  return it == v6_.end() ? nullptr : &it->second;
}

const Rib::Dest* Rib::find(const Prefix& p) const { return const_cast<Rib*>(this)->find(p); }

Rib::Dest& Rib::get(const Prefix& p) { return p.address().is_v4() ? v4_[key4(p)] : v6_[p]; }

void Rib::erase(const Prefix& p) {
  if (p.address().is_v4()) {
    v4_.erase(key4(p));
  } else {
    v6_.erase(p);
  }
}

Prefix Rib::unkey4(uint64_t k) {
  return Prefix(IpAddress::v4(static_cast<uint32_t>(k >> 8)), static_cast<int>(k & 0xff));
}

size_t Rib::prefixes(Family f) const { return f == Family::kIpv4 ? v4_.size() : v6_.size(); }

// --- peers ------------------------------------------------------------------------------

PeerId Rib::add_peer(PeerInfo info) {
  PeerId id;
  if (!free_peers_.empty()) {
    id = free_peers_.back();
    free_peers_.pop_back();
  } else {
    id = static_cast<PeerId>(peers_.size());
    peers_.emplace_back();
  }
  Peer& p = peers_[id];
  p = Peer{};
  p.info = std::move(info);
  p.active = true;
  join(id);  // its first take_updates dumps the group's Adj-RIB-Out
  return id;
}

void Rib::remove_peer(PeerId id) {
  std::vector<std::pair<Prefix, uint32_t>> theirs;
  for_each([&](const Prefix& prefix, const Dest& d) {
    for (uint32_t i = d.head; i != kNone; i = paths_[i].next) {
      if (paths_[i].peer == id) theirs.emplace_back(prefix, paths_[i].path_id);
    }
  });
  Peer& p = peers_[id];
  p.active = false;  // nothing more is queued for it while its routes go
  leave(id);  // the group's state stays for the others (or goes with the last member)
  for (const auto& [prefix, path_id] : theirs) remove(id, prefix, path_id);
  peers_[id] = Peer{};
  free_peers_.push_back(id);
}

// --- input ------------------------------------------------------------------------------

bool Rib::accepted(const Peer& peer, const Prefix& prefix) const {
  const auto& policy = peer.info.import;
  if (prefix.length() == 0 && !policy.accept_default_route) return false;
  for (const auto& d : policy.deny) {
    if (d.contains(prefix)) return false;
  }
  return std::any_of(policy.allow.begin(), policy.allow.end(), [&](const ImportPolicy::Allow& a) {
    return a.within.contains(prefix) && prefix.length() >= a.min_length && prefix.length() <= a.max_length;
  });
}

Rib::Applied Rib::apply(PeerId id, const wire::Update& update, wire::Verdict verdict) {
  Applied out;
  Peer& peer = peers_[id];
  if (wire::end_of_rib(update)) {
    out.end_of_rib = true;
    return out;
  }
  const auto& a = update.attributes;
  for (const auto& n : update.withdrawn) out.withdrawn += remove(id, n.prefix, n.path_id);
  if (a.mp_unreach) {
    for (const auto& n : a.mp_unreach->withdrawn) out.withdrawn += remove(id, n.prefix, n.path_id);
  }

  std::vector<const wire::Nlri*> announced;
  for (const auto& n : update.nlri) announced.push_back(&n);
  if (a.mp_reach) {
    for (const auto& n : a.mp_reach->nlri) announced.push_back(&n);
  }
  if (announced.empty()) return out;

  // Loops (RFC 4271 §9.1.2, RFC 4456 §8) and RFC 7606 treat-as-withdraw: the prefixes
  // are withdrawn, whatever we had from this peer for them goes.
  bool loop = (!peer.info.internal && a.as_path && a.as_path->contains(options_.asn)) ||
              (a.originator_id && *a.originator_id == options_.router_id) || has(a.cluster_list, options_.cluster_id);
  if (loop || verdict == wire::Verdict::kTreatAsWithdraw) {
    for (const auto* n : announced) out.withdrawn += remove(id, n->prefix, n->path_id);
    out.refused += loop ? announced.size() : 0;
    return out;
  }

  wire::PathAttributes attrs = a;
  // RFC 4271 §5.1.5: LOCAL_PREF from an external peer is ignored.
  if (!peer.info.internal) attrs.local_pref.reset();
  AttrId set = attrs_.intern(std::move(attrs));
  for (const auto* n : announced) {
    if (!accepted(peer, n->prefix)) {
      ++out.refused;
      remove(id, n->prefix, n->path_id);
      continue;
    }
    attrs_.ref(set);
    upsert(id, n->prefix, n->path_id, set);
    ++out.announced;
  }
  attrs_.release(set);
  const auto& limit = peer.info.import.max_prefixes;
  out.over_limit = limit && peers_[id].received > limit;
  return out;
}

void Rib::announce_local(const Prefix& prefix) {
  wire::PathAttributes a;
  a.origin = wire::Origin::kIgp;
  a.as_path = wire::AsPath{};
  // An IPv6 route's family travels in MP_REACH (its next hop is set per peer on export).
  if (prefix.address().is_v6()) a.mp_reach = wire::MpReach{wire::kIpv6Unicast, *IpAddress::parse("::"), std::nullopt, {}};
  upsert(kLocal, prefix, 0, attrs_.intern(std::move(a)));
}

void Rib::withdraw_local(const Prefix& prefix) { remove(kLocal, prefix, 0); }

void Rib::upsert(PeerId peer, const Prefix& prefix, uint32_t path_id, AttrId set) {
  Dest& d = get(prefix);
  for (uint32_t i = d.head; i != kNone; i = paths_[i].next) {
    if (paths_[i].peer == peer && paths_[i].path_id == path_id) {
      if (paths_[i].attrs == set) {
        attrs_.release(set);  // the same announcement again: nothing changes
        return;
      }
      attrs_.release(paths_[i].attrs);
      paths_[i].attrs = set;
      decide(prefix);
      return;
    }
  }
  uint32_t i;
  if (!free_paths_.empty()) {
    i = free_paths_.back();
    free_paths_.pop_back();
  } else {
    i = static_cast<uint32_t>(paths_.size());
    paths_.emplace_back();
  }
  paths_[i] = Path{set, peer, path_id, d.head};
  d.head = i;
  ++peers_[peer].received;
  decide(prefix);
}

bool Rib::remove(PeerId peer, const Prefix& prefix, uint32_t path_id) {
  Dest* d = find(prefix);
  if (!d) return false;
  for (uint32_t* link = &d->head; *link != kNone; link = &paths_[*link].next) {
    uint32_t i = *link;
    if (paths_[i].peer != peer || paths_[i].path_id != path_id) continue;
    *link = paths_[i].next;
    attrs_.release(paths_[i].attrs);
    free_paths_.push_back(i);
    --peers_[peer].received;
    if (d->best == i) d->best = kNone;
    decide(prefix);
    return true;
  }
  return false;
}

// --- decision ---------------------------------------------------------------------------

Candidate Rib::candidate(const Path& path) const {
  const Peer& from = peers_[path.peer];
  return Candidate{&attrs_.get(path.attrs), path.peer == kLocal, path.peer != kLocal && !from.info.internal,
                   from.info.router_id, from.info.address, path.path_id};
}

std::vector<uint32_t> Rib::multipath(const Dest& d) const {
  std::vector<uint32_t> out;
  if (d.best == kNone) return out;
  out.push_back(d.best);
  if (options_.decision.max_paths <= 1) return out;
  Candidate best = candidate(paths_[d.best]);
  std::vector<uint32_t> equal;
  for (uint32_t i = d.head; i != kNone; i = paths_[i].next) {
    if (i != d.best && multipath_equal(best, candidate(paths_[i]), options_.decision)) equal.push_back(i);
  }
  std::sort(equal.begin(), equal.end(), [&](uint32_t a, uint32_t b) {
    return compare(candidate(paths_[a]), candidate(paths_[b]), options_.decision) < 0;
  });
  for (uint32_t i : equal) {
    if (out.size() >= options_.decision.max_paths) break;
    out.push_back(i);
  }
  return out;
}

void Rib::decide(const Prefix& prefix) {
  Dest* d = find(prefix);
  if (!d) return;
  uint32_t best = kNone;
  for (uint32_t i = d->head; i != kNone; i = paths_[i].next) {
    if (best == kNone || compare(candidate(paths_[i]), candidate(paths_[best]), options_.decision) < 0) best = i;
  }
  d->best = best;

  // What the kernel should have now; a change only when it differs from the last one.
  BestChange change{prefix, {}, best != kNone && paths_[best].peer == kLocal};
  if (best != kNone && !change.local) {
    for (uint32_t i : multipath(*d)) {
      auto nh = next_hop_of(attrs_.get(paths_[i].attrs));
      if (nh && std::find(change.next_hops.begin(), change.next_hops.end(), *nh) == change.next_hops.end()) {
        change.next_hops.push_back(*nh);
      }
    }
    std::sort(change.next_hops.begin(), change.next_hops.end());
  }
  uint32_t fingerprint = 0;
  if (best != kNone) {
    fingerprint = change.local ? 1 : 2166136261u;
    for (const auto& nh : change.next_hops) {
      for (uint8_t b : nh.bytes()) fingerprint = (fingerprint ^ b) * 16777619u;
    }
    if (fingerprint == 0) fingerprint = 2;
  }
  if (fingerprint != d->installed) {
    d->installed = fingerprint;
    if (on_change_) on_change_(change);
  }

  for (auto& g : groups_) {
    if (g.active) queue(g, prefix, d);
  }
  if (d->head == kNone) erase(prefix);
}

// --- views ------------------------------------------------------------------------------

std::vector<RouteView> Rib::view(const std::optional<Prefix>& only) const {
  std::vector<RouteView> out;
  auto one = [&](const Prefix& prefix, const Dest& d) {
    RouteView r{prefix, {}};
    auto mp = multipath(d);
    Candidate best = candidate(paths_[d.best]);
    for (uint32_t i = d.head; i != kNone; i = paths_[i].next) {
      const Path& path = paths_[i];
      const Peer& from = peers_[path.peer];
      PathView v{from.info.name, from.info.address, from.info.router_id, from.info.asn, &attrs_.get(path.attrs),
                 path.path_id, i == d.best, std::find(mp.begin(), mp.end(), i) != mp.end(), Reason::kEqual};
      if (i != d.best) compare(best, candidate(path), options_.decision, &v.lost_because);
      r.paths.push_back(v);
    }
    std::stable_sort(r.paths.begin(), r.paths.end(), [](const PathView& a, const PathView& b) { return a.best > b.best; });
    out.push_back(std::move(r));
  };
  if (only) {
    if (const Dest* d = find(*only); d && d->best != kNone) one(*only, *d);
    return out;
  }
  for_each([&](const Prefix& prefix, const Dest& d) {
    if (d.best != kNone) one(prefix, d);
  });
  std::sort(out.begin(), out.end(), [](const RouteView& a, const RouteView& b) { return a.prefix < b.prefix; });
  return out;
}

}  // namespace tern::bgp::rib
