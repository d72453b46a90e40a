#include "routing/fib/fib.hpp"

#include "routing/fib/netlink.hpp"

#include <linux/if.h>
#include <linux/nexthop.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_set>

namespace tern::routing {

namespace {

using netlink::address_from;
using netlink::put_address;
using netlink::put_attr;
using netlink::put_u32;

uint32_t effective_metric(const Route& r) {
  // The kernel gives IPv6 routes metric 1024 when none is asked for.
  return r.metric == 0 && r.prefix.address().is_v6() ? 1024 : r.metric;
}

// A route's identity for "is it already there": FNV-1a over what a request carries.
uint64_t fingerprint(const Route& r) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const void* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const uint8_t*>(p)[i]) * 1099511628211ull;
  };
  auto mix_address = [&](const std::optional<IpAddress>& a) {
    if (a) mix(a->bytes().data(), a->bytes().size());
    mix("|", 1);
  };
  mix(r.prefix.address().bytes().data(), r.prefix.address().bytes().size());
  int len = r.prefix.length();
  mix(&len, sizeof len);
  mix(&r.type, sizeof r.type);
  mix(&r.metric, sizeof r.metric);
  mix_address(r.source);
  for (const auto& nh : r.next_hops) {
    mix_address(nh.gateway);
    mix(&nh.ifindex, sizeof nh.ifindex);
    mix(&nh.weight, sizeof nh.weight);
    mix(&nh.onlink, sizeof nh.onlink);
  }
  return h;
}

// Whether the kernel's route is the one we want (it fills in what we left to it).
bool matches(const Route& want, const Route& kernel) {
  if (want.prefix != kernel.prefix || want.type != kernel.type || want.source != kernel.source ||
      effective_metric(want) != effective_metric(kernel) || want.next_hops.size() != kernel.next_hops.size()) {
    return false;
  }
  for (const auto& w : want.next_hops) {
    bool found = false;
    for (const auto& k : kernel.next_hops) {
      found |= w.gateway == k.gateway && (w.ifindex == 0 || w.ifindex == k.ifindex) &&
               (want.next_hops.size() == 1 || w.weight == k.weight) && w.onlink == k.onlink;
    }
    if (!found) return false;
  }
  return true;
}

}  // namespace

bool Fib::changed(const Entry& e, const Route& k, uint32_t nh_id) const {
  // Not installed, or to be written anyway: the next commit sets it right.
  if (!e.installed || !e.fingerprint || e.fingerprint != fingerprint(e.route)) return false;
  // At another metric it is another route (the kernel keeps both): ours is untouched.
  if (effective_metric(k) != effective_metric(e.route)) return false;
  if (e.nh_id) return nh_id != e.nh_id || k.type != e.route.type || k.source != e.route.source;
  auto written = recursive_.empty() ? recursive_.end() : recursive_.find(k.prefix);  // as written
  return nh_id || !matches(written != recursive_.end() ? written->second : e.route, k);
}

Result<Fib> Fib::open(FibOptions options) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return io_error("netlink socket", errno);
  Fib fib(fd, options);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) return io_error("netlink bind", errno);
  socklen_t len = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) fib.port_ = local.nl_pid;
  int one = 1;
  // Acknowledgements without a copy of the request: a million of them stay small.
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  int rcvbuf = 32 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  int sndbuf = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  }
  return fib;
}

Fib::Fib(int fd, FibOptions options) : fd_(fd), options_(options), nexthops_(options.nexthop_objects) {}

Fib::Fib(Fib&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      watch_fd_(std::exchange(o.watch_fd_, -1)),
      buffer_(std::move(o.buffer_)),
      port_(o.port_),
      options_(o.options_),
      seq_(o.seq_),
      routes_(std::move(o.routes_)),
      installed_(std::exchange(o.installed_, 0)),
      dirty_(std::move(o.dirty_)),
      recursive_(std::move(o.recursive_)),
      failed_(std::move(o.failed_)),
      links_(std::move(o.links_)),
      nexthops_(o.nexthops_),
      recheck_(o.recheck_),
      objects_(std::move(o.objects_)),
      by_key_(std::move(o.by_key_)),
      rewrite_(std::move(o.rewrite_)) {}

Fib& Fib::operator=(Fib&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    if (watch_fd_ >= 0) close(watch_fd_);
    fd_ = std::exchange(o.fd_, -1);
    watch_fd_ = std::exchange(o.watch_fd_, -1);
    port_ = o.port_;
    options_ = o.options_;
    seq_ = o.seq_;
    routes_ = std::move(o.routes_);
    installed_ = std::exchange(o.installed_, 0);
    dirty_ = std::move(o.dirty_);
    recursive_ = std::move(o.recursive_);
    failed_ = std::move(o.failed_);
    links_ = std::move(o.links_);
    nexthops_ = o.nexthops_;
    recheck_ = o.recheck_;
    objects_ = std::move(o.objects_);
    by_key_ = std::move(o.by_key_);
    rewrite_ = std::move(o.rewrite_);
    buffer_ = std::move(o.buffer_);
  }
  return *this;
}

Fib::~Fib() {
  if (fd_ >= 0) close(fd_);
  if (watch_fd_ >= 0) close(watch_fd_);
}

Result<int> Fib::watch() {
  if (watch_fd_ >= 0) return watch_fd_;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd < 0) return io_error("netlink monitor socket", errno);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  local.nl_groups = RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE | RTMGRP_LINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    int err = errno;
    close(fd);
    return io_error("netlink monitor bind", err);
  }
  // Nexthop objects (a group beyond the legacy bitmask's reach on old headers); a kernel
  // without them refuses, and then there are none of ours to watch.
  int group = RTNLGRP_NEXTHOP;
  setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group);
  int rcvbuf = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  watch_fd_ = fd;
  return fd;
}

Fib::Events Fib::read_events() {
  Events ev;
  if (watch_fd_ < 0) return ev;
  uint8_t* in = buffer();
  while (true) {
    ssize_t n = recv(watch_fd_, in, kBufferSize, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ENOBUFS) {
      ev.reconcile = true;  // the kernel dropped events: only a full look is trustworthy
      continue;
    }
    if (n <= 0) break;
    for (auto* h = reinterpret_cast<nlmsghdr*>(in); NLMSG_OK(h, static_cast<uint32_t>(n)); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK) {
        auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(h));
        if (h->nlmsg_type == RTM_DELLINK) {
          links_.erase(ifi->ifi_index);
          continue;
        }
        // A link came back up: routes through it that the kernel flushed when it went
        // down, or that failed meanwhile, go back in. A link made since (a Pod's veth,
        // announced with every flag "changed") had no routes through it to lose, and a
        // running link whose other attributes change loses none: neither costs a reconcile.
        // A new link stays new until it first runs: one made up is announced running
        // before the kernel has looked at its carrier (a veth whose peer is still down
        // loses it a moment later), and only its going admin down ends that.
        bool up = ifi->ifi_flags & IFF_UP, running = up && (ifi->ifi_flags & IFF_RUNNING);
        auto [link, unseen] = links_.try_emplace(ifi->ifi_index, LinkState::kUnknown);
        if (ifi->ifi_change == ~0u && unseen) {
          link->second = LinkState::kNew;
        } else if (running) {
          if (link->second == LinkState::kDown || link->second == LinkState::kUnknown) ev.reconcile = true;
          link->second = LinkState::kRunning;
        } else if (link->second != LinkState::kNew || !up) {
          link->second = LinkState::kDown;
        }
        continue;
      }
      // Our own writes, announced back to every listener with our port id: they are what
      // we installed (a stale one, overtaken by a later write of ours, is no change
      // either). Passing over them is what keeps a repair from answering itself.
      bool echo = port_ && h->nlmsg_pid == port_;
      if (h->nlmsg_type == RTM_NEWNEXTHOP) {
        // One of our objects changed by someone: written back in place at the next commit
        // (the routes naming it follow without a message each).
        if (!echo) ev.repairs += object_changed(h);
        continue;
      }
      if (h->nlmsg_type == RTM_DELNEXTHOP) {
        // One of our objects deleted by someone: the kernel took the routes naming it
        // with it (IPv4 ones without a word), and dropped it from the groups it was in.
        auto* nhm = static_cast<nhmsg*>(NLMSG_DATA(h));
        if (echo || nhm->nh_protocol != options_.protocol) continue;
        int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(nhmsg)));
        auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<uint8_t*>(nhm) + NLMSG_ALIGN(sizeof(nhmsg)));
        for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
          if (a->rta_type == NHA_ID) ev.repairs += object_gone(netlink::u32_from(a));
        }
        continue;
      }
      if (h->nlmsg_type != RTM_NEWROUTE && h->nlmsg_type != RTM_DELROUTE) continue;
      auto* m = static_cast<rtmsg*>(NLMSG_DATA(h));
      if (m->rtm_protocol == options_.protocol) {
        if (echo) continue;
        uint32_t table = 0;
        KernelRoute k = parse_route(h, table);
        if (!owned(m->rtm_protocol, table, k.route)) continue;  // (the CNI plugin's Pod routes)
        uint32_t i = routes_.find(k.route.prefix);
        if (i == Table::kNone || !routes_[i].wanted) continue;
        if (h->nlmsg_type == RTM_DELROUTE) {
          // Ours and wanted, and deleted by someone (or flushed with its link): queued to
          // go back.
          forget(i);
          dirty_.push_back(i);
          ++ev.repairs;
        } else if (changed(routes_[i], k.route, k.nh_id)) {
          // Ours and changed in place by someone (`ip route replace ... proto <ours>`):
          // replaced with what we want at the next commit.
          routes_[i].fingerprint = 0;
          dirty_.push_back(i);
          ++ev.repairs;
        }
        continue;
      }
      std::optional<IpAddress> dst;
      uint32_t table = m->rtm_table;
      int len = static_cast<int>(RTM_PAYLOAD(h));
      for (auto* a = RTM_RTA(m); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == RTA_DST) dst = address_from(a);
        if (a->rta_type == RTA_TABLE) table = *static_cast<uint32_t*>(RTA_DATA(a));
      }
      if (!recheck_) {
        // Objects whose gateway was resolved get another look-up (commit replaces those
        // whose way changed: their routes follow without a message each).
        for (const auto& [id, o] : objects_) {
          if (!o.group && !o.key.hops.empty() && o.key.hops[0].gateway && !o.key.hops[0].ifindex) {
            recheck_ = true;
            ++ev.resolve;
            break;
          }
        }
      }
      if (!recursive_.empty() || !failed_.empty()) {
        // Another route changed: what was resolved through routes, or could not be
        // written, gets another look.
        for (const auto& [p, r] : recursive_) {
          if (!desired(p)) continue;  // removed: its delete is pending as it is
          forget(p);
          mark(p);
          ++ev.resolve;
        }
        for (const auto& p : failed_) {
          mark(p);
          ++ev.resolve;
        }
      }
      if (table != options_.table) continue;
      IpAddress base = dst ? *dst : (m->rtm_family == AF_INET ? IpAddress::v4(0u) : *IpAddress::parse("::"));
      Prefix prefix(base, m->rtm_dst_len);
      if (h->nlmsg_type == RTM_NEWROUTE && desired(prefix)) {
        // Someone else's route for exactly one of our prefixes: the lower metric wins in
        // the kernel, so ours may not be the one forwarding. (More specific routes inside
        // ours are normal: a Pod's /32 inside the node's block.)
        ev.shadowed.push_back(prefix.to_string() + " also has a route of protocol " +
                              std::to_string(m->rtm_protocol) + " beside tern's");
      }
    }
  }
  return ev;
}

void Fib::set(Route route) {
  auto [i, fresh] = routes_.add(route.prefix, [&] {
    Entry e;
    e.route = std::move(route);
    return e;
  });
  Entry& e = routes_[i];
  if (!fresh) e.route = std::move(route);
  e.wanted = true;
  dirty_.push_back(i);
}

void Fib::remove(const Prefix& prefix) {
  uint32_t i = routes_.find(prefix);
  if (i == Table::kNone || !routes_[i].wanted) return;
  Entry& e = routes_[i];
  e.wanted = false;
  e.route = Route{};
  e.route.prefix = prefix;
  if (e.installed) {
    dirty_.push_back(i);
    return;
  }
  // Never written (or failed): nothing to take out of the kernel.
  if (!failed_.empty()) failed_.erase(prefix);
  if (!recursive_.empty()) recursive_.erase(prefix);
  routes_.erase(i);
}

std::vector<const Route*> Fib::desired() const {
  std::vector<const Route*> out;
  routes_.each([&](uint32_t, const Entry& e) {
    if (e.wanted) out.push_back(&e.route);
  });
  std::sort(out.begin(), out.end(), [](const Route* a, const Route* b) { return a->prefix < b->prefix; });
  return out;
}

const Route* Fib::desired(const Prefix& prefix) const {
  uint32_t i = routes_.find(prefix);
  return i != Table::kNone && routes_[i].wanted ? &routes_[i].route : nullptr;
}

void Fib::route_message(const Route& r, bool add, Requests& out, uint32_t entry, uint32_t nh_id) {
  std::vector<uint8_t>& buf = out.bytes;
  size_t start = buf.size();
  out.at.push_back({entry, nh_id, start});
  buf.resize(start + NLMSG_LENGTH(sizeof(rtmsg)));
  auto* h = reinterpret_cast<nlmsghdr*>(buf.data() + start);
  h->nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
  h->nlmsg_flags = NLM_F_REQUEST | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0);  // transact() asks the acks
  auto* m = static_cast<rtmsg*>(NLMSG_DATA(h));
  m->rtm_family = r.prefix.address().is_v4() ? AF_INET : AF_INET6;
  m->rtm_dst_len = static_cast<uint8_t>(r.prefix.length());
  m->rtm_table = static_cast<uint8_t>(options_.table < 256 ? options_.table : uint32_t{RT_TABLE_UNSPEC});
  m->rtm_protocol = options_.protocol;  // a delete then only matches our own route
  bool direct = r.type == RouteType::kUnicast && r.next_hops.size() == 1 && !r.next_hops[0].gateway;
  m->rtm_scope = direct ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  // A delete names the prefix only (any type matches: RTN_UNSPEC).
  m->rtm_type = static_cast<uint8_t>(!add                                ? RTN_UNSPEC
                                     : r.type == RouteType::kBlackhole     ? RTN_BLACKHOLE
                                     : r.type == RouteType::kUnreachable ? RTN_UNREACHABLE
                                                                         : RTN_UNICAST);
  if (add && !nh_id && r.type == RouteType::kUnicast && r.next_hops.size() == 1 && r.next_hops[0].onlink) {
    m->rtm_flags |= RTNH_F_ONLINK;
  }
  put_u32(buf, RTA_TABLE, options_.table);
  put_address(buf, RTA_DST, r.prefix.address());
  if (add) {
    if (r.metric) put_u32(buf, RTA_PRIORITY, r.metric);
    if (r.source) put_address(buf, RTA_PREFSRC, *r.source);
    if (nh_id) {
      put_u32(buf, RTA_NH_ID, nh_id);  // the object carries gateway, link, onlink, weights
    } else if (r.type == RouteType::kUnicast && r.next_hops.size() == 1) {
      const auto& nh = r.next_hops[0];
      if (nh.gateway) put_address(buf, RTA_GATEWAY, *nh.gateway);
      if (nh.ifindex) put_u32(buf, RTA_OIF, static_cast<uint32_t>(nh.ifindex));
    } else if (r.type == RouteType::kUnicast && r.next_hops.size() > 1) {
      size_t mp = put_attr(buf, RTA_MULTIPATH, nullptr, 0);
      for (const auto& nh : r.next_hops) {
        size_t at = buf.size();
        buf.resize(at + RTNH_ALIGN(sizeof(rtnexthop)));
        rtnexthop rh{};
        rh.rtnh_flags = nh.onlink ? RTNH_F_ONLINK : 0;
        rh.rtnh_hops = static_cast<uint8_t>(nh.weight - 1);
        rh.rtnh_ifindex = nh.ifindex;
        if (nh.gateway) put_address(buf, RTA_GATEWAY, *nh.gateway);
        rh.rtnh_len = static_cast<uint16_t>(buf.size() - at);
        std::memcpy(buf.data() + at, &rh, sizeof rh);
      }
      auto len = static_cast<uint16_t>(buf.size() - mp);
      std::memcpy(buf.data() + mp, &len, sizeof len);
    }
  }
  reinterpret_cast<nlmsghdr*>(buf.data() + start)->nlmsg_len = static_cast<uint32_t>(buf.size() - start);
}

std::vector<FibFailure> Fib::transact(Requests& requests) {
  // Only the last request of a chunk asks for an acknowledgement: a success costs no
  // message back, a failure is matched to its route by sequence number.
  std::vector<FibFailure> failures;
  const auto& at = requests.at;
  auto stopped = netlink::transact(
      fd_, seq_, requests.bytes, at.size(), [&](size_t i) { return at[i].offset; },
      [&](size_t i, const nlmsghdr* h) {
        if (h->nlmsg_type != NLMSG_ERROR) return;
        if (int err = netlink::error_of(h)) failures.push_back({prefix_of(at[i]), err, std::strerror(err)});
      });
  if (stopped) {
    for (size_t i = stopped->at; i < at.size(); ++i) {
      failures.push_back({prefix_of(at[i]), stopped->error, stopped->what});
    }
  }
  return failures;
}

FibStats Fib::commit(size_t limit) {
  FibStats stats;
  Requests requests;
  std::vector<uint32_t> todo;
  if (dirty_.size() <= limit) {
    todo.swap(dirty_);
  } else {
    todo.assign(dirty_.end() - static_cast<std::ptrdiff_t>(limit), dirty_.end());
    dirty_.resize(dirty_.size() - limit);
  }
  if (!std::is_sorted(todo.begin(), todo.end())) std::sort(todo.begin(), todo.end());
  todo.erase(std::unique(todo.begin(), todo.end()), todo.end());
  if (!rewrite_.empty()) rewrite(stats);
  if (recheck_) recheck(stats);

  std::vector<FibFailure> unresolved;
  auto write_inline = [&](uint32_t e, uint64_t fp) {
    const Route& want = routes_[e].route;
    const Prefix& prefix = want.prefix;
    if (!recursive_.empty() && recursive_.count(prefix)) {  // resolved again: the way there may have changed
      auto r = resolve(want);
      if (!r) {
        recursive_.erase(prefix);
        unresolved.push_back({prefix, ENETUNREACH, "no route to its next hop: pending until there is one"});
        return;
      }
      recursive_[prefix] = *r;
      route_message(*r, true, requests, e);
    } else {
      route_message(want, true, requests, e);
    }
    requests.at.back().fingerprint = fp;
  };

  // Routes through objects wait until the objects are there; which object each needs is
  // worked out once per distinct set of next hops.
  NhPlan plan;
  struct Through {
    uint32_t entry;
    size_t need;
    uint64_t fingerprint;
  };
  std::vector<Through> through;
  // Groups every one of whose routes moves to the same new set: replaced in place.
  std::unordered_map<uint32_t, size_t> moving;           // old group -> need (SIZE_MAX: mixed)
  std::unordered_map<uint32_t, uint32_t> moving_count;
  for (uint32_t it : todo) {
    if (!routes_.live(it)) continue;
    Entry& e = routes_[it];
    const Prefix& prefix = e.route.prefix;
    if (e.wanted) {
      uint64_t fp = fingerprint(e.route);
      if (e.installed && e.fingerprint == fp) continue;
      (e.installed ? stats.replaced : stats.added)++;
      const Route& r = e.route;
      if (!nexthops_ || r.type != RouteType::kUnicast || r.next_hops.empty()) {
        write_inline(it, fp);
        continue;
      }
      size_t n = need(plan, r);
      through.push_back({it, n, fp});
      if (e.installed && plan.needs[n].key.hops.size() > 1) {
        if (auto o = objects_.find(e.nh_id); o != objects_.end() && o->second.group) {
          auto [m, fresh] = moving.try_emplace(o->first, n);
          if (!fresh && m->second != n) m->second = SIZE_MAX;
          ++moving_count[o->first];
        }
      }
    } else if (e.installed) {
      ++stats.removed;
      Route gone;
      gone.prefix = prefix;
      route_message(gone, false, requests, it);
      if (!recursive_.empty()) recursive_.erase(prefix);
    }
  }
  for (auto it = moving.begin(); it != moving.end();) {
    auto o = objects_.find(it->first);
    // (Not when another route still wants the group as it is.)
    bool whole = it->second != SIZE_MAX && o != objects_.end() && moving_count[it->first] == o->second.refs &&
                 !o->second.pinned && !plan.index.count(o->second.key);
    it = whole ? std::next(it) : moving.erase(it);
  }
  if (!plan.needs.empty()) provide(plan, stats, moving);
  for (const auto& [e, n, fp] : through) {
    const NhNeed& nd = plan.needs[n];
    if (nd.inline_hops) {
      write_inline(e, fp);
    } else if (nd.error) {
      unresolved.push_back({routes_[e].route.prefix, nd.error, nd.message});
    } else {
      if (!recursive_.empty()) recursive_.erase(routes_[e].route.prefix);
      route_message(routes_[e].route, true, requests, e, nd.id);
      requests.at.back().fingerprint = fp;
    }
  }
  stats.failures = transact(requests);

  // A gateway that is not on a link: resolved through the kernel's route to it, and
  // written again that way. (Objects are resolved before they are made.)
  std::unordered_set<Prefix> through_object;
  if (!stats.failures.empty()) {
    for (const auto& at : requests.at) {
      if (at.nh_id) through_object.insert(prefix_of(at));
    }
  }
  Requests again;
  for (auto& f : stats.failures) {
    if (f.error != ENETUNREACH && f.error != EINVAL) continue;
    uint32_t want = routes_.find(f.prefix);
    if (want == Table::kNone || !routes_[want].wanted || recursive_.count(f.prefix) ||
        routes_[want].route.type != RouteType::kUnicast || through_object.count(f.prefix)) {
      continue;
    }
    auto r = resolve(routes_[want].route);
    if (!r) {
      f.message = "no route to its next hop: pending until there is one";
      continue;
    }
    recursive_[f.prefix] = *r;
    route_message(*r, true, again, want);
  }
  if (!again.at.empty()) {
    auto still = transact(again);
    std::unordered_set<Prefix> failed_again;
    for (const auto& f : still) failed_again.insert(f.prefix);
    std::erase_if(stats.failures, [&](const FibFailure& f) {
      bool resolved = recursive_.count(f.prefix) && !failed_again.count(f.prefix);
      if (!resolved && recursive_.count(f.prefix)) recursive_.erase(f.prefix);
      return resolved;
    });
  }

  std::unordered_map<Prefix, const FibFailure*> failed;
  for (const auto& f : stats.failures) failed.emplace(f.prefix, &f);
  // Each entry is in the requests once; forget() may erase it (its number stays unused
  // until the next add).
  for (const auto& at : requests.at) {
    auto f = failed.empty() ? failed.end() : failed.find(prefix_of(at));
    if (f != failed.end()) {
      // A delete of what is not there is done; anything else is tried again when it or
      // another route changes, or at the next reconcile (not at once: it would fail again).
      if (f->second->error == ESRCH) {
        forget(at.entry);
      } else {
        failed_.insert(prefix_of(at));
      }
      continue;
    }
    if (!failed_.empty()) failed_.erase(prefix_of(at));
    if (at.fingerprint) {
      installed_as(routes_[at.entry], at.fingerprint, at.nh_id);
    } else {
      forget(at.entry);
    }
  }
  for (const auto& f : unresolved) failed_.insert(f.prefix);
  stats.failures.insert(stats.failures.end(), unresolved.begin(), unresolved.end());
  std::erase_if(stats.failures, [](const FibFailure& f) { return f.error == ESRCH; });
  if (dirty_.empty()) routes_.compact();
  collect(stats);
  return stats;
}

void Fib::installed_as(Entry& e, uint64_t fp, uint32_t nh_id) {
  if (!e.installed) {
    e.installed = true;
    ++installed_;
    ref(nh_id);
  } else if (e.nh_id != nh_id) {
    ref(nh_id);
    unref(e.nh_id);
  }
  e.fingerprint = fp;
  e.nh_id = nh_id;
}

void Fib::forget(uint32_t it) {
  Entry& e = routes_[it];
  if (e.installed) {
    unref(e.nh_id);
    e.installed = false;
    e.fingerprint = 0;
    e.nh_id = 0;
    --installed_;
  }
  if (!e.wanted) routes_.erase(it);
}

void Fib::forget(const Prefix& p) {
  if (uint32_t it = routes_.find(p); it != Table::kNone) forget(it);
}

std::optional<NextHop> Fib::lookup(const IpAddress& gateway) {
  struct {
    nlmsghdr h;
    rtmsg m;
    uint8_t attrs[64];
  } req{};
  req.h.nlmsg_type = RTM_GETROUTE;
  req.h.nlmsg_flags = NLM_F_REQUEST;
  req.h.nlmsg_seq = seq_++;
  req.m.rtm_family = gateway.is_v4() ? AF_INET : AF_INET6;
  req.m.rtm_dst_len = static_cast<uint8_t>(gateway.max_prefix_length());
  req.m.rtm_flags = RTM_F_FIB_MATCH;  // the route itself, with its protocol
  auto* a = reinterpret_cast<rtattr*>(req.attrs);
  a->rta_type = RTA_DST;
  a->rta_len = static_cast<uint16_t>(RTA_LENGTH(gateway.bytes().size()));
  std::memcpy(RTA_DATA(a), gateway.bytes().data(), gateway.bytes().size());
  req.h.nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(sizeof(rtmsg)) + RTA_SPACE(gateway.bytes().size()));
  if (send(fd_, &req, req.h.nlmsg_len, 0) < 0) return std::nullopt;
  uint8_t* in = buffer();
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, 2000) <= 0) return std::nullopt;
  ssize_t n = recv(fd_, in, kBufferSize, 0);
  if (n <= 0) return std::nullopt;
  auto* h = reinterpret_cast<nlmsghdr*>(in);
  if (!NLMSG_OK(h, static_cast<uint32_t>(n)) || h->nlmsg_type != RTM_NEWROUTE) return std::nullopt;
  auto* m = static_cast<rtmsg*>(NLMSG_DATA(h));
  // Never through one of our own routes: BGP next hops resolve through the IGP or
  // static routes, not through BGP itself.
  if (m->rtm_type != RTN_UNICAST || m->rtm_protocol == options_.protocol) return std::nullopt;
  NextHop hop;
  int len = static_cast<int>(RTM_PAYLOAD(h));
  for (auto* at = RTM_RTA(m); RTA_OK(at, len); at = RTA_NEXT(at, len)) {
    if (at->rta_type == RTA_GATEWAY) hop.gateway = address_from(at);
    if (at->rta_type == RTA_OIF) hop.ifindex = *static_cast<int*>(RTA_DATA(at));
    if (at->rta_type == RTA_MULTIPATH && !hop.gateway) {  // the first path of a multipath route
      auto* nh = static_cast<rtnexthop*>(RTA_DATA(at));
      hop.ifindex = nh->rtnh_ifindex;
      int alen = nh->rtnh_len - static_cast<int>(sizeof(*nh));
      for (auto* na = RTNH_DATA(nh); RTA_OK(na, alen); na = RTA_NEXT(na, alen)) {
        if (na->rta_type == RTA_GATEWAY) hop.gateway = address_from(na);
      }
    }
  }
  if (!hop.gateway) hop.gateway = gateway;  // on a link after all
  return hop;
}

std::optional<Route> Fib::resolve(const Route& r) {
  Route out = r;
  for (auto& nh : out.next_hops) {
    if (!nh.gateway) continue;
    auto via = lookup(*nh.gateway);
    if (!via) return std::nullopt;
    nh.gateway = via->gateway;
    nh.ifindex = via->ifindex;
  }
  return out;
}

Status Fib::dump_each(nlmsghdr& request, const char* what, const std::function<void(const nlmsghdr*)>& each) {
  request.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.nlmsg_seq = seq_++;
  if (send(fd_, &request, request.nlmsg_len, 0) < 0) return io_error(what, errno);
  uint8_t* in = buffer();
  while (true) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) return make_error(Errc::kTimeout, std::string(what) + ": no answer in 10 s");
    ssize_t n = recv(fd_, in, kBufferSize, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error(what, errno);
    for (auto* h = reinterpret_cast<nlmsghdr*>(in); NLMSG_OK(h, static_cast<uint32_t>(n)); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != request.nlmsg_seq) continue;  // a late answer to something else
      if (h->nlmsg_type == NLMSG_DONE) return {};
      if (h->nlmsg_type == NLMSG_ERROR) {
        int err = -static_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
        if (err) return io_error(what, err);
        continue;
      }
      each(h);
    }
  }
}

Fib::KernelRoute Fib::parse_route(const nlmsghdr* h, uint32_t& table) {
  auto* m = static_cast<const rtmsg*>(NLMSG_DATA(h));
  table = m->rtm_table;
  KernelRoute k;
  Route& r = k.route;
  r.type = m->rtm_type == RTN_BLACKHOLE     ? RouteType::kBlackhole
           : m->rtm_type == RTN_UNREACHABLE ? RouteType::kUnreachable
                                            : RouteType::kUnicast;
  std::optional<IpAddress> dst;
  NextHop single;
  single.onlink = m->rtm_flags & RTNH_F_ONLINK;
  bool has_single = false;
  int len = static_cast<int>(RTM_PAYLOAD(h));
  for (auto* a = RTM_RTA(m); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    switch (a->rta_type) {
      case RTA_TABLE: table = netlink::u32_from(a); break;
      case RTA_DST: dst = address_from(a); break;
      case RTA_PRIORITY: r.metric = netlink::u32_from(a); break;
      case RTA_PREFSRC: r.source = address_from(a); break;
      case RTA_NH_ID: k.nh_id = netlink::u32_from(a); break;
      case RTA_GATEWAY: single.gateway = address_from(a), has_single = true; break;
      case RTA_OIF: single.ifindex = static_cast<int>(netlink::u32_from(a)), has_single = true; break;
      case RTA_MULTIPATH: {
        auto* nh = static_cast<rtnexthop*>(RTA_DATA(a));
        int left = static_cast<int>(RTA_PAYLOAD(a));
        while (RTNH_OK(nh, left)) {
          NextHop hop;
          hop.ifindex = nh->rtnh_ifindex;
          hop.weight = static_cast<uint8_t>(nh->rtnh_hops + 1);
          hop.onlink = nh->rtnh_flags & RTNH_F_ONLINK;
          int alen = nh->rtnh_len - static_cast<int>(sizeof(*nh));
          for (auto* na = RTNH_DATA(nh); RTA_OK(na, alen); na = RTA_NEXT(na, alen)) {
            if (na->rta_type == RTA_GATEWAY) hop.gateway = address_from(na);
          }
          r.next_hops.push_back(hop);
          left -= NLMSG_ALIGN(nh->rtnh_len);
          nh = RTNH_NEXT(nh);
        }
        break;
      }
      default: break;
    }
  }
  IpAddress base = dst ? *dst : (m->rtm_family == AF_INET ? IpAddress::v4(0u) : *IpAddress::parse("::"));
  r.prefix = Prefix(base, m->rtm_dst_len);
  if (r.type == RouteType::kUnicast && r.next_hops.empty() && has_single) r.next_hops.push_back(single);
  return k;
}

bool Fib::owned(uint8_t protocol, uint32_t table, const Route& r) const {
  return protocol == options_.protocol && table == options_.table &&
         (!options_.metric || effective_metric(r) == *options_.metric);
}

Result<std::vector<Fib::KernelRoute>> Fib::dump(std::vector<uint32_t>& pins) {
  std::vector<KernelRoute> out;
  for (uint8_t family : {AF_INET, AF_INET6}) {
    struct {
      nlmsghdr h;
      rtmsg m;
    } req{};
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
    req.h.nlmsg_type = RTM_GETROUTE;
    req.m.rtm_family = family;
    auto done = dump_each(req.h, "netlink route dump", [&](const nlmsghdr* h) {
      if (h->nlmsg_type != RTM_NEWROUTE) return;
      uint32_t table = 0;
      KernelRoute k = parse_route(h, table);
      // Whoever else names one of our objects keeps it alive.
      if (!owned(static_cast<const rtmsg*>(NLMSG_DATA(h))->rtm_protocol, table, k.route)) {
        if (k.nh_id) pins.push_back(k.nh_id);
        return;
      }
      out.push_back(std::move(k));
    });
    if (!done) return done.error();
  }
  return out;
}

Result<FibStats> Fib::reconcile() {
  // The objects first: the routes are matched against them. (What the monitor queued to
  // write back is found here again.)
  rewrite_.clear();
  if (auto synced = sync_objects(); !synced) return synced.error();
  std::vector<uint32_t> pins;
  auto kernel = dump(pins);
  if (!kernel) return kernel.error();
  for (uint32_t id : pins) {
    if (auto o = objects_.find(id); o != objects_.end()) o->second.pinned = true;
  }
  // Only what the dump says is installed (the objects' counts start again from it).
  routes_.each([&](uint32_t i, Entry& e) {
    e.installed = false;
    e.fingerprint = 0;
    e.nh_id = 0;
    if (!e.wanted) routes_.erase(i);
  });
  installed_ = 0;
  dirty_.clear();
  FibStats stats;
  NhPlan plan;
  for (auto& found : *kernel) {
    const Route& r = found.route;  // (clang 14 captures no structured binding)
    uint32_t nh_id = found.nh_id;
    uint32_t i = routes_.add(r.prefix, [&] {
                          Entry fresh;
                          fresh.route.prefix = r.prefix;
                          return fresh;
                        }).first;
    Entry& e = routes_[i];
    bool kept = false;
    if (e.wanted) {
      const Route& w = e.route;
      if (nexthops_ && w.type == RouteType::kUnicast && !w.next_hops.empty()) {
        // Through an object: the one we would name, and the rest of the route the same.
        uint32_t id = existing_id(plan, w);
        kept = id && id == nh_id && w.type == r.type && w.source == r.source &&
               effective_metric(w) == effective_metric(r);
      } else {
        auto written = recursive_.find(r.prefix);  // a resolved route is compared as it was written
        kept = !nh_id && matches(written != recursive_.end() ? written->second : w, r);
      }
    }
    if (kept) {
      installed_as(e, fingerprint(e.route), nh_id);  // kept as it is: forwarding never blinks
      ++stats.kept;
    } else {
      installed_as(e, 0, nh_id);  // matches nothing we want: written again
      dirty_.push_back(i);
    }
  }
  routes_.each([&](uint32_t i, const Entry& e) {
    if (e.wanted && !e.installed) dirty_.push_back(i);
  });
  auto applied = commit();
  stats.added = applied.added;
  stats.replaced = applied.replaced;
  stats.removed = applied.removed;
  stats.objects_added = applied.objects_added;
  stats.objects_replaced = applied.objects_replaced;
  stats.objects_removed = applied.objects_removed;
  stats.failures = std::move(applied.failures);
  return stats;
}

}  // namespace tern::routing
