// routing/fib's PrefixTable against a std::map doing the same: adds, erases (the backward
// shift of linear probing), growth and compaction, IPv4 and IPv6 keys.
#include "routing/fib/table.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace tern::routing {
namespace {

struct Item {
  Prefix prefix;
  int value = 0;
  const Prefix& key() const { return prefix; }
};

Prefix key_of(uint32_t k) {
  if (k % 3 == 0) {  // RIB-only keys: never sent traffic
    std::array<uint8_t, 16> b{0x20, 0x01, 0x0d, 0xb8};
    b[12] = static_cast<uint8_t>(k >> 24), b[13] = static_cast<uint8_t>(k >> 16);
    b[14] = static_cast<uint8_t>(k >> 8), b[15] = static_cast<uint8_t>(k);
    return Prefix(IpAddress::v6(b), 128);
  }
  return Prefix(IpAddress::v4(0x0a000000u + (k << 4)), 28 + static_cast<int>(k % 5));
}

void expect_same(const PrefixTable<Item>& t, const std::map<Prefix, int>& model, uint32_t keys) {
  ASSERT_EQ(t.size(), model.size());
  for (uint32_t k = 0; k < keys; ++k) {
    Prefix p = key_of(k);
    uint32_t i = t.find(p);
    auto m = model.find(p);
    ASSERT_EQ(i != PrefixTable<Item>::kNone, m != model.end()) << p.to_string();
    if (m != model.end()) {
      EXPECT_EQ(t[i].value, m->second) << p.to_string();
    }
  }
  size_t seen = 0;
  t.each([&](uint32_t, const Item& it) {
    ++seen;
    EXPECT_EQ(model.at(it.prefix), it.value);
  });
  EXPECT_EQ(seen, model.size());
}

TEST(PrefixTable, MatchesAMapThroughAddsErasesAndCompaction) {
  PrefixTable<Item> t;
  std::map<Prefix, int> model;
  std::mt19937 rng(5);
  constexpr uint32_t kKeys = 3000;
  for (int round = 0; round < 6; ++round) {
    // Mostly adds, then mostly erases: the table grows, thins out and compacts.
    int add_percent = round % 2 == 0 ? 80 : 15;
    for (int op = 0; op < 20000; ++op) {
      uint32_t k = rng() % kKeys;
      Prefix p = key_of(k);
      if (static_cast<int>(rng() % 100) < add_percent) {
        auto [i, fresh] = t.add(p, [&] { return Item{p, op}; });
        EXPECT_EQ(fresh, !model.count(p));
        t[i].value = op;
        model[p] = op;
      } else if (uint32_t i = t.find(p); i != PrefixTable<Item>::kNone) {
        t.erase(i);
        model.erase(p);
      }
    }
    expect_same(t, model, kKeys);
    t.compact();
    expect_same(t, model, kKeys);
  }
}

TEST(PrefixTable, ErasingInsideEachLeavesTheRest) {
  PrefixTable<Item> t;
  for (uint32_t k = 0; k < 5000; ++k) t.add(key_of(k), [&] { return Item{key_of(k), static_cast<int>(k)}; });
  t.each([&](uint32_t i, Item& it) {
    if (it.value % 2) t.erase(i);
  });
  std::map<Prefix, int> model;
  for (uint32_t k = 0; k < 5000; k += 2) model[key_of(k)] = static_cast<int>(k);
  expect_same(t, model, 5000);
  t.compact();  // half of them gone: the rest renumbered
  expect_same(t, model, 5000);
}

}  // namespace
}  // namespace tern::routing
