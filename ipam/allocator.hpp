// tern::ipam::Allocator: hands out Pod addresses from the node's Pod CIDRs.
// Pure: no I/O, no clock (the caller passes the time), no logging. Owned by ternd's io
// thread; not thread-safe. Persistence is the Journal's job (journal.hpp): the caller
// plans, appends the plan to the journal, and only then commits it here.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/ip.hpp"
#include "common/result.hpp"

namespace tern::ipam {

struct AttachmentKey {  // one Pod interface, as CNI names it
  std::string container_id;
  std::string ifname;
  friend auto operator<=>(const AttachmentKey&, const AttachmentKey&) = default;
  friend bool operator==(const AttachmentKey&, const AttachmentKey&) = default;
};

struct Allocation {
  AttachmentKey key;
  std::string pod_namespace, pod_name;  // for display only (from CNI_ARGS)
  std::vector<IpAddress> addresses;     // at most one per family, IPv4 first
  uint64_t created_unix = 0;            // seconds since epoch, set by the caller
  friend bool operator==(const Allocation&, const Allocation&) = default;
};

// capacity: allocatable addresses (skipped and reserved ones excluded; capped at UINT64_MAX).
struct BlockUsage {
  Prefix block;
  uint64_t capacity = 0;
  uint64_t used = 0;
};

class Allocator {
 public:
  // blocks: the node's Pod CIDRs (IPv4 and/or IPv6), expected disjoint (an address belongs
  // to the first block that contains it). reserved: addresses never handed out.
  Allocator(std::vector<Prefix> blocks, std::vector<IpAddress> reserved);
  // A copy rebuilds the address index, which points into its own key map; a move keeps
  // the map's nodes, so the default is right.
  Allocator(const Allocator& other);
  Allocator& operator=(const Allocator& other);
  Allocator(Allocator&&) noexcept = default;
  Allocator& operator=(Allocator&&) noexcept = default;

  // Picks one address from each requested family (the first block of that family with
  // room), without changing state.
  // The same key already allocated: returns the existing allocation unchanged (CNI ADD
  // retried). A family with no block: Errc::kInvalidArgument; every block of a family
  // full: Errc::kUnavailable ("block X is full").
  Result<Allocation> plan(const AttachmentKey& key, const std::vector<Family>& families,
                          std::string pod_namespace, std::string pod_name, uint64_t now_unix) const;

  // Records an allocation (from plan(), or replayed from the journal). Refuses
  // (kAlreadyExists) an address already owned by another key, and (kInvalidArgument) an
  // address outside every block or one a block never hands out (network, broadcast,
  // subnet-router anycast); a key already present is replaced. Addresses are stored IPv4
  // first.
  Status commit(const Allocation& allocation);

  // Forgets the key; returns what it held (nullopt: nothing — DEL is idempotent).
  std::optional<Allocation> release(const AttachmentKey& key);

  const Allocation* find(const AttachmentKey& key) const;
  std::vector<Allocation> allocations() const;  // sorted by key

  // Keys of every allocation not in `keep` (CNI GC), which the caller then releases.
  std::vector<AttachmentKey> unlisted(const std::set<AttachmentKey>& keep) const;

  std::vector<BlockUsage> usage() const;

  // Round-robin cursor per block: the last address handed out in it; restored from the
  // journal. set_cursor ignores a block that is not ours or an address outside it.
  std::optional<IpAddress> cursor(const Prefix& block) const;
  void set_cursor(const Prefix& block, const IpAddress& last);

  const std::vector<Prefix>& blocks() const { return blocks_; }

 private:
  std::optional<size_t> block_of(const IpAddress& a) const;
  bool counts_as_used(size_t block, const IpAddress& a) const;
  std::optional<IpAddress> next_free(size_t block) const;
  void account(const Allocation& allocation, int delta);
  void advance_cursor(size_t block, const IpAddress& a);
  void rebuild_index();

  std::vector<Prefix> blocks_;
  std::set<IpAddress> reserved_;
  std::vector<uint64_t> reserved_in_range_;  // per block: reserved addresses it could hand out
  std::vector<uint64_t> used_;               // per block: owned addresses it could hand out
  std::map<Prefix, IpAddress> cursors_;
  std::map<AttachmentKey, Allocation> by_key_;
  // Points at the key inside by_key_'s node (stable until that node is erased).
  std::unordered_map<IpAddress, const AttachmentKey*> by_address_;
};

}  // namespace tern::ipam
