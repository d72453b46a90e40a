// The FIB's table of routes by prefix: the items side by side in one vector (in the order
// they came, dead ones reused), found through an open-addressing index of 8-byte slots (the
// item's number and 32 bits of its key's hash, linear probing, at most 3/4 full). A look-up
// reads one slot, mostly in cache, and one item; a miss (a new route) reads no item at all;
// growing re-spreads the slots without touching the items. A std::unordered_map node per
// route cost a cache miss for each node walked, a division a step and a malloc a route.
//
// Item numbers stay put until compact(): they may be held across erase() but not across
// add() (the vector may move) or compact(). Internal to routing/fib.
#pragma once

#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "common/ip.hpp"

namespace tern::routing {

inline uint32_t prefix_hash(const Prefix& p) {
  auto b = p.address().bytes();
  uint64_t lo = 0, hi = 0;
  if (b.size() == 4) {
    uint32_t v4;
    std::memcpy(&v4, b.data(), 4);
    lo = v4;
  } else {
    std::memcpy(&lo, b.data(), 8);
    std::memcpy(&hi, b.data() + 8, 8);
  }
  uint64_t h = lo ^ (hi * 0x9e3779b97f4a7c15ull) ^ (uint64_t(p.length()) << 56) ^ (uint64_t(b.size()) << 48);
  h = (h ^ (h >> 33)) * 0xff51afd7ed558ccdull;  // murmur3's finaliser
  h = (h ^ (h >> 33)) * 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return static_cast<uint32_t>(h ^ (h >> 32));
}

// T: default-constructible, movable, with `const Prefix& key() const`.
template <typename T>
class PrefixTable {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  size_t size() const { return live_; }
  bool live(uint32_t i) const { return i < items_.size() && live_bits_[i]; }
  T& operator[](uint32_t i) { return items_[i]; }
  const T& operator[](uint32_t i) const { return items_[i]; }

  uint32_t find(const Prefix& key) const {
    if (slots_.empty()) return kNone;
    uint32_t h = prefix_hash(key);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.item == kNone) return kNone;
      if (s.hash == h && items_[s.item].key() == key) return s.item;
    }
  }

  // The item of `key`, and whether it is new: then it is `make()` (whose key is `key`).
  template <typename Make>
  std::pair<uint32_t, bool> add(const Prefix& key, Make make) {
    if ((live_ + 1) * 4 > slots_.size() * 3) grow();
    uint32_t h = prefix_hash(key);
    size_t i = h & mask_;
    for (;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.item == kNone) break;
      if (s.hash == h && items_[s.item].key() == key) return {s.item, false};
    }
    uint32_t at;
    if (!free_.empty()) {
      at = free_.back();
      free_.pop_back();
      items_[at] = make();
      live_bits_[at] = true;
    } else {
      at = static_cast<uint32_t>(items_.size());
      items_.push_back(make());
      live_bits_.push_back(true);
    }
    slots_[i] = {at, h};
    ++live_;
    return {at, true};
  }

  void erase(uint32_t item) {
    uint32_t h = prefix_hash(items_[item].key());
    size_t hole = h & mask_;
    while (slots_[hole].item != item) hole = (hole + 1) & mask_;
    // Backward shift: a slot after the hole moves into it unless that would put it before
    // the place its hash asks for.
    for (size_t j = (hole + 1) & mask_; slots_[j].item != kNone; j = (j + 1) & mask_) {
      size_t ideal = slots_[j].hash & mask_;
      if (((j - ideal) & mask_) >= ((j - hole) & mask_)) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = {kNone, 0};
    items_[item] = T{};
    live_bits_[item] = false;
    free_.push_back(item);
    --live_;
  }

  // f(number, item) for each item in place; f may erase() the one it is given.
  template <typename F>
  void each(F f) {
    for (uint32_t i = 0; i < items_.size(); ++i) {
      if (live_bits_[i]) f(i, items_[i]);
    }
  }
  template <typename F>
  void each(F f) const {
    for (uint32_t i = 0; i < items_.size(); ++i) {
      if (live_bits_[i]) f(i, items_[i]);
    }
  }

  // When more than half the items are dead (many routes gone): the live ones moved
  // together, their memory given back, the index made again. Renumbers the items.
  void compact() {
    if (free_.size() < 1024 || free_.size() < live_) return;
    std::vector<T> items;
    items.reserve(live_);
    for (uint32_t i = 0; i < items_.size(); ++i) {
      if (live_bits_[i]) items.push_back(std::move(items_[i]));
    }
    items_ = std::move(items);
    live_bits_.assign(items_.size(), true);
    free_ = {};
    size_t cap = 16;
    while (live_ * 4 > cap * 3) cap *= 2;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    for (uint32_t i = 0; i < items_.size(); ++i) place(i, prefix_hash(items_[i].key()));
  }

 private:
  struct Slot {
    uint32_t item = kNone;
    uint32_t hash = 0;
  };

  void place(uint32_t item, uint32_t h) {
    size_t i = h & mask_;
    while (slots_[i].item != kNone) i = (i + 1) & mask_;
    slots_[i] = {item, h};
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    size_t cap = old.empty() ? 16 : old.size() * 2;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    for (const Slot& s : old) {
      if (s.item != kNone) place(s.item, s.hash);
    }
  }

  std::vector<T> items_;
  std::vector<bool> live_bits_;
  std::vector<uint32_t> free_;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t live_ = 0;
};

}  // namespace tern::routing
