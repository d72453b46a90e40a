// Basic BGP wire types: AS numbers, address families, message types.
#pragma once

#include <compare>
#include <cstdint>

namespace tern::bgp::wire {

using Asn = uint32_t;                   // 4-octet everywhere (RFC 6793)
inline constexpr Asn kAsTrans = 23456;  // RFC 6793 §9: stands in for a 4-octet AS in 2-octet fields

inline constexpr size_t kHeaderSize = 19;
inline constexpr size_t kMaxMessageSize = 4096;           // RFC 4271 §4.1
inline constexpr size_t kMaxExtendedMessageSize = 65535;  // RFC 8654

enum class MessageType : uint8_t {
  kOpen = 1,
  kUpdate = 2,
  kNotification = 3,
  kKeepalive = 4,
  kRouteRefresh = 5,  // RFC 2918
};

enum class Afi : uint16_t { kIpv4 = 1, kIpv6 = 2 };
enum class Safi : uint8_t { kUnicast = 1, kMulticast = 2 };

struct AddressFamily {
  Afi afi = Afi::kIpv4;
  Safi safi = Safi::kUnicast;
  friend auto operator<=>(const AddressFamily&, const AddressFamily&) = default;
};

inline constexpr AddressFamily kIpv4Unicast{Afi::kIpv4, Safi::kUnicast};
inline constexpr AddressFamily kIpv6Unicast{Afi::kIpv6, Safi::kUnicast};

}  // namespace tern::bgp::wire
