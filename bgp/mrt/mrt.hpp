// Reading and writing MRT files (RFC 6396, with the ADD-PATH subtypes of RFC 8050):
// TABLE_DUMP_V2 (PEER_INDEX_TABLE, RIB_IPV4/IPV6_UNICAST) and BGP4MP / BGP4MP_ET
// (MESSAGE, MESSAGE_AS4 and their LOCAL/ADDPATH forms, STATE_CHANGE, STATE_CHANGE_AS4),
// as FRR (`dump bgp`), BIRD (`protocol mrt`) and GoBGP (`mrt-dump`) write them.
// Pure: bytes in, records out; the BGP parts decode through bgp/wire.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "bgp/wire/codec.hpp"
#include "common/ip.hpp"
#include "common/result.hpp"

namespace tern::bgp::mrt {

enum class Type : uint16_t { kTableDump = 12, kTableDumpV2 = 13, kBgp4mp = 16, kBgp4mpEt = 17 };

namespace table_dump_v2 {
inline constexpr uint16_t kPeerIndexTable = 1;
inline constexpr uint16_t kRibIpv4Unicast = 2;
inline constexpr uint16_t kRibIpv6Unicast = 4;
inline constexpr uint16_t kRibIpv4UnicastAddPath = 8;   // RFC 8050
inline constexpr uint16_t kRibIpv6UnicastAddPath = 10;  // RFC 8050
}  // namespace table_dump_v2

namespace bgp4mp {
inline constexpr uint16_t kStateChange = 0;
inline constexpr uint16_t kMessage = 1;
inline constexpr uint16_t kMessageAs4 = 4;
inline constexpr uint16_t kStateChangeAs4 = 5;
inline constexpr uint16_t kMessageLocal = 6;
inline constexpr uint16_t kMessageAs4Local = 7;
inline constexpr uint16_t kMessageAddPath = 8;  // RFC 8050, through 11
inline constexpr uint16_t kMessageAs4AddPath = 9;
inline constexpr uint16_t kMessageLocalAddPath = 10;
inline constexpr uint16_t kMessageAs4LocalAddPath = 11;
}  // namespace bgp4mp

struct Peer {
  uint32_t bgp_id = 0;
  IpAddress address;
  wire::Asn asn = 0;
  friend bool operator==(const Peer&, const Peer&) = default;
};

struct PeerIndexTable {
  uint32_t collector_id = 0;
  std::string view_name;
  std::vector<Peer> peers;
  friend bool operator==(const PeerIndexTable&, const PeerIndexTable&) = default;
};

struct RibEntry {
  uint16_t peer_index = 0;
  uint32_t originated = 0;  // seconds since the epoch
  uint32_t path_id = 0;     // ADD-PATH subtypes only
  wire::PathAttributes attributes;
  wire::Verdict verdict = wire::Verdict::kAccepted;  // RFC 7606, as for an UPDATE
  friend bool operator==(const RibEntry&, const RibEntry&) = default;
};

struct Rib {
  uint32_t sequence = 0;
  Prefix prefix;
  std::vector<RibEntry> entries;
  friend bool operator==(const Rib&, const Rib&) = default;
};

// A BGP message as a speaker sent or received it.
struct Bgp4mpMessage {
  wire::Asn peer_as = 0;
  wire::Asn local_as = 0;
  uint16_t interface_index = 0;
  IpAddress peer_address;
  IpAddress local_address;
  bool local = false;  // *_LOCAL subtypes: sent by the dumping speaker
  std::vector<uint8_t> bytes;  // the message, header included
  wire::Context context;       // how `bytes` decodes (4-octet AS, ADD-PATH)
};

// RFC 4271 FSM states, 1 (Idle) to 6 (Established).
struct StateChange {
  wire::Asn peer_as = 0;
  wire::Asn local_as = 0;
  IpAddress peer_address;
  IpAddress local_address;
  uint16_t old_state = 0;
  uint16_t new_state = 0;
};

// A record of a type tern does not read (TABLE_DUMP v1, OSPF, ...): skipped, not an error.
struct Unsupported {};

struct Record {
  uint32_t timestamp = 0;
  uint32_t microseconds = 0;  // _ET types
  uint16_t type = 0;
  uint16_t subtype = 0;
  size_t offset = 0;  // of the record in the file
  std::variant<PeerIndexTable, Rib, Bgp4mpMessage, StateChange, Unsupported> body;
};

std::string_view state_name(uint16_t state);  // "Idle" ... "Established"

// Walks the records of a file in memory. After an error next() keeps answering it: the
// rest of a damaged file cannot be trusted.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  // The next record, nullopt at the end, or an error naming the record's offset.
  std::optional<Result<Record>> next();

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  std::optional<Error> failed_;
};

// Writes a TABLE_DUMP_V2 dump: a PEER_INDEX_TABLE, then one RIB record per prefix
// (sequence numbers from 0), IPv4 and IPv6 unicast, as RFC 6396 §4.3 lays them out.
std::vector<uint8_t> write_table_dump(uint32_t timestamp, const PeerIndexTable& peers, const std::vector<Rib>& ribs);

// Appends one BGP4MP MESSAGE_AS4 record (MESSAGE_AS4_LOCAL when m.local) carrying m.bytes.
void write_bgp4mp_message(uint32_t timestamp, const Bgp4mpMessage& m, std::vector<uint8_t>& out);

}  // namespace tern::bgp::mrt
