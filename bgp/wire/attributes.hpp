// Path attributes of an UPDATE (RFC 4271 §5 and the RFCs that add attributes), decoded
// into typed fields. AS4_PATH and AS4_AGGREGATOR never appear here: the decoder merges
// them into as_path and aggregator (RFC 6793 §4.2.3) and the encoder recreates them for
// 2-octet peers, so the rest of tern sees one 4-octet AS path.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "bgp/wire/types.hpp"
#include "common/ip.hpp"

namespace tern::bgp::wire {

enum class AttributeType : uint8_t {
  kOrigin = 1,
  kAsPath = 2,
  kNextHop = 3,
  kMultiExitDisc = 4,
  kLocalPref = 5,
  kAtomicAggregate = 6,
  kAggregator = 7,
  kCommunities = 8,         // RFC 1997
  kOriginatorId = 9,        // RFC 4456
  kClusterList = 10,        // RFC 4456
  kMpReachNlri = 14,        // RFC 4760
  kMpUnreachNlri = 15,      // RFC 4760
  kExtendedCommunities = 16,  // RFC 4360
  kAs4Path = 17,            // RFC 6793
  kAs4Aggregator = 18,      // RFC 6793
  kLargeCommunity = 32,     // RFC 8092
};

namespace attr_flag {
inline constexpr uint8_t kOptional = 0x80;
inline constexpr uint8_t kTransitive = 0x40;
inline constexpr uint8_t kPartial = 0x20;
inline constexpr uint8_t kExtendedLength = 0x10;
}  // namespace attr_flag

enum class Origin : uint8_t { kIgp = 0, kEgp = 1, kIncomplete = 2 };

enum class AsSegmentType : uint8_t {
  kSet = 1,
  kSequence = 2,
  kConfedSequence = 3,  // RFC 5065
  kConfedSet = 4,
};

struct AsSegment {
  AsSegmentType type = AsSegmentType::kSequence;
  std::vector<Asn> asns;
  friend bool operator==(const AsSegment&, const AsSegment&) = default;
};

struct AsPath {
  std::vector<AsSegment> segments;

  // RFC 4271 §9.1.2.2 (a): a set counts as one, confederation segments as none (RFC 5065).
  size_t length() const;
  // The AS the route came from (first AS of the first AS_SEQUENCE), 0 if none.
  Asn neighbor_as() const;
  bool contains(Asn asn) const;
  friend bool operator==(const AsPath&, const AsPath&) = default;
};

struct Aggregator {
  Asn asn = 0;
  IpAddress address;  // IPv4
  friend bool operator==(const Aggregator&, const Aggregator&) = default;
};

// One prefix of an NLRI field, with its ADD-PATH path identifier (RFC 7911; 0 without).
struct Nlri {
  Prefix prefix;
  uint32_t path_id = 0;
  friend bool operator==(const Nlri&, const Nlri&) = default;
};

struct MpReach {
  AddressFamily family = kIpv6Unicast;
  IpAddress next_hop;                    // global (RFC 2545) or IPv4
  std::optional<IpAddress> link_local;   // the second address of a 32-octet IPv6 next hop
  std::vector<Nlri> nlri;
  friend bool operator==(const MpReach&, const MpReach&) = default;
};

struct MpUnreach {
  AddressFamily family = kIpv6Unicast;
  std::vector<Nlri> withdrawn;
  friend bool operator==(const MpUnreach&, const MpUnreach&) = default;
};

// RFC 1997 well-known communities.
namespace community {
inline constexpr uint32_t kGracefulShutdown = 0xffff0000;  // RFC 8326
inline constexpr uint32_t kBlackhole = 0xffff029a;         // RFC 7999
inline constexpr uint32_t kNoExport = 0xffffff01;
inline constexpr uint32_t kNoAdvertise = 0xffffff02;
inline constexpr uint32_t kNoExportSubconfed = 0xffffff03;
inline constexpr uint32_t kNoPeer = 0xffffff04;  // RFC 3765
}  // namespace community

struct LargeCommunity {  // RFC 8092
  uint32_t global_admin = 0;
  uint32_t local1 = 0;
  uint32_t local2 = 0;
  friend auto operator<=>(const LargeCommunity&, const LargeCommunity&) = default;
};

// An attribute tern does not interpret: optional transitive ones are passed on with the
// Partial bit set (RFC 4271 §5); the flags are kept without the Extended Length bit,
// which the encoder chooses.
struct RawAttribute {
  uint8_t flags = 0;
  uint8_t type = 0;
  std::vector<uint8_t> value;
  friend bool operator==(const RawAttribute&, const RawAttribute&) = default;
};

struct PathAttributes {
  std::optional<Origin> origin;
  std::optional<AsPath> as_path;
  std::optional<IpAddress> next_hop;  // IPv4 NEXT_HOP attribute
  std::optional<uint32_t> med;
  std::optional<uint32_t> local_pref;
  bool atomic_aggregate = false;
  std::optional<Aggregator> aggregator;
  std::vector<uint32_t> communities;
  std::optional<uint32_t> originator_id;
  std::vector<uint32_t> cluster_list;
  std::optional<MpReach> mp_reach;
  std::optional<MpUnreach> mp_unreach;
  std::vector<uint64_t> extended_communities;  // RFC 4360, as 8 octets big-endian
  std::vector<LargeCommunity> large_communities;
  std::vector<RawAttribute> unknown;
  friend bool operator==(const PathAttributes&, const PathAttributes&) = default;
};

}  // namespace tern::bgp::wire
