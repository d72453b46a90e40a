// The FIB's kernel nexthop objects (RTM_NEWNEXTHOP, Linux 5.3+): made, shared, replaced
// in place, reference-counted and deleted when unused. The design is in fib.hpp.
#include <linux/nexthop.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>
#include <unordered_set>

#include "routing/fib/fib.hpp"
#include "routing/fib/netlink.hpp"

namespace tern::routing {

namespace {

using netlink::put_address;
using netlink::put_attr;
using netlink::put_u32;

bool hop_less(const NextHop& a, const NextHop& b) {
  return std::tie(a.gateway, a.ifindex, a.weight, a.onlink) < std::tie(b.gateway, b.ifindex, b.weight, b.onlink);
}

bool same_way(const NextHop& a, const NextHop& b) {
  return a.gateway == b.gateway && a.ifindex == b.ifindex && a.onlink == b.onlink;
}

std::vector<std::pair<uint32_t, uint8_t>> sorted(std::vector<std::pair<uint32_t, uint8_t>> m) {
  std::sort(m.begin(), m.end());
  return m;
}

constexpr const char* kUnreachable = "no route to its next hop: pending until there is one";

// The kernel has no nexthop objects, or will not take this one: the routes carry their
// next hops themselves.
bool refused(int err) { return err == EOPNOTSUPP || err == EINVAL; }

}  // namespace

bool Fib::same_object(const NhObject& k, const NhObject& o) {
  return k.group == o.group && (o.group ? sorted(k.members) == sorted(o.members)
                                        : k.family == o.family && same_way(k.written, o.written));
}

bool Fib::NhKeyLess::operator()(const NhKey& a, const NhKey& b) const {
  if (a.family != b.family) return a.family < b.family;
  return std::lexicographical_compare(a.hops.begin(), a.hops.end(), b.hops.begin(), b.hops.end(), hop_less);
}

Fib::NhKey Fib::key_of(const Route& r) {
  NhKey key{static_cast<uint8_t>(r.prefix.address().is_v4() ? AF_INET : AF_INET6), r.next_hops};
  if (key.hops.size() == 1) {
    key.hops[0].weight = 1;  // one path: its weight means nothing
  } else {
    std::sort(key.hops.begin(), key.hops.end(), hop_less);
  }
  return key;
}

size_t Fib::need(NhPlan& plan, const Route& r) {
  if (plan.last && plan.last->next_hops == r.next_hops &&
      plan.last->prefix.address().is_v4() == r.prefix.address().is_v4()) {
    return plan.last_need;
  }
  plan.last = &r;
  plan.last_need = need(plan, key_of(r));
  return plan.last_need;
}

size_t Fib::need(NhPlan& plan, NhKey key) {
  if (auto it = plan.index.find(key); it != plan.index.end()) return it->second;
  size_t at = plan.needs.size();
  plan.index.emplace(key, at);
  NhNeed fresh;
  fresh.key = key;
  plan.needs.push_back(std::move(fresh));
  if (key.hops.size() > 1) {
    for (auto hop : key.hops) {  // a group is made of single objects
      hop.weight = 1;
      size_t m = need(plan, NhKey{key.family, {hop}});
      plan.needs[at].members.push_back(m);
    }
  }
  return at;
}

std::optional<NextHop> Fib::way_to(const NextHop& hop) {
  NextHop way = hop;
  way.weight = 1;
  if (hop.ifindex) return way;  // an object needs its link: the kernel does not find it
  if (!hop.gateway) return std::nullopt;
  auto via = lookup(*hop.gateway);  // recursive or not, the kernel's way to the gateway
  if (!via) return std::nullopt;
  way.gateway = via->gateway;
  way.ifindex = via->ifindex;
  return way;
}

uint32_t Fib::adoptable(uint8_t family, const NextHop& written) const {
  for (const auto& [id, o] : objects_) {
    if (o.key.hops.empty() && !o.group && o.family == family && same_way(o.written, written)) return id;
  }
  return 0;
}

uint32_t Fib::adoptable(const std::vector<std::pair<uint32_t, uint8_t>>& members) const {
  auto want = sorted(members);
  for (const auto& [id, o] : objects_) {
    if (o.key.hops.empty() && o.group && sorted(o.members) == want) return id;
  }
  return 0;
}

void Fib::ref(uint32_t id) {
  if (auto o = objects_.find(id); id && o != objects_.end()) ++o->second.refs;
}

void Fib::unref(uint32_t id) {
  if (auto o = objects_.find(id); id && o != objects_.end() && o->second.refs) --o->second.refs;
}

void Fib::nh_message(uint32_t id, const NhObject& o, std::vector<uint8_t>& buf, std::vector<size_t>& at) {
  size_t start = buf.size();
  at.push_back(start);
  buf.resize(start + NLMSG_LENGTH(sizeof(nhmsg)));
  auto* h = reinterpret_cast<nlmsghdr*>(buf.data() + start);
  h->nlmsg_type = RTM_NEWNEXTHOP;
  // A new object's id is the kernel's choice, echoed back (ours could be someone else's);
  // a known one is replaced in place, or made again under its id if it vanished.
  h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | (id ? NLM_F_REPLACE : NLM_F_EXCL | NLM_F_ECHO);
  auto* m = static_cast<nhmsg*>(NLMSG_DATA(h));
  m->nh_family = o.group ? AF_UNSPEC : o.family;
  m->nh_protocol = options_.protocol;
  m->nh_flags = !o.group && o.written.onlink ? RTNH_F_ONLINK : 0;
  if (id) put_u32(buf, NHA_ID, id);
  if (o.group) {
    std::vector<nexthop_grp> members;
    for (const auto& [member, weight] : o.members) {
      nexthop_grp g{};
      g.id = member;
      g.weight = static_cast<uint8_t>(weight - 1);  // the kernel's weight is one more
      members.push_back(g);
    }
    put_attr(buf, NHA_GROUP, members.data(), members.size() * sizeof(nexthop_grp));
  } else {
    if (o.written.gateway) put_address(buf, NHA_GATEWAY, *o.written.gateway);
    put_u32(buf, NHA_OIF, static_cast<uint32_t>(o.written.ifindex));
  }
  reinterpret_cast<nlmsghdr*>(buf.data() + start)->nlmsg_len = static_cast<uint32_t>(buf.size() - start);
}

std::vector<Fib::NhAnswer> Fib::nh_exchange(std::vector<uint8_t>& bytes, const std::vector<size_t>& at) {
  // Few messages (one per distinct next hop), each acknowledged: a failure names its object.
  std::vector<NhAnswer> answers(at.size());
  auto stopped = netlink::transact(
      fd_, seq_, bytes, at.size(), [&](size_t i) { return at[i]; },
      [&](size_t i, const nlmsghdr* h) {
        NhAnswer& a = answers[i];
        if (h->nlmsg_type == NLMSG_ERROR) {
          a.error = netlink::error_of(h);
          if (a.error) {
            a.message = std::string("nexthop object: ") + std::strerror(a.error);
            if (auto why = netlink::extack_message(h); !why.empty()) a.message += " (" + why + ")";
          }
        } else if (h->nlmsg_type == RTM_NEWNEXTHOP) {  // the echo of a new object
          auto* m = static_cast<const nhmsg*>(NLMSG_DATA(h));
          int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(nhmsg)));
          auto* attr = reinterpret_cast<const rtattr*>(reinterpret_cast<const uint8_t*>(m) + NLMSG_ALIGN(sizeof(nhmsg)));
          for (; RTA_OK(attr, len); attr = RTA_NEXT(attr, len)) {
            if (attr->rta_type == NHA_ID) a.id = netlink::u32_from(attr);
          }
        }
      });
  if (stopped) {
    for (size_t i = stopped->at; i < at.size(); ++i) answers[i] = {stopped->error, 0, stopped->what};
  }
  return answers;
}

void Fib::provide(NhPlan& plan, FibStats& stats, const std::unordered_map<uint32_t, size_t>& moving) {
  auto settle = [&](NhNeed& nd, const NhAnswer& a) {
    if (a.error == EOPNOTSUPP) nexthops_ = false;  // no objects in this kernel: inline from now on
    if (refused(a.error)) {
      nd.inline_hops = true;
    } else {
      nd.error = a.error;
      nd.message = a.message;
    }
  };

  // Singles first: groups are made of them.
  std::vector<uint8_t> buf;
  std::vector<size_t> at, who;
  std::vector<NhObject> made;
  for (size_t i = 0; i < plan.needs.size(); ++i) {
    NhNeed& nd = plan.needs[i];
    if (nd.key.hops.size() != 1) continue;
    if (auto k = by_key_.find(nd.key); k != by_key_.end()) {
      nd.id = k->second;
      continue;
    }
    const NextHop& hop = nd.key.hops[0];
    if (!hop.gateway && !hop.ifindex) {  // nothing an object could say
      nd.inline_hops = true;
      continue;
    }
    auto way = way_to(hop);
    if (!way) {
      nd.error = ENETUNREACH;
      nd.message = kUnreachable;
      continue;
    }
    if (uint32_t id = adoptable(nd.key.family, *way)) {  // left by an earlier run: ours again
      objects_[id].key = nd.key;
      by_key_[nd.key] = id;
      nd.id = id;
      continue;
    }
    NhObject o;
    o.key = nd.key;
    o.family = nd.key.family;
    o.written = *way;
    nh_message(0, o, buf, at);
    who.push_back(i);
    made.push_back(std::move(o));
  }
  auto answers = nh_exchange(buf, at);
  for (size_t k = 0; k < answers.size(); ++k) {
    NhNeed& nd = plan.needs[who[k]];
    if (answers[k].error || !answers[k].id) {
      settle(nd, answers[k].error ? answers[k] : NhAnswer{EPROTO, 0, "nexthop object: no id echoed"});
      continue;
    }
    nd.id = answers[k].id;
    objects_[nd.id] = std::move(made[k]);
    by_key_[nd.key] = nd.id;
    ++stats.objects_added;
  }

  // Groups: found, replaced in place (their members changed, or all their routes move to
  // the same new set), adopted, or made.
  buf.clear();
  at.clear();
  who.clear();
  made.clear();
  std::vector<uint32_t> in_place;
  for (size_t i = 0; i < plan.needs.size(); ++i) {
    NhNeed& nd = plan.needs[i];
    if (nd.key.hops.size() < 2) continue;
    NhObject o;
    o.key = nd.key;
    o.family = nd.key.family;
    o.group = true;
    for (size_t j = 0; j < nd.members.size(); ++j) {
      const NhNeed& m = plan.needs[nd.members[j]];
      if (m.inline_hops) nd.inline_hops = true;
      if (m.error && !nd.error) nd.error = m.error, nd.message = m.message;
      o.members.emplace_back(m.id, nd.key.hops[j].weight);
    }
    if (nd.inline_hops || nd.error) continue;
    uint32_t id = 0;
    if (auto k = by_key_.find(nd.key); k != by_key_.end()) {
      id = k->second;
      if (sorted(objects_[id].members) == sorted(o.members)) {
        nd.id = id;
        continue;
      }
    } else {
      for (const auto& [group, target] : moving) {
        if (target == i) id = group;
      }
      if (!id) {
        if (uint32_t found = adoptable(o.members)) {
          objects_[found].key = nd.key;
          by_key_[nd.key] = found;
          nd.id = found;
          continue;
        }
      }
    }
    nh_message(id, o, buf, at);
    who.push_back(i);
    in_place.push_back(id);
    made.push_back(std::move(o));
  }
  answers = nh_exchange(buf, at);
  for (size_t k = 0; k < answers.size(); ++k) {
    NhNeed& nd = plan.needs[who[k]];
    uint32_t id = in_place[k] ? in_place[k] : answers[k].id;
    if (answers[k].error || !id) {
      settle(nd, answers[k].error ? answers[k] : NhAnswer{EPROTO, 0, "nexthop object: no id echoed"});
      continue;
    }
    nd.id = id;
    NhObject& o = made[k];
    for (const auto& [member, w] : o.members) ref(member);
    if (in_place[k]) {
      NhObject& old = objects_[id];
      for (const auto& [member, w] : old.members) unref(member);
      if (auto was = by_key_.find(old.key); was != by_key_.end() && was->second == id) by_key_.erase(was);
      o.refs = old.refs;
      old = std::move(o);
      ++stats.objects_replaced;
    } else {
      objects_[id] = std::move(o);
      ++stats.objects_added;
    }
    by_key_[nd.key] = id;
  }
}

uint32_t Fib::existing_id(NhPlan& plan, const Route& r) {
  size_t n = need(plan, r);
  auto look = [&](size_t i) {
    NhNeed& nd = plan.needs[i];
    if (nd.looked) return nd.id;
    nd.looked = true;
    if (auto k = by_key_.find(nd.key); k != by_key_.end()) return nd.id = k->second;
    if (auto way = way_to(nd.key.hops[0])) {
      if (uint32_t id = adoptable(nd.key.family, *way)) {
        objects_[id].key = nd.key;
        by_key_[nd.key] = id;
        nd.id = id;
      }
    }
    return nd.id;
  };
  NhNeed& nd = plan.needs[n];
  if (nd.key.hops.size() == 1) return look(n);
  if (nd.looked) return nd.id;
  nd.looked = true;
  std::vector<std::pair<uint32_t, uint8_t>> members;
  for (size_t j = 0; j < nd.members.size(); ++j) {
    uint32_t id = look(plan.needs[n].members[j]);
    if (!id) return 0;
    members.emplace_back(id, plan.needs[n].key.hops[j].weight);
  }
  NhNeed& group = plan.needs[n];
  if (auto k = by_key_.find(group.key); k != by_key_.end()) {
    // A group that lost a member is not the one we want until it is replaced.
    return group.id = sorted(objects_[k->second].members) == sorted(members) ? k->second : 0;
  }
  if (uint32_t id = adoptable(members)) {
    objects_[id].key = group.key;
    by_key_[group.key] = id;
    group.id = id;
  }
  return group.id;
}

void Fib::collect(FibStats& stats) {
  for (bool groups : {true, false}) {  // a group holds its members
    std::vector<uint8_t> buf;
    std::vector<size_t> at;
    std::vector<uint32_t> ids;
    for (const auto& [id, o] : objects_) {
      if (o.group != groups || o.refs || o.pinned) continue;
      struct {
        nlmsghdr h;
        nhmsg m;
        rtattr a;
        uint32_t id;
      } del{};
      del.h.nlmsg_len = sizeof del;
      del.h.nlmsg_type = RTM_DELNEXTHOP;
      del.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
      del.a = {RTA_LENGTH(sizeof(uint32_t)), NHA_ID};
      del.id = id;
      at.push_back(buf.size());
      buf.insert(buf.end(), reinterpret_cast<uint8_t*>(&del), reinterpret_cast<uint8_t*>(&del) + sizeof del);
      ids.push_back(id);
    }
    if (ids.empty()) continue;
    auto answers = nh_exchange(buf, at);
    for (size_t k = 0; k < ids.size(); ++k) {
      if (answers[k].error && answers[k].error != ENOENT) continue;  // tried again next time
      auto o = objects_.find(ids[k]);
      for (const auto& [member, w] : o->second.members) unref(member);
      if (auto was = by_key_.find(o->second.key); was != by_key_.end() && was->second == ids[k]) by_key_.erase(was);
      objects_.erase(o);
      ++stats.objects_removed;
    }
  }
}

void Fib::recheck(FibStats& stats) {
  recheck_ = false;
  std::vector<uint8_t> buf;
  std::vector<size_t> at;
  std::vector<std::pair<uint32_t, NextHop>> changed;
  for (const auto& [id, o] : objects_) {
    if (o.group || o.key.hops.empty() || !o.key.hops[0].gateway || o.key.hops[0].ifindex) continue;
    auto way = way_to(o.key.hops[0]);
    // No way at all: the object stays as it was, like a route written inline.
    if (!way || same_way(*way, o.written)) continue;
    NhObject c = o;
    c.written = *way;
    nh_message(id, c, buf, at);
    changed.emplace_back(id, *way);
  }
  if (changed.empty()) return;
  auto answers = nh_exchange(buf, at);
  for (size_t k = 0; k < changed.size(); ++k) {
    if (answers[k].error) continue;
    objects_[changed[k].first].written = changed[k].second;
    ++stats.objects_replaced;
  }
}

Status Fib::sync_objects() {
  struct {
    nlmsghdr h;
    nhmsg m;
  } req{};
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof(nhmsg));
  req.h.nlmsg_type = RTM_GETNEXTHOP;
  req.m.nh_family = AF_UNSPEC;
  std::unordered_map<uint32_t, NhObject> seen;
  auto dumped = dump_each(req.h, "netlink nexthop dump", [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWNEXTHOP) return;
    if (static_cast<const nhmsg*>(NLMSG_DATA(h))->nh_protocol != options_.protocol) return;  // only ever ours
    NhObject o;
    if (uint32_t id = parse_object(h, o)) seen.emplace(id, std::move(o));
  });
  if (!dumped) {
    if (dumped.error().sys_errno != EOPNOTSUPP) return dumped.error();
    nexthops_ = false;  // a kernel without nexthop objects: there are none of ours either
    objects_.clear();
    by_key_.clear();
    return {};
  }
  // What we knew and the kernel still has as we wrote it stays ours; the rest is forgotten
  // (made again when needed). Objects of ours we did not know (an earlier run's) can be
  // adopted by a next hop that resolves to the same; the others go when nothing names them.
  for (auto it = objects_.begin(); it != objects_.end();) {
    auto k = seen.find(it->first);
    const NhObject& o = it->second;
    bool same = k != seen.end() && same_object(k->second, o);
    if (same) {
      seen.erase(k);
      ++it;
      continue;
    }
    if (auto was = by_key_.find(o.key); was != by_key_.end() && was->second == it->first) by_key_.erase(was);
    it = objects_.erase(it);
  }
  for (auto& [id, o] : seen) objects_.emplace(id, std::move(o));
  for (auto& [id, o] : objects_) o.refs = 0, o.pinned = false;
  for (const auto& [id, o] : objects_) {
    for (const auto& [member, w] : o.members) ref(member);
  }
  return {};
}

uint32_t Fib::parse_object(const nlmsghdr* h, NhObject& o) {
  auto* m = static_cast<const nhmsg*>(NLMSG_DATA(h));
  o.family = m->nh_family;
  o.written.onlink = m->nh_flags & RTNH_F_ONLINK;
  uint32_t id = 0;
  int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(nhmsg)));
  auto* a = reinterpret_cast<const rtattr*>(reinterpret_cast<const uint8_t*>(m) + NLMSG_ALIGN(sizeof(nhmsg)));
  for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    switch (a->rta_type) {
      case NHA_ID: id = netlink::u32_from(a); break;
      case NHA_GATEWAY: o.written.gateway = netlink::address_from(a); break;
      case NHA_OIF: o.written.ifindex = static_cast<int>(netlink::u32_from(a)); break;
      case NHA_GROUP: {
        o.group = true;
        auto* g = static_cast<const nexthop_grp*>(RTA_DATA(a));
        for (size_t i = 0; i < RTA_PAYLOAD(a) / sizeof(nexthop_grp); ++i) {
          o.members.emplace_back(g[i].id, static_cast<uint8_t>(g[i].weight + 1));
        }
        break;
      }
      default: break;  // NHA_BLACKHOLE: no gateway, no link, unlike any of ours
    }
  }
  return id;
}

size_t Fib::object_changed(const nlmsghdr* h) {
  if (static_cast<const nhmsg*>(NLMSG_DATA(h))->nh_protocol != options_.protocol) return 0;
  NhObject now;
  auto o = objects_.find(parse_object(h, now));
  // Not ours (or not known yet: a reconcile adopts it), or still as we wrote it.
  if (o == objects_.end() || o->second.key.hops.empty() || same_object(now, o->second)) return 0;
  // A group that lost a member deleted by someone is made whole by object_gone()'s repairs.
  for (const auto& [member, w] : o->second.members) {
    if (!member) return 0;
  }
  if (std::find(rewrite_.begin(), rewrite_.end(), o->first) != rewrite_.end()) return 0;
  rewrite_.push_back(o->first);
  return 1;
}

void Fib::rewrite(FibStats& stats) {
  std::vector<uint8_t> buf;
  std::vector<size_t> at;
  std::vector<uint32_t> ids;
  for (uint32_t id : rewrite_) {
    auto o = objects_.find(id);
    if (o == objects_.end() || o->second.key.hops.empty()) continue;  // gone or forgotten since
    bool whole = true;
    for (const auto& [member, w] : o->second.members) whole &= member != 0;
    if (!whole) continue;
    nh_message(id, o->second, buf, at);  // NLM_F_REPLACE under its id, as written
    ids.push_back(id);
  }
  rewrite_.clear();
  if (ids.empty()) return;
  auto answers = nh_exchange(buf, at);
  for (const auto& a : answers) {
    if (!a.error) ++stats.objects_replaced;  // (a failure waits for the next reconcile)
  }
}

size_t Fib::object_gone(uint32_t id) {
  auto o = objects_.find(id);
  if (o == objects_.end()) return 0;  // not ours, or one we deleted
  NhObject gone = std::move(o->second);
  objects_.erase(o);
  if (auto was = by_key_.find(gone.key); was != by_key_.end() && was->second == id) by_key_.erase(was);
  for (const auto& [member, w] : gone.members) unref(member);
  // The kernel dropped it from its groups: they are replaced whole once it is back.
  std::unordered_set<uint32_t> shrunk;
  for (auto& [gid, g] : objects_) {
    for (auto& m : g.members) {
      if (m.first == id) m.first = 0, shrunk.insert(gid);
    }
  }
  size_t repairs = 0;
  routes_.each([&](uint32_t i, Entry& e) {
    if (e.installed && e.nh_id == id) {  // gone with it
      e.installed = false;
      e.fingerprint = 0;
      e.nh_id = 0;
      --installed_;
      if (!e.wanted) {
        routes_.erase(i);
      } else {
        dirty_.push_back(i), ++repairs;
      }
    } else if (e.installed && shrunk.count(e.nh_id)) {  // still there, on fewer paths
      e.fingerprint = 0;
      dirty_.push_back(i);
      ++repairs;
    }
  });
  return repairs;
}

}  // namespace tern::routing
