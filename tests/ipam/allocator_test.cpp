#include "ipam/allocator.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <set>

namespace tern::ipam {
namespace {

Prefix P(const char* text) { return *Prefix::parse(text); }
IpAddress A(const char* text) { return *IpAddress::parse(text); }
AttachmentKey K(int i) { return {"c" + std::to_string(i), "eth0"}; }

// The error code, or nullopt for success.
std::optional<Errc> code(const Status& s) {
  if (s) return std::nullopt;
  return s.error().code;
}

const std::vector<Family> kV4{Family::kIpv4};
const std::vector<Family> kV6{Family::kIpv6};

// plan + commit, as ternd does after the journal append; fails the test on error.
IpAddress take(Allocator& a, const AttachmentKey& key, const std::vector<Family>& f = kV4) {
  auto planned = a.plan(key, f, "ns", "pod", 1);
  EXPECT_TRUE(planned.ok()) << planned.error().message;
  if (!planned) return {};
  EXPECT_TRUE(a.commit(*planned).ok());
  return planned->addresses.front();
}

TEST(Allocator, Slash24SkipsNetworkAndBroadcast) {
  Allocator a({P("198.18.0.0/24")}, {});
  std::set<IpAddress> seen;
  for (int i = 0; i < 254; ++i) seen.insert(take(a, K(i)));
  EXPECT_EQ(seen.size(), 254u);
  EXPECT_EQ(*seen.begin(), A("198.18.0.1"));
  EXPECT_EQ(*seen.rbegin(), A("198.18.0.254"));
  auto full = a.plan(K(999), kV4, "", "", 0);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, Errc::kUnavailable);
  EXPECT_NE(full.error().message.find("block 198.18.0.0/24 is full"), std::string::npos)
      << full.error().message;
}

TEST(Allocator, Slash31AndSlash32UseEveryAddress) {  // RFC 3021
  Allocator a31({P("198.18.0.0/31")}, {});
  EXPECT_EQ(take(a31, K(1)), A("198.18.0.0"));
  EXPECT_EQ(take(a31, K(2)), A("198.18.0.1"));
  EXPECT_EQ(a31.plan(K(3), kV4, "", "", 0).error().code, Errc::kUnavailable);

  Allocator a32({P("198.18.0.7/32")}, {});
  EXPECT_EQ(take(a32, K(1)), A("198.18.0.7"));
  EXPECT_EQ(a32.plan(K(2), kV4, "", "", 0).error().code, Errc::kUnavailable);
}

TEST(Allocator, Ipv6SkipsSubnetRouterAnycast) {  // RFC 4291 §2.6.1
  Allocator a64({P("2001:db8::/64")}, {});
  EXPECT_EQ(take(a64, K(1), kV6), A("2001:db8::1"));

  Allocator a126({P("2001:db8::/126")}, {});
  EXPECT_EQ(take(a126, K(1), kV6), A("2001:db8::1"));
  EXPECT_EQ(take(a126, K(2), kV6), A("2001:db8::2"));
  EXPECT_EQ(take(a126, K(3), kV6), A("2001:db8::3"));
  auto full = a126.plan(K(4), kV6, "", "", 0);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, Errc::kUnavailable);
  EXPECT_EQ(a126.usage().front().capacity, 3u);
  EXPECT_EQ(a126.usage().front().used, 3u);

  Allocator a127({P("2001:db8::/127")}, {});  // RFC 6164: both addresses
  EXPECT_EQ(take(a127, K(1), kV6), A("2001:db8::"));
  EXPECT_EQ(take(a127, K(2), kV6), A("2001:db8::1"));
}

TEST(Allocator, FullLargeBlockIsDetectedFromCounts) {
  // A /120 filled, then a /64 behind it: the full one is passed over without a scan.
  Allocator a({P("2001:db8:1::/120"), P("2001:db8:2::/64")}, {});
  for (int i = 0; i < 255; ++i) EXPECT_TRUE(P("2001:db8:1::/120").contains(take(a, K(i), kV6)));
  EXPECT_EQ(take(a, K(1000), kV6), A("2001:db8:2::1"));
  // Cursor at the very end of the /64: the search wraps to ::1 at once.
  a.set_cursor(P("2001:db8:2::/64"), A("2001:db8:2::ffff:ffff:ffff:ffff"));
  EXPECT_EQ(take(a, K(1001), kV6), A("2001:db8:2::2"));
}

TEST(Allocator, DualStackGivesOneOfEachIpv4First) {
  Allocator a({P("2001:db8::/64"), P("198.18.0.0/24")}, {});
  auto planned = a.plan(K(1), {Family::kIpv6, Family::kIpv4}, "default", "web", 42);
  ASSERT_TRUE(planned.ok()) << planned.error().message;
  ASSERT_EQ(planned->addresses.size(), 2u);
  EXPECT_EQ(planned->addresses[0], A("198.18.0.1"));
  EXPECT_EQ(planned->addresses[1], A("2001:db8::1"));
  EXPECT_EQ(planned->pod_namespace, "default");
  EXPECT_EQ(planned->pod_name, "web");
  EXPECT_EQ(planned->created_unix, 42u);
}

TEST(Allocator, FamilyWithoutBlockOrRequestedTwiceIsInvalid) {
  Allocator a({P("198.18.0.0/24")}, {});
  EXPECT_EQ(a.plan(K(1), kV6, "", "", 0).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(a.plan(K(1), {}, "", "", 0).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(a.plan(K(1), {Family::kIpv4, Family::kIpv4}, "", "", 0).error().code,
            Errc::kInvalidArgument);
}

TEST(Allocator, PlanIsPureAndIdempotentForTheSameKey) {
  Allocator a({P("198.18.0.0/24")}, {});
  auto first = a.plan(K(1), kV4, "ns", "pod", 1);
  auto again = a.plan(K(1), kV4, "ns", "pod", 1);
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(*first, *again);  // nothing was taken by planning
  EXPECT_EQ(a.find(K(1)), nullptr);
  ASSERT_TRUE(a.commit(*first).ok());
  // CNI ADD retried, even with other arguments: the existing allocation, unchanged.
  auto retried = a.plan(K(1), {Family::kIpv4}, "other", "other", 99);
  ASSERT_TRUE(retried.ok());
  EXPECT_EQ(*retried, *first);
  EXPECT_TRUE(a.commit(*retried).ok());
  EXPECT_EQ(a.allocations().size(), 1u);
}

TEST(Allocator, ReleasedAddressIsNotReusedAtOnce) {
  Allocator a({P("198.18.0.0/24")}, {});
  EXPECT_EQ(take(a, K(1)), A("198.18.0.1"));
  EXPECT_EQ(take(a, K(2)), A("198.18.0.2"));
  EXPECT_EQ(take(a, K(3)), A("198.18.0.3"));
  auto gone = a.release(K(2));
  ASSERT_TRUE(gone.has_value());
  EXPECT_EQ(gone->addresses.front(), A("198.18.0.2"));
  EXPECT_FALSE(a.release(K(2)).has_value());  // DEL is idempotent
  EXPECT_EQ(take(a, K(4)), A("198.18.0.4"));
  EXPECT_EQ(a.cursor(P("198.18.0.0/24")), A("198.18.0.4"));
}

TEST(Allocator, RoundRobinWrapsAndContinuesAfterTheWrap) {
  Allocator a({P("198.18.0.0/29")}, {});  // .1 .. .6
  for (int i = 1; i <= 6; ++i) EXPECT_EQ(take(a, K(i)), IpAddress::v4(0xC6120000u + i));
  a.release(K(2));
  a.release(K(5));
  EXPECT_EQ(take(a, K(7)), A("198.18.0.2"));  // wrapped past .6
  EXPECT_EQ(a.cursor(P("198.18.0.0/29")), A("198.18.0.2"));
  a.release(K(3));
  // After the wrap the search goes on from .2: .3 (just released) comes before .5, which
  // was released earlier — but not from the block's start.
  EXPECT_EQ(take(a, K(8)), A("198.18.0.3"));
  EXPECT_EQ(take(a, K(9)), A("198.18.0.5"));
  EXPECT_EQ(a.plan(K(10), kV4, "", "", 0).error().code, Errc::kUnavailable);
}

TEST(Allocator, ReservedAddressesAreSkipped) {
  Allocator a({P("198.18.0.0/29")}, {A("198.18.0.1"), A("198.18.0.3"), A("198.18.9.9")});
  EXPECT_EQ(take(a, K(1)), A("198.18.0.2"));
  EXPECT_EQ(take(a, K(2)), A("198.18.0.4"));
  EXPECT_EQ(a.usage().front().capacity, 4u);
  EXPECT_EQ(take(a, K(3)), A("198.18.0.5"));
  EXPECT_EQ(take(a, K(4)), A("198.18.0.6"));
  EXPECT_EQ(a.plan(K(5), kV4, "", "", 0).error().code, Errc::kUnavailable);
}

TEST(Allocator, CommitRefusesForeignAndOutsideAddresses) {
  Allocator a({P("198.18.0.0/24"), P("2001:db8::/64")}, {});
  take(a, K(1));
  EXPECT_EQ(code(a.commit({K(2), "", "", {A("198.18.0.1")}, 0})), Errc::kAlreadyExists);
  EXPECT_EQ(code(a.commit({K(2), "", "", {A("198.19.0.1")}, 0})), Errc::kInvalidArgument);
  EXPECT_EQ(code(a.commit({K(2), "", "", {A("198.18.0.0")}, 0})), Errc::kInvalidArgument);
  EXPECT_EQ(code(a.commit({K(2), "", "", {A("198.18.0.255")}, 0})), Errc::kInvalidArgument);
  EXPECT_EQ(code(a.commit({K(2), "", "", {A("2001:db8::")}, 0})), Errc::kInvalidArgument);
  EXPECT_EQ(code(a.commit({K(2), "", "", {}, 0})), Errc::kInvalidArgument);
  EXPECT_EQ(code(a.commit({K(2), "", "", {A("198.18.0.7"), A("198.18.0.8")}, 0})),
            Errc::kInvalidArgument);
  // A refused dual-stack commit takes nothing, not even its valid half.
  EXPECT_EQ(code(a.commit({K(2), "", "", {A("198.18.0.9"), A("2001:db9::1")}, 0})),
            Errc::kInvalidArgument);
  EXPECT_EQ(a.find(K(2)), nullptr);
  EXPECT_EQ(a.usage()[0].used, 1u);
  EXPECT_EQ(a.usage()[1].used, 0u);
  EXPECT_EQ(a.find(K(1))->addresses.front(), A("198.18.0.1"));
}

TEST(Allocator, CommitReplacesTheKeyAndStoresIpv4First) {
  Allocator a({P("198.18.0.0/24"), P("2001:db8::/64")}, {});
  ASSERT_TRUE(a.commit({K(1), "", "", {A("2001:db8::5"), A("198.18.0.5")}, 0}).ok());
  EXPECT_EQ(a.find(K(1))->addresses, (std::vector{A("198.18.0.5"), A("2001:db8::5")}));
  ASSERT_TRUE(a.commit({K(1), "", "", {A("198.18.0.6")}, 0}).ok());
  EXPECT_EQ(a.find(K(1))->addresses, std::vector{A("198.18.0.6")});
  // The old addresses are free again: another key may take them.
  EXPECT_TRUE(a.commit({K(2), "", "", {A("198.18.0.5"), A("2001:db8::5")}, 0}).ok());
  EXPECT_EQ(a.usage()[0].used, 2u);
  EXPECT_EQ(a.usage()[1].used, 1u);
}

TEST(Allocator, UnlistedFindsWhatGcReleases) {
  Allocator a({P("198.18.0.0/24")}, {});
  for (int i = 1; i <= 4; ++i) take(a, K(i));
  auto stale = a.unlisted({K(2), K(4), K(77)});
  EXPECT_EQ(stale, (std::vector{K(1), K(3)}));
  for (const auto& k : stale) a.release(k);
  EXPECT_TRUE(a.unlisted({K(2), K(4)}).empty());
  ASSERT_EQ(a.allocations().size(), 2u);
  EXPECT_EQ(a.allocations()[0].key, K(2));
  EXPECT_EQ(a.allocations()[1].key, K(4));
}

TEST(Allocator, UsageCountsAndCapsCapacity) {
  Allocator a({P("198.18.0.0/24"), P("2001:db8::/64"), P("2001:db8:1::/56")}, {A("198.18.0.10")});
  take(a, K(1));
  take(a, K(2), kV6);
  auto u = a.usage();
  ASSERT_EQ(u.size(), 3u);
  EXPECT_EQ(u[0].block, P("198.18.0.0/24"));
  EXPECT_EQ(u[0].capacity, 253u);
  EXPECT_EQ(u[0].used, 1u);
  EXPECT_EQ(u[1].capacity, std::numeric_limits<uint64_t>::max());  // 2^64 - 1 exactly
  EXPECT_EQ(u[1].used, 1u);
  EXPECT_EQ(u[2].capacity, std::numeric_limits<uint64_t>::max());  // 2^72 - 1, capped
  EXPECT_EQ(u[2].used, 0u);
  a.release(K(1));
  EXPECT_EQ(a.usage()[0].used, 0u);
}

TEST(Allocator, CommitMovesTheCursorForwardSoReplayRestoresIt) {
  const Prefix block = P("198.18.0.0/24");
  Allocator a({block}, {});
  EXPECT_FALSE(a.cursor(block).has_value());
  ASSERT_TRUE(a.commit({K(1), "", "", {A("198.18.0.9")}, 0}).ok());
  ASSERT_TRUE(a.commit({K(2), "", "", {A("198.18.0.4")}, 0}).ok());  // behind: free slots after .9
  EXPECT_EQ(a.cursor(block), A("198.18.0.9"));
  EXPECT_EQ(take(a, K(3)), A("198.18.0.10"));
  a.set_cursor(block, A("198.18.0.100"));
  EXPECT_EQ(take(a, K(4)), A("198.18.0.101"));
  a.set_cursor(P("198.19.0.0/24"), A("198.19.0.1"));  // not ours: ignored
  EXPECT_FALSE(a.cursor(P("198.19.0.0/24")).has_value());
  a.set_cursor(block, A("198.19.0.1"));  // outside the block: ignored
  EXPECT_EQ(a.cursor(block), A("198.18.0.101"));
}

TEST(Allocator, ReplayingTheSameSequenceGivesTheSameCursor) {
  // The live run: fill a /29, release two, wrap. Replaying its commits and releases in
  // order must leave the cursor where the run left it, including after the wrap.
  const Prefix block = P("198.18.0.0/29");
  Allocator live({block}, {});
  std::vector<std::pair<bool, Allocation>> log;  // true: commit, false: release
  auto add = [&](int i) {
    auto p = live.plan(K(i), kV4, "", "", 0);
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(live.commit(*p).ok());
    log.emplace_back(true, *p);
  };
  auto del = [&](int i) { log.emplace_back(false, *live.release(K(i))); };
  for (int i = 1; i <= 6; ++i) add(i);
  del(2);
  del(4);
  add(7);
  del(5);
  add(8);
  Allocator replayed({block}, {});
  for (const auto& [is_commit, a] : log) {
    if (is_commit) {
      ASSERT_TRUE(replayed.commit(a).ok());
    } else {
      replayed.release(a.key);
    }
  }
  EXPECT_EQ(replayed.cursor(block), live.cursor(block));
  EXPECT_EQ(replayed.allocations(), live.allocations());
}

TEST(Allocator, RandomOperationsKeepTheInvariants) {
  std::mt19937 rng(12345);
  const Prefix v4 = P("198.18.0.0/28"), v6 = P("2001:db8::/125");
  Allocator a({v4, v6}, {A("198.18.0.1"), A("2001:db8::7")});
  std::set<int> held;
  for (int step = 0; step < 3000; ++step) {
    int i = static_cast<int>(rng() % 40);
    if (rng() % 3 == 0) {
      EXPECT_EQ(a.release(K(i)).has_value(), held.erase(i) == 1);
    } else {
      auto p = a.plan(K(i), {Family::kIpv4, Family::kIpv6}, "", "", 0);
      if (!p) {
        ASSERT_EQ(p.error().code, Errc::kUnavailable);
        auto u = a.usage();
        ASSERT_TRUE(u[0].used == u[0].capacity || u[1].used == u[1].capacity);
        continue;
      }
      ASSERT_TRUE(a.commit(*p).ok());
      held.insert(i);
    }
    std::set<IpAddress> owned;
    for (const Allocation& al : a.allocations()) {
      ASSERT_EQ(al.addresses.size(), 2u);
      for (const IpAddress& ip : al.addresses) {
        ASSERT_TRUE(owned.insert(ip).second) << ip.to_string() << " owned twice";
        ASSERT_NE(ip, A("198.18.0.1"));
        ASSERT_NE(ip, A("198.18.0.15"));
        ASSERT_NE(ip, A("2001:db8::"));
      }
    }
    auto u = a.usage();
    ASSERT_EQ(u[0].used, held.size());
    ASSERT_EQ(u[1].used, held.size());
    ASSERT_EQ(u[0].capacity, 13u);
    ASSERT_EQ(u[1].capacity, 6u);
  }
}

TEST(Allocator, CopiesAndMovesAreIndependentValues) {
  std::optional<Allocator> source(Allocator({P("198.18.0.0/24")}, {}));
  take(*source, K(1));
  Allocator copy = *source;
  Allocator assigned({P("198.19.0.0/24")}, {});
  assigned = *source;
  source.reset();  // the copies' address index must not point into the source
  for (Allocator* a : {&copy, &assigned}) {
    EXPECT_EQ(code(a->commit({K(2), "", "", {A("198.18.0.1")}, 0})), Errc::kAlreadyExists);
    EXPECT_EQ(take(*a, K(3)), A("198.18.0.2"));
    ASSERT_TRUE(a->release(K(1)).has_value());
    EXPECT_TRUE(a->commit({K(2), "", "", {A("198.18.0.1")}, 0}).ok());
  }
  Allocator moved = std::move(copy);
  EXPECT_EQ(code(moved.commit({K(4), "", "", {A("198.18.0.2")}, 0})), Errc::kAlreadyExists);
  EXPECT_EQ(moved.allocations().size(), 2u);
}

}  // namespace
}  // namespace tern::ipam
