// The five BGP messages as value types.
#pragma once

#include <optional>
#include <variant>
#include <vector>

#include "bgp/wire/attributes.hpp"
#include "bgp/wire/capability.hpp"
#include "bgp/wire/types.hpp"

namespace tern::bgp::wire {

struct Open {
  uint8_t version = 4;
  uint16_t my_as = 0;  // the 2-octet field: AS_TRANS when the AS needs 4 octets
  uint16_t hold_time = 0;
  uint32_t bgp_identifier = 0;  // host order
  Capabilities capabilities;

  // The speaker's AS: the 4-octet AS capability when present (RFC 6793 §3).
  Asn asn() const { return capabilities.four_octet_as.value_or(my_as); }
  friend bool operator==(const Open&, const Open&) = default;
};

struct Update {
  std::vector<Nlri> withdrawn;  // IPv4 unicast, Withdrawn Routes field
  PathAttributes attributes;
  std::vector<Nlri> nlri;  // IPv4 unicast, NLRI field
  friend bool operator==(const Update&, const Update&) = default;
};

struct Notification {
  uint8_t code = 0;
  uint8_t subcode = 0;
  std::vector<uint8_t> data;
  friend bool operator==(const Notification&, const Notification&) = default;
};

struct Keepalive {
  friend bool operator==(const Keepalive&, const Keepalive&) = default;
};

// RFC 2918; subtype from RFC 7313 (0 normal request, 1 BoRR, 2 EoRR). Other subtypes are
// kept as they came: RFC 7313 §4 says the receiver ignores such a message.
struct RouteRefresh {
  enum Subtype : uint8_t { kRequest = 0, kBeginning = 1, kEnd = 2 };
  AddressFamily family = kIpv4Unicast;
  uint8_t subtype = kRequest;
  friend bool operator==(const RouteRefresh&, const RouteRefresh&) = default;
};

using Message = std::variant<Open, Update, Notification, Keepalive, RouteRefresh>;

MessageType type_of(const Message& m);

// End-of-RIB (RFC 4724 §2): for IPv4 unicast an empty UPDATE, for other families an UPDATE
// holding only an empty MP_UNREACH_NLRI.
std::optional<AddressFamily> end_of_rib(const Update& u);
Update end_of_rib_marker(AddressFamily family);

}  // namespace tern::bgp::wire
