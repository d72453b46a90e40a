// Installs and then removes N IPv4 routes via a gateway in the current network namespace,
// three ways, printing the seconds each takes:
//   tern  routing::Fib (batched, every route acknowledged and matched), its next hop one
//         kernel nexthop object
//   tern-inline  the same with the next hop inline in each route (nexthop_objects off)
//   raw   the kernel's own limit: requests packed many to a sendmsg, no acknowledgement
//         asked per route (one at the end to know they were all taken)
//   nhid  the same with one kernel nexthop object (RTA_NH_ID) instead of a gateway per
//         route: whether nexthop objects move the limit
// `ip -batch` is timed by the run script beside these. Besides the wall time, the CPU time
// (user + system) of each phase: on a loaded machine the wall time is mostly waiting for a
// core. Run it in a throwaway namespace whose eth0 reaches 198.18.0.2 (bench/routing/run does).
#include <linux/netlink.h>
#include <linux/nexthop.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "routing/fib/fib.hpp"

namespace {

using namespace tern;
using Clock = std::chrono::steady_clock;

// Routes from 1.0.0.0 upwards, /24 each: RIB data in a namespace, never sent traffic.
Prefix nth(uint32_t i) { return Prefix(IpAddress::v4(0x01000000u + (i << 8)), 24); }

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

double tern_fib(uint32_t n, bool remove, bool objects) {
  static std::optional<routing::Fib> fib;
  if (!fib) {
    routing::FibOptions o;
    o.nexthop_objects = objects;
    fib.emplace(std::move(routing::Fib::open(o).value()));
  }
  routing::Route r;
  r.next_hops = {{*IpAddress::parse("198.18.0.2")}};
  auto start = Clock::now();
  for (uint32_t i = 0; i < n; ++i) {
    if (remove) {
      fib->remove(nth(i));
    } else {
      r.prefix = nth(i);
      fib->set(r);
    }
  }
  auto stats = fib->commit();
  double s = std::chrono::duration<double>(Clock::now() - start).count();
  if (!stats.failures.empty()) std::cerr << stats.failures.size() << " failures, first: " << stats.failures[0].message << '\n';
  return s;
}

// Creates nexthop object 1: via 198.18.0.2 on eth0.
void make_nexthop(int fd) {
  struct {
    nlmsghdr h;
    nhmsg m;
    rtattr id_attr;
    uint32_t id;
    rtattr gw_attr;
    uint32_t gw;
    rtattr oif_attr;
    uint32_t oif;
  } q{};
  q.h.nlmsg_len = sizeof q;
  q.h.nlmsg_type = RTM_NEWNEXTHOP;
  q.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK;
  q.m.nh_family = AF_INET;
  q.m.nh_protocol = 197;
  q.id_attr = {RTA_LENGTH(4), NHA_ID};
  q.id = 1;
  q.gw_attr = {RTA_LENGTH(4), NHA_GATEWAY};
  inet_pton(AF_INET, "198.18.0.2", &q.gw);
  q.oif_attr = {RTA_LENGTH(4), NHA_OIF};
  q.oif = if_nametoindex("eth0");
  send(fd, &q, sizeof q, 0);
  char ack[4096];
  recv(fd, ack, sizeof ack, 0);
}

double raw(uint32_t n, bool remove, bool nhid) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local);
  int sndbuf = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);
  struct Request {
    nlmsghdr h;
    rtmsg m;
    rtattr dst_attr;
    uint32_t dst;
    rtattr gw_attr;
    uint32_t gw;
  };
  std::vector<Request> batch(4096);
  uint32_t gateway;
  inet_pton(AF_INET, "198.18.0.2", &gateway);
  if (nhid && !remove) make_nexthop(fd);
  auto start = Clock::now();
  uint32_t seq = 1;
  for (uint32_t i = 0; i < n;) {
    size_t k = 0;
    for (; k < batch.size() && i < n; ++k, ++i) {
      Request& q = batch[k];
      std::memset(&q, 0, sizeof q);
      q.h.nlmsg_len = sizeof q;
      q.h.nlmsg_type = remove ? RTM_DELROUTE : RTM_NEWROUTE;
      q.h.nlmsg_flags = NLM_F_REQUEST | (remove ? 0 : NLM_F_CREATE | NLM_F_REPLACE) | (i + 1 == n ? NLM_F_ACK : 0);
      q.h.nlmsg_seq = seq++;
      q.m.rtm_family = AF_INET;
      q.m.rtm_dst_len = 24;
      q.m.rtm_table = RT_TABLE_MAIN;
      q.m.rtm_protocol = 197;
      q.m.rtm_type = RTN_UNICAST;
      q.dst_attr = {RTA_LENGTH(4), RTA_DST};
      q.dst = htonl(0x01000000u + (i << 8));
      q.gw_attr = {RTA_LENGTH(4), static_cast<unsigned short>(nhid ? RTA_NH_ID : RTA_GATEWAY)};
      q.gw = nhid ? 1 : gateway;
    }
    send(fd, batch.data(), k * sizeof(Request), 0);
  }
  char ack[4096];
  recv(fd, ack, sizeof ack, 0);  // the last request's acknowledgement: all were processed
  close(fd);
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: fib_bench tern|tern-inline|raw|nhid N\n";
    return 2;
  }
  std::string mode = argv[1];
  auto n = static_cast<uint32_t>(std::stoul(argv[2]));
  long before = rss_kib();
  bool tern = mode == "tern" || mode == "tern-inline";
  double cpu0 = cpu_seconds();
  double add = tern ? tern_fib(n, false, mode == "tern") : raw(n, false, mode == "nhid");
  double cpu1 = cpu_seconds();
  long after = rss_kib();
  double del = tern ? tern_fib(n, true, mode == "tern") : raw(n, true, mode == "nhid");
  double cpu2 = cpu_seconds();
  std::cout << mode << " " << n << " add " << add << " del " << del << " rss_bytes_per_route "
            << (after - before) * 1024.0 / n << " cpu_add " << cpu1 - cpu0 << " cpu_del " << cpu2 - cpu1 << '\n';
  return 0;
}
