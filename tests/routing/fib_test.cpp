// The FIB programmer against the real kernel, in namespaces the test makes: every kind of
// route, per-route errors, foreign routes left alone, reconcile after a crash, 100 k
// routes in and out, and the monitor (routes deleted or changed behind our back, a monitor
// that overflows). Checked with `ip -j route`.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/routing/fib_fixture.hpp"

namespace tern::routing {
namespace {

using namespace std::chrono_literals;

// Every test twice: next hops as kernel nexthop objects, and inline in each route.
class FibTest : public FibNetns, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    objects_ = GetParam();
    FibNetns::SetUp();
  }
};

INSTANTIATE_TEST_SUITE_P(NextHops, FibTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Objects" : "Inline"; });

TEST_P(FibTest, EveryKindOfRoute) {
  Fib fib = open();
  fib.set(via("198.18.10.0/24", {"198.18.0.2"}));
  Route weighted = via("198.18.11.0/24", {"198.18.0.2", "198.18.0.3"});
  weighted.next_hops[1].weight = 3;
  fib.set(weighted);
  fib.set(of_type("198.18.100.0/24", RouteType::kBlackhole));
  fib.set(of_type("198.18.101.0/24", RouteType::kUnreachable));
  Route metric = via("198.18.12.0/24", {"198.18.0.2"});
  metric.metric = 50;
  metric.source = ip("198.18.0.1");
  fib.set(metric);
  fib.set(via("2001:db8:10::/48", {"2001:db8::2"}));
  Route onlink = via("198.18.13.0/24", {"198.18.77.1"});
  onlink.next_hops[0].onlink = true;
  onlink.next_hops[0].ifindex = ifindex("eth0");  // onlink needs the device
  fib.set(onlink);
  auto stats = fib.commit();
  EXPECT_TRUE(stats.failures.empty()) << stats.failures[0].prefix.to_string() << ": " << stats.failures[0].message;
  EXPECT_EQ(stats.added, 7u);

  EXPECT_EQ(route("198.18.10.0/24")["gateway"], "198.18.0.2") << routes().dump(2);
  EXPECT_EQ(route("198.18.10.0/24").contains("nhid"), objects_) << routes().dump(2);
  EXPECT_EQ(route("198.18.11.0/24").contains("nhid"), objects_);
  EXPECT_FALSE(route("198.18.100.0/24").contains("nhid")) << "a blackhole names no object";
  auto ecmp = route("198.18.11.0/24");
  ASSERT_EQ(ecmp["nexthops"].size(), 2u) << ecmp.dump(2);
  EXPECT_EQ(ecmp["nexthops"][0]["gateway"], "198.18.0.2");
  EXPECT_EQ(ecmp["nexthops"][1]["gateway"], "198.18.0.3");
  EXPECT_EQ(ecmp["nexthops"][0]["weight"], 1);
  EXPECT_EQ(ecmp["nexthops"][1]["weight"], 3);
  EXPECT_EQ(route("198.18.100.0/24")["type"], "blackhole");
  EXPECT_EQ(route("198.18.101.0/24")["type"], "unreachable");
  EXPECT_EQ(route("198.18.12.0/24")["metric"], 50);
  EXPECT_EQ(route("198.18.12.0/24")["prefsrc"], "198.18.0.1");
  EXPECT_EQ(route("198.18.13.0/24")["flags"], nlohmann::json::array({"onlink"})) << route("198.18.13.0/24").dump();
  EXPECT_EQ(route("2001:db8:10::/48", true)["gateway"], "2001:db8::2") << routes(true).dump(2);

  // A path leaves the multipath route: replaced in place, the prefix never missing.
  fib.set(via("198.18.11.0/24", {"198.18.0.3"}));
  stats = fib.commit();
  EXPECT_EQ(stats.replaced, 1u);
  EXPECT_EQ(route("198.18.11.0/24")["gateway"], "198.18.0.3");
  // Nothing changed, nothing sent.
  stats = fib.commit();
  EXPECT_EQ(stats.added + stats.replaced + stats.removed, 0u);

  fib.remove(pfx("198.18.10.0/24"));
  fib.remove(pfx("2001:db8:10::/48"));
  fib.remove(pfx("198.18.100.0/24"));  // a blackhole
  stats = fib.commit();
  EXPECT_EQ(stats.removed, 3u);
  EXPECT_TRUE(stats.failures.empty());
  EXPECT_TRUE(route("198.18.100.0/24").empty());
  EXPECT_TRUE(route("198.18.10.0/24").empty());
  EXPECT_TRUE(routes(true).empty());
}

TEST_P(FibTest, PerRouteErrorsAreReportedOneByOne) {
  Fib fib = open();
  fib.set(via("198.18.10.0/24", {"198.18.0.2"}));
  fib.set(via("198.18.11.0/24", {"198.18.99.1"}));  // no route to the gateway
  fib.set(via("198.18.12.0/24", {"198.18.0.2"}));
  auto stats = fib.commit();
  ASSERT_EQ(stats.failures.size(), 1u);
  EXPECT_EQ(stats.failures[0].prefix, pfx("198.18.11.0/24"));
  EXPECT_EQ(stats.failures[0].error, ENETUNREACH) << stats.failures[0].message;
  EXPECT_EQ(routes().size(), 2u) << "the others went in";
  EXPECT_EQ(fib.installed(), 2u);
  EXPECT_EQ(fib.pending(), 0u) << "not retried in a loop";
  // It is tried again at the next reconcile, and goes in once the gateway is reachable.
  node_->ip("addr add 198.18.99.2/24 dev eth0");
  auto again = fib.reconcile();
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->failures.empty());
  EXPECT_EQ(again->added, 1u);
  EXPECT_EQ(again->kept, 2u);
  EXPECT_EQ(route("198.18.11.0/24")["gateway"], "198.18.99.1");
}

TEST_P(FibTest, ReconcileAfterACrashKeepsWhatIsWantedAndLeavesForeignRoutes) {
  node_->ip("route add 198.18.20.0/24 via 198.18.0.2 proto static");
  node_->ip("route add 198.18.21.0/24 via 198.18.0.2 proto 197");
  {
    Fib before = open();
    before.set(via("198.18.10.0/24", {"198.18.0.2"}));
    before.set(via("198.18.11.0/24", {"198.18.0.2"}));
    before.set(via("198.18.12.0/24", {"198.18.0.2"}));
    ASSERT_TRUE(before.commit().failures.empty());
  }  // "crash": the routes stay in the kernel

  Fib after = open();
  after.set(via("198.18.10.0/24", {"198.18.0.2"}));   // the same: kept
  after.set(via("198.18.11.0/24", {"198.18.0.3"}));   // changed: replaced
  after.set(via("198.18.13.0/24", {"198.18.0.2"}));   // new: added; 12 is gone: removed
  auto stats = after.reconcile();
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->kept, 1u);
  EXPECT_EQ(stats->replaced, 1u);
  EXPECT_EQ(stats->added, 1u);
  EXPECT_EQ(stats->removed, 1u);
  std::set<std::string> ours;
  for (const auto& r : routes()) ours.insert(r["dst"].get<std::string>() + " " + r["gateway"].get<std::string>());
  EXPECT_EQ(ours, (std::set<std::string>{"198.18.10.0/24 198.18.0.2", "198.18.11.0/24 198.18.0.3",
                                         "198.18.13.0/24 198.18.0.2"}));
  EXPECT_EQ(routes(false, "static").size(), 1u) << "a foreign route is never touched";
  EXPECT_EQ(routes(false, "197").size(), 1u);
  // A second reconcile finds nothing to do.
  stats = after.reconcile();
  EXPECT_EQ(stats->kept, 3u);
  EXPECT_EQ(stats->added + stats->replaced + stats->removed, 0u);
}

TEST_P(FibTest, AnotherTableAndProtocol) {
  Fib fib = open({.table = 1000, .protocol = 199, .metric = std::nullopt});
  fib.set(via("198.18.10.0/24", {"198.18.0.2"}));
  ASSERT_TRUE(fib.commit().failures.empty());
  auto r = testing::run({"ip", "-n", node_->name(), "-j", "route", "show", "table", "1000", "proto", "199"});
  EXPECT_NE(r.out.find("198.18.10.0/24"), std::string::npos) << r.out;
  EXPECT_TRUE(routes().empty()) << "nothing with the default protocol";
}

TEST_P(FibTest, HundredThousandRoutesInAndOutLeaveNothing) {
  Fib fib = open();
  std::vector<Prefix> prefixes;  // host routes from 198.18.1.0 on, inside 198.18.0.0/15
  for (uint32_t i = 0; i < 100'000; ++i) prefixes.push_back(Prefix(IpAddress::v4(0xc6120100u + i), 32));
  Route r = via("198.18.0.0/32", {"198.18.0.2"});
  for (const auto& p : prefixes) {
    r.prefix = p;
    fib.set(r);
  }
  auto stats = fib.commit();
  EXPECT_TRUE(stats.failures.empty());
  EXPECT_EQ(stats.added, 100'000u);
  auto count = testing::sh("ip -n " + node_->name() + " route show proto 77 | wc -l");
  EXPECT_EQ(std::stoi(count.out), 100'000);
  for (const auto& p : prefixes) fib.remove(p);
  stats = fib.commit();
  EXPECT_EQ(stats.removed, 100'000u);
  EXPECT_TRUE(stats.failures.empty());
  count = testing::sh("ip -n " + node_->name() + " route show proto 77 | wc -l");
  EXPECT_EQ(std::stoi(count.out), 0);
  EXPECT_TRUE(nexthops().empty()) << nexthops().dump(2);
}

}  // namespace
}  // namespace tern::routing

namespace tern::routing {
namespace {

TEST_P(FibTest, ARouteDeletedBehindOurBackComesBack) {
  Fib fib = open();
  ASSERT_TRUE(testing::in_netns(*node_, [&] { return fib.watch().ok(); }));
  fib.set(via("198.18.10.0/24", {"198.18.0.2"}));
  fib.set(via("198.18.11.0/24", {"198.18.0.2"}));
  ASSERT_TRUE(fib.commit().failures.empty());
  fib.read_events();  // our own writes, echoed

  node_->ip("route del 198.18.10.0/24 proto 77");
  Fib::Events ev;
  ASSERT_TRUE(watch_until(fib, ev, [&] { return ev.repairs == 1; }));
  EXPECT_EQ(fib.pending(), 1u);
  auto stats = fib.commit();
  EXPECT_EQ(stats.added, 1u);
  EXPECT_EQ(route("198.18.10.0/24")["gateway"], "198.18.0.2");

  // Someone else's route for one of our prefixes is reported, and left alone.
  node_->ip("route add 198.18.11.0/24 via 198.18.0.2 proto static metric 5");
  ASSERT_TRUE(watch_until(fib, ev, [&] { return !ev.shadowed.empty(); }));
  EXPECT_NE(ev.shadowed[0].find("198.18.11.0/24 also has a route of protocol 4"), std::string::npos) << ev.shadowed[0];
  EXPECT_EQ(routes(false, "static").size(), 1u);
}

TEST_P(FibTest, RoutesComeBackWhenTheirLinkDoes) {
  Fib fib = open();
  ASSERT_TRUE(testing::in_netns(*node_, [&] { return fib.watch().ok(); }));
  fib.set(via("198.18.10.0/24", {"198.18.0.2"}));
  ASSERT_TRUE(fib.commit().failures.empty());
  node_->ip("link set eth0 down");
  EXPECT_TRUE(testing::wait_until([&] { return routes().empty(); }, 5s, 20ms)) << "the kernel flushed it";
  node_->ip("link set eth0 up");
  Fib::Events ev;
  ASSERT_TRUE(watch_until(fib, ev, [&] { return ev.reconcile; })) << "the link coming up asks for a reconcile";
  // The address's own route is back a moment after the link; then the reconcile works.
  ASSERT_TRUE(testing::wait_until([&] { return fib.reconcile()->failures.empty(); }, 5s, 100ms));
  EXPECT_EQ(route("198.18.10.0/24")["gateway"], "198.18.0.2");
}

}  // namespace
}  // namespace tern::routing

namespace tern::routing {
namespace {

// The kernel replaces a route of the same prefix and metric whatever its protocol: with
// a metric of its own (ternd's routing.metric), a BGP route for a connected subnet sits
// beside the connected route instead of taking its place.
TEST_P(FibTest, AMetricOfItsOwnLeavesTheConnectedRouteAlone) {
  Fib fib = open();
  Route r = via("198.18.0.0/24", {"198.18.0.2"});
  r.metric = 32;
  fib.set(r);
  ASSERT_TRUE(fib.commit().failures.empty());
  auto all = testing::run({"ip", "-n", node_->name(), "-j", "route", "show", "198.18.0.0/24"});
  auto routes = nlohmann::json::parse(all.out);
  ASSERT_EQ(routes.size(), 2u) << all.out;
  EXPECT_EQ(routes[0]["protocol"], "kernel") << "the connected route first (metric 0)";
  EXPECT_EQ(routes[1]["metric"], 32);
}

}  // namespace
}  // namespace tern::routing

namespace tern::routing {
namespace {

// A BGP next hop two hops away (a router's loopback) resolves through the kernel's own
// route to it; the route follows when that route changes; an unreachable next hop
// waits and goes in once there is a way.
TEST_P(FibTest, RecursiveNextHopsResolveAndFollow) {
  node_->ip("route add 198.18.50.1/32 via 198.18.0.2 proto static");
  Fib fib = open();
  ASSERT_TRUE(testing::in_netns(*node_, [&] { return fib.watch().ok(); }));
  fib.set(via("198.18.60.0/24", {"198.18.50.1"}));
  auto stats = fib.commit();
  EXPECT_TRUE(stats.failures.empty()) << stats.failures[0].message;
  EXPECT_EQ(route("198.18.60.0/24")["gateway"], "198.18.0.2") << routes().dump(2);
  fib.read_events();

  // The way to the loopback changes: so does the route.
  node_->ip("route replace 198.18.50.1/32 via 198.18.0.3 proto static");
  Fib::Events ev;
  ASSERT_TRUE(watch_until(fib, ev, [&] { return ev.resolve > 0; }));
  fib.commit();
  EXPECT_EQ(route("198.18.60.0/24")["gateway"], "198.18.0.3") << routes().dump(2);

  // No way at all: pending and reported; installed as soon as there is one.
  fib.set(via("198.18.61.0/24", {"198.18.70.1"}));
  stats = fib.commit();
  ASSERT_EQ(stats.failures.size(), 1u);
  EXPECT_NE(stats.failures[0].message.find("no route to its next hop"), std::string::npos) << stats.failures[0].message;
  EXPECT_TRUE(route("198.18.61.0/24").empty());
  node_->ip("route add 198.18.70.1/32 via 198.18.0.2 proto static");
  ev = {};
  ASSERT_TRUE(watch_until(fib, ev, [&] { return ev.resolve > 0; }));
  stats = fib.commit();
  EXPECT_TRUE(stats.failures.empty());
  EXPECT_EQ(route("198.18.61.0/24")["gateway"], "198.18.0.2") << routes().dump(2);

  // A reconcile finds the resolved routes as they were written: nothing to do.
  auto again = fib.reconcile();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->kept, 2u);
  EXPECT_EQ(again->added + again->replaced + again->removed, 0u);
}

// A route resolved through another is removed, and before the commit another route changes
// (which re-resolves the recursive ones): the removal still reaches the kernel.
TEST_P(FibTest, ARemovedRecursiveRouteGoesWhenAnotherRouteChangesFirst) {
  node_->ip("route add 198.18.50.1/32 via 198.18.0.2 proto static");
  Fib fib = open();
  ASSERT_TRUE(testing::in_netns(*node_, [&] { return fib.watch().ok(); }));
  fib.set(via("198.18.60.0/24", {"198.18.50.1"}));
  fib.set(via("198.18.61.0/24", {"198.18.50.1"}));
  auto stats = fib.commit();
  ASSERT_TRUE(stats.failures.empty()) << stats.failures[0].message;
  ASSERT_FALSE(route("198.18.60.0/24").empty()) << routes().dump(2);
  fib.read_events();

  fib.remove(pfx("198.18.60.0/24"));
  node_->ip("route add 198.18.52.0/24 via 198.18.0.2 proto static");
  Fib::Events ev;
  ASSERT_TRUE(watch_until(fib, ev, [&] { return ev.resolve > 0; }));
  stats = fib.commit();
  EXPECT_TRUE(stats.failures.empty()) << stats.failures[0].message;
  EXPECT_TRUE(route("198.18.60.0/24").empty()) << routes().dump(2);
  EXPECT_EQ(route("198.18.61.0/24")["gateway"], "198.18.0.2") << routes().dump(2);
  EXPECT_EQ(fib.installed(), 1u);
}

// A link made after the monitor started (a Pod's veth) had no routes through it to lose:
// it coming up costs no reconcile, even when it was made up and got its carrier later. An existing link going down and up again does.
TEST_P(FibTest, ANewLinkComingUpCostsNoReconcile) {
  Fib fib = open();
  ASSERT_TRUE(testing::in_netns(*node_, [&] { return fib.watch().ok(); }));
  fib.set(via("198.18.10.0/24", {"198.18.0.2"}));
  ASSERT_TRUE(fib.commit().failures.empty());
  node_->ip("link add pod0 type veth peer name pod1");
  node_->ip("link set pod1 up");
  node_->ip("link set pod0 up");
  // As the CNI plugin makes them: born up, announced running, then without carrier until
  // the Pod's end goes up.
  node_->ip("link add pod2 up type veth peer name pod3");
  ASSERT_TRUE(testing::wait_until(
      [&] { return node_->exec({"ip", "link", "show", "pod2"}).out.find("NO-CARRIER") != std::string::npos; }, 5s,
      10ms));
  node_->ip("link set pod3 up");
  // A foreign route on our prefix: its event comes after the links', so once it is read
  // every link event before it has been too.
  node_->ip("route add 198.18.10.0/24 via 198.18.0.2 proto static metric 5");
  Fib::Events ev;
  ASSERT_TRUE(watch_until(fib, ev, [&] { return !ev.shadowed.empty(); }));
  EXPECT_FALSE(ev.reconcile) << "a new link came up";
  node_->ip("link set pod0 down");
  node_->ip("link set pod0 up");
  ASSERT_TRUE(watch_until(fib, ev, [&] { return ev.reconcile; })) << "a link came back up";
}

// With a metric of its own, the FIB owns only its routes at that metric: the CNI plugin's
// Pod routes share the protocol and survive a reconcile.
TEST_P(FibTest, ReconcileLeavesTheProtocolsRoutesAtOtherMetrics) {
  Fib fib = open({.table = 254, .protocol = kTernProtocol, .metric = 32});
  auto r = via("198.18.10.0/24", {"198.18.0.2"});
  r.metric = 32;
  fib.set(r);
  node_->ip("route add 198.18.0.77/32 dev eth0 scope link proto 77");
  node_->ip("-6 route add 2001:db8::77/128 dev eth0 proto 77");
  auto stats = fib.reconcile();
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->removed, 0u);
  EXPECT_EQ(stats->added, 1u);
  EXPECT_EQ(routes().size(), 2u) << routes();
  EXPECT_EQ(routes(true).size(), 1u) << "the Pod's /128 stays";
}

}  // namespace
}  // namespace tern::routing

namespace tern::routing {
namespace {

// Someone rewrites a route of ours in place (`ip route replace ... proto 77` at our metric:
// another gateway, another set of paths, another type, someone's nexthop object): the
// monitor notices, and the next commit puts back what tern wants. tern's own writes,
// announced back on the same socket, are never taken for a change.
TEST_P(FibTest, ARouteChangedBehindOurBackIsPutBack) {
  Fib fib = open();
  ASSERT_TRUE(testing::in_netns(*node_, [&] { return fib.watch().ok(); }));
  fib.set(via("198.18.10.0/24", {"198.18.0.3"}));
  ASSERT_TRUE(fib.commit().failures.empty());
  // Written twice before the monitor is read: the first announcement is stale, not a change.
  fib.set(via("198.18.10.0/24", {"198.18.0.2"}));
  fib.set(via("198.18.11.0/24", {"198.18.0.2", "198.18.0.3"}));
  fib.set(via("2001:db8:10::/48", {"2001:db8::2"}));
  ASSERT_TRUE(fib.commit().failures.empty());
  auto ev = fib.read_events();
  EXPECT_EQ(ev.repairs, 0u) << "our own writes, echoed";
  EXPECT_EQ(fib.pending(), 0u);
  auto before = routes();
  auto before6 = routes(true);

  auto put_back = [&](const std::string& change, const char* dst, bool v6 = false) {
    SCOPED_TRACE(change);
    node_->ip(change);
    ASSERT_NE(routes(v6), v6 ? before6 : before) << "the change took: " << route(dst, v6).dump();
    Fib::Events seen;
    ASSERT_TRUE(watch_until(fib, seen, [&] { return seen.repairs > 0; }));
    EXPECT_EQ(seen.repairs, 1u);
    auto stats = fib.commit();
    EXPECT_TRUE(stats.failures.empty());
    EXPECT_EQ(stats.replaced, 1u);
    EXPECT_EQ(routes(), before) << routes().dump(2);
    EXPECT_EQ(routes(true), before6) << routes(true).dump(2);
    // The repair, announced back, is no change: no loop.
    EXPECT_EQ(fib.read_events().repairs, 0u);
    EXPECT_EQ(fib.pending(), 0u);
  };
  put_back("route replace 198.18.10.0/24 via 198.18.0.3 proto 77", "198.18.10.0/24");
  put_back("route replace blackhole 198.18.10.0/24 proto 77", "198.18.10.0/24");
  put_back("route replace 198.18.11.0/24 via 198.18.0.2 proto 77", "198.18.11.0/24");
  put_back("-6 route replace 2001:db8:10::/48 via 2001:db8::3 proto 77", "2001:db8:10::/48", true);
  node_->ip("nexthop add id 999 via 198.18.0.3 dev eth0 proto static");
  put_back("route replace 198.18.10.0/24 nhid 999 proto 77", "198.18.10.0/24");
  ASSERT_EQ(nexthop(999)["gateway"], "198.18.0.3") << "someone's object is left alone";

  // A route of the protocol at another metric is another route: ours is untouched.
  node_->ip("route add 198.18.10.0/24 via 198.18.0.3 proto 77 metric 99");
  node_->ip("route add 198.18.10.0/24 via 198.18.0.2 proto static metric 5");  // announced after it
  Fib::Events seen;
  ASSERT_TRUE(watch_until(fib, seen, [&] { return !seen.shadowed.empty(); }));
  EXPECT_EQ(seen.repairs, 0u);
}

// A monitor that cannot keep up (its socket's buffer full: the kernel drops what does not
// fit and says ENOBUFS) asks for a reconcile, and the reconcile puts back what was changed
// meanwhile, its events lost with the rest. The buffer is shrunk to the kernel's minimum
// here so that a few thousand routes overflow it.
TEST_P(FibTest, AMonitorThatOverflowsAsksForAReconcile) {
  Fib fib = open();
  int fd = testing::in_netns(*node_, [&] {
    auto watching = fib.watch();
    return watching ? watching.value() : -1;
  });
  ASSERT_GE(fd, 0);
  for (auto p : {"198.18.10.0/24", "198.18.11.0/24", "198.18.12.0/24"}) fib.set(via(p, {"198.18.0.2"}));
  ASSERT_TRUE(fib.commit().failures.empty());
  fib.read_events();
  auto before = routes();
  int small = 1;  // the kernel's minimum
  ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);

  // A flood of someone else's routes, nobody reading, and in the middle of it one route
  // of ours deleted and another changed in place.
  constexpr int kFlood = 4000;
  std::string batch;
  for (int i = 0; i < kFlood; ++i) {
    if (i == kFlood / 2) {
      batch += "route del 198.18.10.0/24 proto 77\n";
      batch += "route replace 198.18.11.0/24 via 198.18.0.3 proto 77\n";
    }
    batch += "route add 198.19." + std::to_string(i / 256) + "." + std::to_string(i % 256) +
             "/32 via 198.18.0.2 proto 4\n";  // static, by number: iproute2 6.1's -batch
                                                // keeps "77" for a name after a line with it
  }
  std::string file = "/tmp/" + testing::run_prefix() + "fib-flood.batch";
  {
    std::ofstream out(file);
    out << batch;
  }
  auto flooded = testing::run({"ip", "-n", node_->name(), "-batch", file});
  std::remove(file.c_str());
  ASSERT_EQ(flooded.exit_code, 0) << flooded.err;
  ASSERT_TRUE(route("198.18.10.0/24").empty());
  ASSERT_EQ(routes(false, "static").size(), size_t{kFlood}) << flooded.out << flooded.err;

  auto ev = fib.read_events();
  EXPECT_TRUE(ev.reconcile) << "events were lost";
  auto stats = fib.reconcile();
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_TRUE(stats->failures.empty());
  EXPECT_EQ(stats->added, 1u) << "the deleted one";
  EXPECT_EQ(stats->replaced, 1u) << "the changed one";
  EXPECT_EQ(routes(), before) << routes().dump(2);
  EXPECT_EQ(routes(false, "static").size(), size_t{kFlood}) << "someone else's routes are never touched";
  stats = fib.reconcile();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->kept, 3u);
  EXPECT_EQ(stats->added + stats->replaced + stats->removed, 0u);
}

}  // namespace
}  // namespace tern::routing
