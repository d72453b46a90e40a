// Two namespaces joined by a veth (node 198.18.0.1, peer 198.18.0.2) for the FIB's kernel
// tests, and helpers that read the node's routes and nexthop objects with `ip -j`.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "routing/fib/fib.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/process.hpp"

namespace tern::routing {

inline IpAddress ip(const char* s) { return *IpAddress::parse(s); }
inline Prefix pfx(const char* s) { return *Prefix::parse(s); }

inline Route via(const char* prefix, std::vector<const char*> gateways) {
  Route r;
  r.prefix = pfx(prefix);
  for (auto g : gateways) r.next_hops.push_back({ip(g)});
  return r;
}

inline Route of_type(const char* prefix, RouteType type) {
  Route r;
  r.prefix = pfx(prefix);
  r.type = type;
  return r;
}

class FibNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    TERN_REQUIRE_ROOT();
    node_ = std::make_unique<testing::Netns>("node");
    peer_ = std::make_unique<testing::Netns>("peer");
    testing::connect(*node_, "eth0", "198.18.0.1/24", *peer_, "eth0", "198.18.0.2/24");
    node_->ip("-6 addr add 2001:db8::1/64 dev eth0 nodad");
  }

  // A Fib in the node namespace; with nexthop objects unless the test says otherwise.
  Fib open(FibOptions o = {}) {
    o.nexthop_objects = o.nexthop_objects && objects_;
    auto fib = testing::in_netns(*node_, [&] {
      std::optional<Fib> f;
      auto opened = Fib::open(o);
      if (opened) f.emplace(std::move(opened.value()));
      return f;
    });
    EXPECT_TRUE(fib.has_value());
    return std::move(*fib);
  }

  // `ip -j [-6] route show table all proto 77` in the node namespace.
  nlohmann::json routes(bool v6 = false, const std::string& proto = "77") {
    auto r = testing::run({"ip", "-n", node_->name(), "-j", v6 ? "-6" : "-4", "route", "show", "table", "all",
                           "proto", proto});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out.empty() ? "[]" : r.out);
  }
  nlohmann::json route(const std::string& dst, bool v6 = false) {
    for (const auto& r : routes(v6)) {
      if (r.value("dst", "") == dst) return r;
    }
    return nlohmann::json::object();
  }
  // The node's nexthop objects of protocol `proto` (all of them for "").
  nlohmann::json nexthops(const std::string& proto = "77") {
    auto r = testing::run({"ip", "-n", node_->name(), "-j", "nexthop", "show"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    nlohmann::json out = nlohmann::json::array();
    for (const auto& o : nlohmann::json::parse(r.out.empty() ? "[]" : r.out)) {
      if (proto.empty() || o.value("protocol", "") == proto) out.push_back(o);
    }
    return out;
  }
  nlohmann::json nexthop(int id) {
    for (const auto& o : nexthops("")) {
      if (o["id"] == id) return o;
    }
    return nlohmann::json::object();
  }
  int ifindex(const std::string& dev) {
    auto links = testing::run({"ip", "-n", node_->name(), "-j", "link", "show", dev});
    return nlohmann::json::parse(links.out)[0]["ifindex"];
  }

  bool objects_ = true;
  std::unique_ptr<testing::Netns> node_, peer_;
};

// Polls the monitor until `done` or 5 s.
template <typename F>
bool watch_until(Fib& fib, Fib::Events& total, F done) {
  using namespace std::chrono_literals;
  return testing::wait_until(
      [&] {
        auto ev = fib.read_events();
        total.repairs += ev.repairs;
        total.resolve += ev.resolve;
        total.reconcile |= ev.reconcile;
        total.shadowed.insert(total.shadowed.end(), ev.shadowed.begin(), ev.shadowed.end());
        return done();
      },
      5s, 20ms);
}

}  // namespace tern::routing
