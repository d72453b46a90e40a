// BGP capabilities (RFC 5492) carried in OPEN: every one tern negotiates, the ones it
// only parses, and unknown ones kept as bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "bgp/wire/notification.hpp"
#include "bgp/wire/types.hpp"

namespace tern::bgp::wire {

enum class CapabilityCode : uint8_t {
  kMultiprotocol = 1,           // RFC 4760
  kRouteRefresh = 2,            // RFC 2918
  kExtendedNextHop = 5,         // RFC 8950
  kExtendedMessage = 6,         // RFC 8654
  kGracefulRestart = 64,        // RFC 4724
  kFourOctetAs = 65,            // RFC 6793
  kAddPath = 69,                // RFC 7911
  kEnhancedRouteRefresh = 70,   // RFC 7313
  kLongLivedGracefulRestart = 71,  // RFC 9494
  kFqdn = 73,                   // draft-walton-bgp-hostname-capability
};

struct GracefulRestart {
  struct Family {
    AddressFamily family;
    bool forwarding_preserved = false;  // F bit
    friend bool operator==(const Family&, const Family&) = default;
  };
  bool restarting = false;    // R bit: the speaker has restarted
  bool notification = false;  // N bit: RFC 8538 graceful NOTIFICATION support
  uint16_t restart_time = 0;  // seconds, 12 bits
  std::vector<Family> families;
  friend bool operator==(const GracefulRestart&, const GracefulRestart&) = default;
};

struct LongLivedGracefulRestartFamily {
  AddressFamily family;
  uint8_t flags = 0;        // F bit (0x80): forwarding preserved
  uint32_t stale_time = 0;  // seconds, 24 bits
  friend bool operator==(const LongLivedGracefulRestartFamily&, const LongLivedGracefulRestartFamily&) = default;
};

enum class AddPathMode : uint8_t { kReceive = 1, kSend = 2, kBoth = 3 };

struct AddPathFamily {
  AddressFamily family;
  AddPathMode mode = AddPathMode::kReceive;
  friend bool operator==(const AddPathFamily&, const AddPathFamily&) = default;
};

// RFC 8950: NLRI of `family` may carry a next hop of `next_hop_afi`.
struct ExtendedNextHop {
  Afi nlri_afi = Afi::kIpv4;
  uint16_t nlri_safi = 1;  // two octets here, unlike everywhere else
  Afi next_hop_afi = Afi::kIpv6;
  friend bool operator==(const ExtendedNextHop&, const ExtendedNextHop&) = default;
};

struct Fqdn {
  std::string hostname;
  std::string domain;
  friend bool operator==(const Fqdn&, const Fqdn&) = default;
};

struct UnknownCapability {
  uint8_t code = 0;
  std::vector<uint8_t> value;
  friend bool operator==(const UnknownCapability&, const UnknownCapability&) = default;
};

struct Capabilities {
  std::vector<AddressFamily> multiprotocol;
  bool route_refresh = false;
  bool enhanced_route_refresh = false;
  bool extended_message = false;
  std::optional<Asn> four_octet_as;
  std::optional<GracefulRestart> graceful_restart;
  std::optional<std::vector<LongLivedGracefulRestartFamily>> long_lived_graceful_restart;
  std::vector<AddPathFamily> add_path;
  std::vector<ExtendedNextHop> extended_next_hop;
  std::optional<Fqdn> fqdn;
  std::vector<UnknownCapability> unknown;  // kept in order, passed to the operator's view
  friend bool operator==(const Capabilities&, const Capabilities&) = default;
};

// Decodes the capabilities of one Capabilities Optional Parameter into `caps` (several
// parameters accumulate). A malformed capability is an OPEN Message Error.
std::optional<DecodeError> decode_capabilities(std::span<const uint8_t> bytes, Capabilities& caps);

// Encodes each present capability as code, length, value.
void encode_capabilities(const Capabilities& caps, std::vector<uint8_t>& out);

}  // namespace tern::bgp::wire
