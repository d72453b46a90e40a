// The FIB's kernel nexthop objects against the real kernel, in namespaces the test makes:
// routes sharing one object, an ECMP group changed in place, nothing of ours left once
// the routes are gone, reconcile after a crash, an object deleted or changed behind our
// back, and next hops inline when objects are turned off. Checked with `ip -j route/nexthop`.
#include <gtest/gtest.h>

#include <set>

#include "tests/routing/fib_fixture.hpp"

namespace tern::routing {
namespace {

using namespace std::chrono_literals;
using FibObjects = FibNetns;

// Every group in `objects`, as "gateway,weight" of its members, by group id.
std::set<std::string> members_of(const nlohmann::json& group, const nlohmann::json& objects) {
  std::set<std::string> out;
  for (const auto& m : group["group"]) {
    for (const auto& o : objects) {
      if (o["id"] == m["id"]) out.insert(o["gateway"].get<std::string>() + "," + std::to_string(m.value("weight", 1)));
    }
  }
  return out;
}

TEST_F(FibObjects, RoutesThroughOneNextHopShareOneObject) {
  Fib fib = open();
  for (auto p : {"198.18.10.0/24", "198.18.11.0/24", "198.18.12.0/24"}) fib.set(via(p, {"198.18.0.2"}));
  fib.set(via("198.18.13.0/24", {"198.18.0.3"}));
  fib.set(via("2001:db8:10::/48", {"2001:db8::2"}));
  auto stats = fib.commit();
  ASSERT_TRUE(stats.failures.empty()) << stats.failures[0].message;
  ASSERT_TRUE(fib.uses_nexthop_objects());
  EXPECT_EQ(stats.objects_added, 3u);
  auto objects = nexthops();
  ASSERT_EQ(objects.size(), 3u) << objects.dump(2);
  int shared = route("198.18.10.0/24").value("nhid", 0);
  EXPECT_NE(shared, 0) << routes().dump(2);
  EXPECT_EQ(route("198.18.11.0/24")["nhid"], shared);
  EXPECT_EQ(route("198.18.12.0/24")["nhid"], shared);
  EXPECT_NE(route("198.18.13.0/24")["nhid"], shared);
  // The object: the gateway on the link the kernel reaches it by, tagged as ours.
  EXPECT_EQ(nexthop(shared)["gateway"], "198.18.0.2");
  EXPECT_EQ(nexthop(shared)["dev"], "eth0");
  EXPECT_EQ(nexthop(shared)["protocol"], "77");
  EXPECT_EQ(route("2001:db8:10::/48", true)["gateway"], "2001:db8::2") << routes(true).dump(2);

  // One route leaves the shared object: replaced in place onto the other one.
  fib.set(via("198.18.12.0/24", {"198.18.0.3"}));
  stats = fib.commit();
  EXPECT_EQ(stats.replaced, 1u);
  EXPECT_EQ(stats.objects_added + stats.objects_removed, 0u);
  EXPECT_EQ(route("198.18.12.0/24")["nhid"], route("198.18.13.0/24")["nhid"]);
  EXPECT_EQ(nexthops().size(), 3u);
}

TEST_F(FibObjects, AnEcmpGroupChangesItsWeightsInPlace) {
  Fib fib = open();
  Route ecmp = via("198.18.20.0/24", {"198.18.0.2", "198.18.0.3"});
  ecmp.next_hops[1].weight = 3;
  fib.set(ecmp);
  ecmp.prefix = pfx("198.18.21.0/24");
  fib.set(ecmp);  // the same set: the same group
  ASSERT_TRUE(fib.commit().failures.empty());
  int group = route("198.18.20.0/24").value("nhid", 0);
  ASSERT_NE(group, 0) << routes().dump(2);
  EXPECT_EQ(route("198.18.21.0/24")["nhid"], group);
  EXPECT_EQ(members_of(nexthop(group), nexthops()), (std::set<std::string>{"198.18.0.2,1", "198.18.0.3,3"}))
      << nexthops().dump(2);

  // Every route of the group moves to new weights: the group is replaced in place, the
  // routes keep naming it (no moment without the prefix).
  for (auto p : {"198.18.20.0/24", "198.18.21.0/24"}) {
    Route r = via(p, {"198.18.0.2", "198.18.0.3"});
    r.next_hops[0].weight = 2;
    fib.set(r);
  }
  auto stats = fib.commit();
  ASSERT_TRUE(stats.failures.empty());
  EXPECT_EQ(stats.objects_replaced, 1u);
  EXPECT_EQ(stats.objects_added, 0u);
  EXPECT_EQ(route("198.18.20.0/24")["nhid"], group);
  EXPECT_EQ(route("198.18.21.0/24")["nhid"], group);
  EXPECT_EQ(members_of(nexthop(group), nexthops()), (std::set<std::string>{"198.18.0.2,2", "198.18.0.3,1"}));
  auto paths = route("198.18.20.0/24")["nexthops"];
  ASSERT_EQ(paths.size(), 2u) << route("198.18.20.0/24").dump(2);
  EXPECT_EQ(paths[0]["weight"], 2);

  // One route alone changes its set: the group stays for the other, that one gets its own.
  Route lone = via("198.18.21.0/24", {"198.18.0.2", "198.18.0.4"});
  fib.set(lone);
  stats = fib.commit();
  ASSERT_TRUE(stats.failures.empty());
  EXPECT_EQ(route("198.18.20.0/24")["nhid"], group);
  EXPECT_NE(route("198.18.21.0/24")["nhid"], group);
  EXPECT_EQ(members_of(nexthop(group), nexthops()), (std::set<std::string>{"198.18.0.2,2", "198.18.0.3,1"}));
}

TEST_F(FibObjects, NothingOfOursIsLeftOnceTheRoutesAreGone) {
  node_->ip("nexthop add id 900 via 198.18.0.2 dev eth0 proto 150");  // someone else's
  Fib fib = open();
  fib.set(via("198.18.10.0/24", {"198.18.0.2"}));
  fib.set(via("198.18.11.0/24", {"198.18.0.2", "198.18.0.3"}));
  fib.set(via("2001:db8:10::/48", {"2001:db8::2"}));
  ASSERT_TRUE(fib.commit().failures.empty());
  EXPECT_EQ(nexthops().size(), 4u) << "0.2, 0.3, their group and the IPv6 one: " << nexthops().dump(2);
  // The multipath route becomes a single path: the group goes, its members stay in use.
  fib.set(via("198.18.11.0/24", {"198.18.0.3"}));
  auto stats = fib.commit();
  EXPECT_EQ(stats.objects_removed, 1u);
  EXPECT_EQ(nexthops().size(), 3u) << nexthops().dump(2);
  fib.remove(pfx("198.18.10.0/24"));
  fib.remove(pfx("198.18.11.0/24"));
  fib.remove(pfx("2001:db8:10::/48"));
  stats = fib.commit();
  EXPECT_TRUE(stats.failures.empty());
  EXPECT_EQ(stats.objects_removed, 3u);
  EXPECT_TRUE(nexthops().empty()) << nexthops().dump(2);
  EXPECT_EQ(fib.nexthop_objects(), 0u);
  EXPECT_EQ(nexthops("150").size(), 1u) << "someone else's object is never touched";
}

TEST_F(FibObjects, ReconcileAfterACrashKeepsWantedObjectsAndRemovesStaleOnes) {
  int kept_id = 0, stale_id = 0;
  {
    Fib before = open();
    before.set(via("198.18.10.0/24", {"198.18.0.2"}));
    before.set(via("198.18.11.0/24", {"198.18.0.2"}));
    before.set(via("198.18.12.0/24", {"198.18.0.3"}));
    before.set(via("198.18.13.0/24", {"198.18.0.2", "198.18.0.3"}));
    ASSERT_TRUE(before.commit().failures.empty());
    kept_id = route("198.18.10.0/24")["nhid"];
    stale_id = route("198.18.12.0/24")["nhid"];
  }  // "crash": routes and objects stay in the kernel
  // A route that is not ours names one of our objects: that object must stay.
  node_->ip("route add 198.18.30.0/24 nhid " + std::to_string(stale_id) + " proto static");
  node_->ip("nexthop add id 900 via 198.18.0.3 dev eth0 proto 150");

  Fib after = open();
  after.set(via("198.18.10.0/24", {"198.18.0.2"}));  // kept, through the same object
  after.set(via("198.18.11.0/24", {"198.18.0.4"}));  // changed; 12 and 13 are gone
  auto stats = after.reconcile();
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_TRUE(stats->failures.empty());
  EXPECT_EQ(stats->kept, 1u);
  EXPECT_EQ(stats->replaced, 1u);
  EXPECT_EQ(stats->removed, 2u);
  EXPECT_EQ(stats->objects_added, 1u) << "198.18.0.4";
  EXPECT_EQ(stats->objects_removed, 1u) << "the group; 0.3 is named by the static route";
  EXPECT_EQ(route("198.18.10.0/24")["nhid"], kept_id);
  std::set<std::string> objects;
  for (const auto& o : nexthops()) objects.insert(o.value("gateway", "group"));
  EXPECT_EQ(objects, (std::set<std::string>{"198.18.0.2", "198.18.0.3", "198.18.0.4"})) << nexthops().dump(2);
  EXPECT_EQ(routes(false, "static").size(), 1u) << "the foreign route is never touched";
  EXPECT_EQ(nexthops("150").size(), 1u);

  // Once nothing else names it, the next reconcile removes it; nothing else changes.
  node_->ip("route del 198.18.30.0/24 proto static");
  stats = after.reconcile();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->kept, 2u);
  EXPECT_EQ(stats->added + stats->replaced + stats->removed, 0u);
  EXPECT_EQ(stats->objects_removed, 1u);
  EXPECT_TRUE(nexthop(stale_id).empty());
  EXPECT_EQ(nexthops().size(), 2u);
}

TEST_F(FibObjects, AnObjectDeletedBehindOurBackComesBackWithItsRoutes) {
  Fib fib = open();
  ASSERT_TRUE(testing::in_netns(*node_, [&] { return fib.watch().ok(); }));
  fib.set(via("198.18.10.0/24", {"198.18.0.2"}));
  fib.set(via("198.18.11.0/24", {"198.18.0.2"}));
  fib.set(via("198.18.12.0/24", {"198.18.0.2", "198.18.0.3"}));
  fib.set(via("198.18.13.0/24", {"198.18.0.3"}));
  ASSERT_TRUE(fib.commit().failures.empty());
  fib.read_events();  // our own writes, echoed
  int id = route("198.18.10.0/24")["nhid"];
  int group = route("198.18.12.0/24")["nhid"];

  // The kernel deletes the routes naming it (without a word for IPv4) and drops it from
  // the group.
  node_->ip("nexthop del id " + std::to_string(id));
  ASSERT_TRUE(testing::wait_until([&] { return route("198.18.10.0/24").empty(); }, 5s, 20ms));
  Fib::Events ev;
  ASSERT_TRUE(watch_until(fib, ev, [&] { return ev.repairs >= 3; })) << ev.repairs;
  auto stats = fib.commit();
  EXPECT_TRUE(stats.failures.empty());
  EXPECT_EQ(stats.objects_added, 1u);
  EXPECT_EQ(stats.objects_replaced, 1u) << "the group, whole again";
  int again = route("198.18.10.0/24").value("nhid", 0);
  EXPECT_NE(again, 0) << routes().dump(2);
  EXPECT_NE(again, id);
  EXPECT_EQ(route("198.18.11.0/24")["nhid"], again);
  EXPECT_EQ(route("198.18.10.0/24")["gateway"], "198.18.0.2");
  EXPECT_EQ(route("198.18.12.0/24")["nhid"], group);
  EXPECT_EQ(route("198.18.12.0/24")["nexthops"].size(), 2u) << route("198.18.12.0/24").dump(2);
  EXPECT_EQ(route("198.18.13.0/24")["gateway"], "198.18.0.3");
  EXPECT_EQ(nexthops().size(), 3u) << nexthops().dump(2);
  // A reconcile finds everything as written.
  auto check = fib.reconcile();
  ASSERT_TRUE(check);
  EXPECT_EQ(check->kept, 4u);
  EXPECT_EQ(check->added + check->replaced + check->removed + check->objects_added + check->objects_removed, 0u);
}

// A recursive next hop is one object; when the way to it changes the object is replaced
// in place and every route through it follows, without a message per route.
TEST_F(FibObjects, ARecursiveNextHopIsOneObjectThatFollowsTheWay) {
  node_->ip("route add 198.18.50.1/32 via 198.18.0.2 proto static");
  Fib fib = open();
  ASSERT_TRUE(testing::in_netns(*node_, [&] { return fib.watch().ok(); }));
  fib.set(via("198.18.60.0/24", {"198.18.50.1"}));
  fib.set(via("198.18.61.0/24", {"198.18.50.1"}));
  ASSERT_TRUE(fib.commit().failures.empty());
  fib.read_events();
  int id = route("198.18.60.0/24")["nhid"];
  EXPECT_EQ(nexthop(id)["gateway"], "198.18.0.2");
  node_->ip("route replace 198.18.50.1/32 via 198.18.0.3 proto static");
  Fib::Events ev;
  ASSERT_TRUE(watch_until(fib, ev, [&] { return ev.resolve > 0; }));
  auto stats = fib.commit();
  EXPECT_EQ(stats.objects_replaced, 1u);
  EXPECT_EQ(stats.added + stats.replaced, 0u) << "the routes follow the object";
  EXPECT_EQ(nexthop(id)["gateway"], "198.18.0.3");
  EXPECT_EQ(route("198.18.61.0/24")["gateway"], "198.18.0.3") << routes().dump(2);
}

// Objects turned off: next hops inline in each route, as before; a FIB turned off after
// a run that used them moves the routes inline and removes the objects.
TEST_F(FibObjects, InlineWhenTurnedOff) {
  {
    Fib with = open();
    with.set(via("198.18.10.0/24", {"198.18.0.2"}));
    with.set(via("198.18.11.0/24", {"198.18.0.2", "198.18.0.3"}));
    ASSERT_TRUE(with.commit().failures.empty());
    ASSERT_EQ(nexthops().size(), 3u);
  }
  Fib fib = open({.table = 254, .protocol = kTernProtocol, .metric = std::nullopt, .nexthop_objects = false});
  EXPECT_FALSE(fib.uses_nexthop_objects());
  fib.set(via("198.18.10.0/24", {"198.18.0.2"}));
  fib.set(via("198.18.11.0/24", {"198.18.0.2", "198.18.0.3"}));
  fib.set(via("198.18.12.0/24", {"198.18.0.2"}));
  auto stats = fib.reconcile();
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_TRUE(stats->failures.empty());
  EXPECT_EQ(stats->replaced, 2u) << "rewritten inline";
  EXPECT_EQ(stats->objects_removed, 3u);
  EXPECT_TRUE(nexthops().empty()) << nexthops().dump(2);
  for (const auto& r : routes()) EXPECT_FALSE(r.contains("nhid")) << r.dump();
  EXPECT_EQ(route("198.18.11.0/24")["nexthops"].size(), 2u);
  EXPECT_EQ(route("198.18.12.0/24")["gateway"], "198.18.0.2");
}

// A set of next hops the kernel will not take as a group (the same path twice): the route
// goes in inline instead of failing.
TEST_F(FibObjects, WhatTheKernelRefusesAsAnObjectGoesInline) {
  Fib fib = open();
  fib.set(via("198.18.10.0/24", {"198.18.0.2", "198.18.0.2"}));
  fib.set(via("198.18.11.0/24", {"198.18.0.3"}));
  auto stats = fib.commit();
  EXPECT_TRUE(stats.failures.empty()) << stats.failures[0].message;
  EXPECT_FALSE(route("198.18.10.0/24").empty()) << routes().dump(2);
  EXPECT_FALSE(route("198.18.10.0/24").contains("nhid")) << route("198.18.10.0/24").dump();
  EXPECT_TRUE(route("198.18.11.0/24").contains("nhid"));
  EXPECT_TRUE(fib.uses_nexthop_objects()) << "one refusal does not turn them off";
}

}  // namespace
}  // namespace tern::routing

namespace tern::routing {
namespace {

// Someone rewrites one of our objects (`ip nexthop replace id N ... proto 77`): the monitor
// notices, and the next commit writes it back in place under its id, so every route naming
// it follows without a message each. tern's own writes, announced back, are no change.
TEST_F(FibObjects, AnObjectChangedBehindOurBackIsWrittenBack) {
  Fib fib = open();
  ASSERT_TRUE(testing::in_netns(*node_, [&] { return fib.watch().ok(); }));
  fib.set(via("198.18.10.0/24", {"198.18.0.2"}));
  fib.set(via("198.18.11.0/24", {"198.18.0.2"}));
  fib.set(via("198.18.12.0/24", {"198.18.0.2", "198.18.0.3"}));
  ASSERT_TRUE(fib.commit().failures.empty());
  EXPECT_EQ(fib.read_events().repairs, 0u) << "our own writes, echoed";
  int id = route("198.18.10.0/24")["nhid"];
  int group = route("198.18.12.0/24")["nhid"];
  auto objects = nexthops();
  auto before = routes();

  node_->ip("nexthop replace id " + std::to_string(id) + " via 198.18.0.3 dev eth0 proto 77");
  ASSERT_EQ(nexthop(id)["gateway"], "198.18.0.3");
  Fib::Events ev;
  ASSERT_TRUE(watch_until(fib, ev, [&] { return ev.repairs > 0; }));
  EXPECT_EQ(ev.repairs, 1u);
  auto stats = fib.commit();
  EXPECT_TRUE(stats.failures.empty());
  EXPECT_EQ(stats.objects_replaced, 1u);
  EXPECT_EQ(stats.objects_added + stats.added + stats.replaced, 0u) << "the routes follow their object";
  EXPECT_EQ(nexthops(), objects) << nexthops().dump(2);
  EXPECT_EQ(routes(), before) << routes().dump(2);
  EXPECT_EQ(fib.read_events().repairs, 0u) << "the repair, echoed: no loop";
  EXPECT_EQ(fib.pending(), 0u);

  // A group's weights changed: written back whole.
  std::string members;
  auto was = nexthop(group);
  for (const auto& m : was["group"]) {
    members += (members.empty() ? "" : "/") + std::to_string(m["id"].get<int>()) + ",5";
  }
  node_->ip("nexthop replace id " + std::to_string(group) + " group " + members + " proto 77");
  ASSERT_NE(nexthops(), objects);
  ev = {};
  ASSERT_TRUE(watch_until(fib, ev, [&] { return ev.repairs > 0; }));
  stats = fib.commit();
  EXPECT_TRUE(stats.failures.empty());
  EXPECT_EQ(stats.objects_replaced, 1u);
  EXPECT_EQ(nexthops(), objects) << nexthops().dump(2);
  EXPECT_EQ(routes(), before) << routes().dump(2);

  // Someone else's object is not ours to put right, whatever it looks like.
  node_->ip("nexthop add id 999 via 198.18.0.3 dev eth0 proto static");
  node_->ip("nexthop replace id 999 via 198.18.0.2 dev eth0 proto static");
  node_->ip("route add 198.18.10.0/24 via 198.18.0.2 proto static metric 5");  // announced after them
  ev = {};
  ASSERT_TRUE(watch_until(fib, ev, [&] { return !ev.shadowed.empty(); }));
  EXPECT_EQ(ev.repairs, 0u);
  EXPECT_EQ(fib.pending(), 1u) << "only the look-up of resolved objects the new route asks for";
}

}  // namespace
}  // namespace tern::routing
