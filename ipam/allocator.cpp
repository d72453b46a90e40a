#include "ipam/allocator.hpp"

#include <algorithm>
#include <array>
#include <limits>

namespace tern::ipam {
namespace {

// 128-bit arithmetic over host offsets, so an IPv6 /64 (or /0) is counted, never walked.
using U128 = unsigned __int128;

U128 to_u128(const IpAddress& a) {
  U128 v = 0;
  for (uint8_t b : a.bytes()) v = (v << 8) | b;
  return v;
}

IpAddress from_u128(Family family, U128 v) {
  if (family == Family::kIpv4) return IpAddress::v4(static_cast<uint32_t>(v));
  std::array<uint8_t, 16> b{};
  for (int i = 15; i >= 0; --i) {
    b[static_cast<size_t>(i)] = static_cast<uint8_t>(v);
    v >>= 8;
  }
  return IpAddress::v6(b);
}

// The host offsets a block may hand out: [lo, hi] relative to its network address.
struct Range {
  U128 base = 0;
  U128 lo = 0;
  U128 hi = 0;
  U128 size() const { return hi - lo + 1; }  // never overflows: a /0 loses at least one address
};

Range range_of(const Prefix& p) {
  int host_bits = p.address().max_prefix_length() - p.length();
  U128 last = host_bits >= 128 ? ~U128{0} : (U128{1} << host_bits) - 1;
  Range r{to_u128(p.address()), 0, last};
  if (p.family() == Family::kIpv4) {
    // RFC 3021: a /31 (and a /32) has no network or broadcast address; shorter blocks keep
    // both off Pods (the all-zero host is the network, the all-ones host directed broadcast).
    if (p.length() < 31) {
      r.lo = 1;
      r.hi = last - 1;
    }
  } else if (p.length() < 127) {
    // RFC 4291 §2.6.1: the all-zero host part is the Subnet-Router anycast address. RFC 6164
    // lets a /127 use both addresses, and a /128 has only one.
    r.lo = 1;
  }
  return r;
}

const char* family_name(Family f) { return f == Family::kIpv4 ? "IPv4" : "IPv6"; }

uint64_t cap64(U128 v) {
  return v > std::numeric_limits<uint64_t>::max() ? std::numeric_limits<uint64_t>::max()
                                                  : static_cast<uint64_t>(v);
}

std::vector<IpAddress> v4_first(std::vector<IpAddress> addresses) {
  std::stable_sort(addresses.begin(), addresses.end(),
                   [](const IpAddress& a, const IpAddress& b) { return a.is_v4() && !b.is_v4(); });
  return addresses;
}

std::string key_text(const AttachmentKey& k) { return k.container_id + "/" + k.ifname; }

}  // namespace

Allocator::Allocator(std::vector<Prefix> blocks, std::vector<IpAddress> reserved)
    : blocks_(std::move(blocks)),
      reserved_(reserved.begin(), reserved.end()),
      reserved_in_range_(blocks_.size(), 0),
      used_(blocks_.size(), 0) {
  // Counted once here so plan() can tell a full block from counts alone.
  for (const IpAddress& r : reserved_) {
    auto b = block_of(r);
    if (!b) continue;
    Range range = range_of(blocks_[*b]);
    U128 off = to_u128(r) - range.base;
    if (off >= range.lo && off <= range.hi) ++reserved_in_range_[*b];
  }
}

Allocator::Allocator(const Allocator& other)
    : blocks_(other.blocks_),
      reserved_(other.reserved_),
      reserved_in_range_(other.reserved_in_range_),
      used_(other.used_),
      cursors_(other.cursors_),
      by_key_(other.by_key_) {
  rebuild_index();
}

Allocator& Allocator::operator=(const Allocator& other) {
  if (this != &other) {
    Allocator copy(other);
    *this = std::move(copy);
  }
  return *this;
}

void Allocator::rebuild_index() {
  by_address_.clear();
  for (const auto& [key, a] : by_key_) {
    for (const IpAddress& ip : a.addresses) by_address_.emplace(ip, &key);
  }
}

std::optional<size_t> Allocator::block_of(const IpAddress& a) const {
  for (size_t i = 0; i < blocks_.size(); ++i) {
    if (blocks_[i].contains(a)) return i;
  }
  return std::nullopt;
}

// Whether `a` takes one of the block's allocatable slots: inside [lo, hi] and not reserved
// (a reserved address kept by an old Pod is already out of the capacity).
bool Allocator::counts_as_used(size_t block, const IpAddress& a) const {
  Range range = range_of(blocks_[block]);
  U128 off = to_u128(a) - range.base;
  return off >= range.lo && off <= range.hi && !reserved_.contains(a);
}

void Allocator::account(const Allocation& allocation, int delta) {
  for (const IpAddress& a : allocation.addresses) {
    auto b = block_of(a);
    if (!b || !counts_as_used(*b, a)) continue;
    used_[*b] = delta > 0 ? used_[*b] + 1 : used_[*b] - 1;
  }
}

// Round-robin: start after the cursor and wrap, so a just-released address (a stale Pod's
// traffic may still be in flight to it) is the last one reused. Every failed probe lands on
// an owned or reserved address of this block, so once the counts say a slot is free the
// loop ends within used + reserved + 1 probes; a full block never enters it.
std::optional<IpAddress> Allocator::next_free(size_t block) const {
  const Prefix& p = blocks_[block];
  Range range = range_of(p);
  U128 taken = U128{used_[block]} + reserved_in_range_[block];
  if (taken >= range.size()) return std::nullopt;

  U128 off = range.lo;
  if (auto c = cursors_.find(p); c != cursors_.end()) {
    U128 last = to_u128(c->second) - range.base;
    if (last >= range.lo && last < range.hi) off = last + 1;
  }
  // Bounded even if the counts were wrong (overlapping blocks): then report the block full.
  for (U128 probes = 0; probes <= taken; ++probes) {
    IpAddress candidate = from_u128(p.family(), range.base + off);
    if (!by_address_.contains(candidate) && !reserved_.contains(candidate)) return candidate;
    off = off == range.hi ? range.lo : off + 1;
  }
  return std::nullopt;
}

Result<Allocation> Allocator::plan(const AttachmentKey& key, const std::vector<Family>& families,
                                   std::string pod_namespace, std::string pod_name,
                                   uint64_t now_unix) const {
  // CNI ADD retried: the Pod must see the addresses it was already given.
  if (const Allocation* existing = find(key)) return *existing;
  if (families.empty()) {
    return make_error(Errc::kInvalidArgument, "no address family requested for " + key_text(key));
  }
  Allocation out{key, std::move(pod_namespace), std::move(pod_name), {}, now_unix};
  for (Family f : {Family::kIpv4, Family::kIpv6}) {
    auto wanted = std::count(families.begin(), families.end(), f);
    if (wanted == 0) continue;
    if (wanted > 1) {
      return make_error(Errc::kInvalidArgument,
                        std::string(family_name(f)) + " requested twice for " + key_text(key));
    }
    std::string full;
    int full_blocks = 0;
    std::optional<IpAddress> picked;
    for (size_t i = 0; i < blocks_.size() && !picked; ++i) {
      if (blocks_[i].family() != f) continue;
      picked = next_free(i);
      if (!picked) full += (full_blocks++ ? ", " : "") + blocks_[i].to_string();
    }
    if (!picked && full_blocks == 0) {
      return make_error(Errc::kInvalidArgument,
                        std::string("no ") + family_name(f) + " block on this node");
    }
    if (!picked) {
      return make_error(
          Errc::kUnavailable,
          std::string("no free ") + family_name(f) + " address: " +
              (full_blocks > 1 ? "blocks " + full + " are full" : "block " + full + " is full"));
    }
    out.addresses.push_back(*picked);
  }
  return out;
}

// commit() moves the cursor when the address is further along in round-robin order: past
// the cursor, or before it when nothing is free after the cursor (the search had to wrap).
// Replaying the journal in order therefore leaves the cursor where the live run left it.
void Allocator::advance_cursor(size_t block, const IpAddress& a) {
  const Prefix& p = blocks_[block];
  auto c = cursors_.find(p);
  if (c == cursors_.end()) {
    cursors_.emplace(p, a);
    return;
  }
  if (a > c->second) {
    c->second = a;
    return;
  }
  Range range = range_of(p);
  U128 last = to_u128(c->second) - range.base;
  U128 taken = U128{used_[block]} + reserved_in_range_[block];
  // Same bound as next_free(): each step past the cursor is an owned or reserved address.
  for (U128 off = last + 1, steps = 0; off >= range.lo && off <= range.hi && steps <= taken;
       ++off, ++steps) {
    IpAddress probe = from_u128(p.family(), range.base + off);
    if (!by_address_.contains(probe) && !reserved_.contains(probe)) return;
  }
  c->second = a;
}

Status Allocator::commit(const Allocation& allocation) {
  const std::string who = key_text(allocation.key);
  if (allocation.addresses.empty()) {
    return make_error(Errc::kInvalidArgument, "allocation for " + who + " has no address");
  }
  std::vector<size_t> owner_blocks;
  bool seen_v4 = false, seen_v6 = false;
  for (const IpAddress& a : allocation.addresses) {
    bool& seen = a.is_v4() ? seen_v4 : seen_v6;
    if (seen) {
      return make_error(Errc::kInvalidArgument, "allocation for " + who + " has two " +
                                                    family_name(a.family()) + " addresses");
    }
    seen = true;
    auto b = block_of(a);
    if (!b) {
      return make_error(Errc::kInvalidArgument,
                        a.to_string() + " (for " + who + ") is outside every Pod block");
    }
    Range range = range_of(blocks_[*b]);
    U128 off = to_u128(a) - range.base;
    if (off < range.lo || off > range.hi) {
      return make_error(Errc::kInvalidArgument, a.to_string() + " (for " + who +
                                                    ") is not assignable in block " +
                                                    blocks_[*b].to_string());
    }
    if (auto owner = by_address_.find(a);
        owner != by_address_.end() && *owner->second != allocation.key) {
      return make_error(Errc::kAlreadyExists,
                        a.to_string() + " is already owned by " + key_text(*owner->second));
    }
    owner_blocks.push_back(*b);
  }

  std::vector<IpAddress> previous;
  if (auto it = by_key_.find(allocation.key); it != by_key_.end()) {
    if (it->second == allocation) return {};  // the same record again: nothing moves
    previous = it->second.addresses;
    account(it->second, -1);
    for (const IpAddress& a : it->second.addresses) by_address_.erase(a);
    by_key_.erase(it);
  }
  Allocation stored = allocation;
  stored.addresses = v4_first(allocation.addresses);
  auto it = by_key_.emplace(stored.key, std::move(stored)).first;
  for (const IpAddress& a : it->second.addresses) by_address_.emplace(a, &it->first);
  account(it->second, +1);
  // Only newly acquired addresses move a cursor: re-committing an old one is no hand-out.
  for (size_t i = 0; i < allocation.addresses.size(); ++i) {
    const IpAddress& a = allocation.addresses[i];
    if (std::find(previous.begin(), previous.end(), a) == previous.end()) {
      advance_cursor(owner_blocks[i], a);
    }
  }
  return {};
}

std::optional<Allocation> Allocator::release(const AttachmentKey& key) {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return std::nullopt;
  account(it->second, -1);
  for (const IpAddress& a : it->second.addresses) by_address_.erase(a);
  Allocation out = std::move(it->second);
  by_key_.erase(it);
  return out;
}

const Allocation* Allocator::find(const AttachmentKey& key) const {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? nullptr : &it->second;
}

std::vector<Allocation> Allocator::allocations() const {
  std::vector<Allocation> out;
  out.reserve(by_key_.size());
  for (const auto& [key, a] : by_key_) out.push_back(a);
  return out;
}

std::vector<AttachmentKey> Allocator::unlisted(const std::set<AttachmentKey>& keep) const {
  std::vector<AttachmentKey> out;
  for (const auto& [key, a] : by_key_) {
    if (!keep.contains(key)) out.push_back(key);
  }
  return out;
}

std::vector<BlockUsage> Allocator::usage() const {
  std::vector<BlockUsage> out;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    U128 size = range_of(blocks_[i]).size();
    U128 reserved = reserved_in_range_[i];
    out.push_back({blocks_[i], cap64(size > reserved ? size - reserved : 0), used_[i]});
  }
  return out;
}

std::optional<IpAddress> Allocator::cursor(const Prefix& block) const {
  auto it = cursors_.find(block);
  if (it == cursors_.end()) return std::nullopt;
  return it->second;
}

void Allocator::set_cursor(const Prefix& block, const IpAddress& last) {
  if (std::find(blocks_.begin(), blocks_.end(), block) == blocks_.end()) return;
  if (!block.contains(last)) return;
  cursors_[block] = last;
}

}  // namespace tern::ipam
