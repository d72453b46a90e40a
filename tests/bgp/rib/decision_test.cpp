// The decision process, one tie-breaker at a time: two paths equal in every step but one.
#include <gtest/gtest.h>

#include "bgp/rib/decision.hpp"

namespace tern::bgp::rib {
namespace {

using wire::AsPath;
using wire::AsSegment;
using wire::AsSegmentType;

wire::PathAttributes base() {
  wire::PathAttributes a;
  a.origin = wire::Origin::kIgp;
  a.as_path = AsPath{{AsSegment{AsSegmentType::kSequence, {65002}}}};
  a.next_hop = *IpAddress::parse("198.18.0.2");
  return a;
}

struct Pair {
  wire::PathAttributes a = base(), b = base();
  Candidate ca, cb;
  Pair() {
    ca.peer_address = *IpAddress::parse("198.18.0.2");
    cb.peer_address = *IpAddress::parse("198.18.0.2");
    ca.ebgp = cb.ebgp = true;
  }
  // Which wins and why: "a"/"b" and the reason.
  std::pair<std::string, Reason> decide(DecisionOptions o = {}) {
    ca.attrs = &a;
    cb.attrs = &b;
    Reason r;
    int c = compare(ca, cb, o, &r);
    Reason back;
    EXPECT_EQ(compare(cb, ca, o, &back), -c) << "the comparison is antisymmetric";
    EXPECT_EQ(back, r);
    return {c < 0 ? "a" : c > 0 ? "b" : "=", r};
  }
};

TEST(Decision, HigherLocalPrefWins) {
  Pair p;
  p.a.local_pref = 200;
  p.b.as_path->segments[0].asns = {};  // b's shorter path must not matter
  EXPECT_EQ(p.decide(), std::make_pair(std::string("a"), Reason::kLocalPref));
}

TEST(Decision, MissingLocalPrefCountsAs100) {
  Pair p;
  p.a.local_pref = 99;
  EXPECT_EQ(p.decide(), std::make_pair(std::string("b"), Reason::kLocalPref));
}

TEST(Decision, LocallyOriginatedWins) {
  Pair p;
  p.ca.local = true;
  p.a.as_path->segments[0].asns = {1, 2, 3};
  EXPECT_EQ(p.decide(), std::make_pair(std::string("a"), Reason::kLocal));
}

TEST(Decision, ShorterAsPathWinsAndASetCountsOne) {
  Pair p;
  p.a.as_path = AsPath{{AsSegment{AsSegmentType::kSequence, {65002}}, AsSegment{AsSegmentType::kSet, {1, 2, 3}}}};
  p.b.as_path = AsPath{{AsSegment{AsSegmentType::kSequence, {65002, 65010, 65011}}}};
  EXPECT_EQ(p.decide(), std::make_pair(std::string("a"), Reason::kAsPathLength));
  p.b.as_path = AsPath{{AsSegment{AsSegmentType::kConfedSequence, {7, 8}}, AsSegment{AsSegmentType::kSequence, {1, 2}}}};
  EXPECT_NE(p.decide().second, Reason::kAsPathLength) << "confederation segments count none: 2 and 2";
}

TEST(Decision, LowerOriginWins) {
  Pair p;
  p.a.origin = wire::Origin::kIncomplete;
  p.b.origin = wire::Origin::kEgp;
  EXPECT_EQ(p.decide(), std::make_pair(std::string("b"), Reason::kOrigin));
}

TEST(Decision, LowerMedWinsOnlyFromTheSameNeighbourAs) {
  Pair p;
  p.a.med = 10;
  p.b.med = 5;
  EXPECT_EQ(p.decide(), std::make_pair(std::string("b"), Reason::kMed));
  p.b.as_path = AsPath{{AsSegment{AsSegmentType::kSequence, {65003}}}};
  EXPECT_NE(p.decide().second, Reason::kMed) << "different neighbour AS: MED not compared";
  DecisionOptions always;
  always.always_compare_med = true;
  EXPECT_EQ(p.decide(always), std::make_pair(std::string("b"), Reason::kMed));
  p.b.med.reset();
  EXPECT_EQ(p.decide(always), std::make_pair(std::string("b"), Reason::kMed)) << "a missing MED is 0";
}

TEST(Decision, EbgpOverIbgp) {
  Pair p;
  p.ca.ebgp = false;
  p.ca.peer_router_id = 1;  // would win later steps
  p.cb.peer_router_id = 9;
  EXPECT_EQ(p.decide(), std::make_pair(std::string("b"), Reason::kEbgpOverIbgp));
}

TEST(Decision, LowerRouterIdThenOriginatorId) {
  Pair p;
  p.ca.peer_router_id = 5;
  p.cb.peer_router_id = 3;
  EXPECT_EQ(p.decide(), std::make_pair(std::string("b"), Reason::kRouterId));
  p.a.originator_id = 1;  // a reflected route: its originator counts, not the reflector
  EXPECT_EQ(p.decide(), std::make_pair(std::string("a"), Reason::kRouterId));
}

TEST(Decision, ShorterClusterList) {
  Pair p;
  p.a.cluster_list = {1, 2};
  p.b.cluster_list = {1};
  EXPECT_EQ(p.decide(), std::make_pair(std::string("b"), Reason::kClusterList));
}

TEST(Decision, LowerPeerAddress) {
  Pair p;
  p.cb.peer_address = *IpAddress::parse("198.18.0.1");
  EXPECT_EQ(p.decide(), std::make_pair(std::string("b"), Reason::kPeerAddress));
}

TEST(Decision, PathIdLastAndThenEqual) {
  Pair p;
  p.ca.path_id = 2;
  p.cb.path_id = 1;
  EXPECT_EQ(p.decide(), std::make_pair(std::string("b"), Reason::kPathId));
  p.ca.path_id = 1;
  EXPECT_EQ(p.decide(), std::make_pair(std::string("="), Reason::kEqual));
}

TEST(Decision, MultipathNeedsTheSameAsPathUnlessRelaxed) {
  Pair p;
  p.ca.attrs = &p.a;
  p.cb.attrs = &p.b;
  p.cb.peer_router_id = 7;
  DecisionOptions o;
  EXPECT_TRUE(multipath_equal(p.ca, p.cb, o)) << "differ only after eBGP/iBGP";
  p.b.as_path = AsPath{{AsSegment{AsSegmentType::kSequence, {65003}}}};
  EXPECT_FALSE(multipath_equal(p.ca, p.cb, o)) << "another neighbour AS";
  o.multipath_relax = true;
  EXPECT_TRUE(multipath_equal(p.ca, p.cb, o)) << "relaxed: as long is enough";
  p.b.med = 1;
  p.a.med = 1;
  p.b.origin = wire::Origin::kEgp;
  EXPECT_FALSE(multipath_equal(p.ca, p.cb, o)) << "a worse origin never joins";
}

}  // namespace
}  // namespace tern::bgp::rib
