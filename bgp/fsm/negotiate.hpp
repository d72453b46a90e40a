// OPEN negotiation (RFC 4271 §6.2, RFC 5492, RFC 6793, RFC 6286): the OPEN tern sends, and
// what is agreed when the peer's arrives — or the NOTIFICATION that refuses it. Pure.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "bgp/wire/codec.hpp"
#include "bgp/wire/message.hpp"

namespace tern::bgp::fsm {

// What the local speaker offers one peer.
struct LocalOffer {
  wire::Asn asn = 0;
  uint32_t bgp_id = 0;  // host order
  uint16_t hold_time = 90;
  std::vector<wire::AddressFamily> families{wire::kIpv4Unicast};
  bool extended_message = false;
  std::vector<wire::AddPathFamily> add_path;           // what we can send/receive
  std::vector<wire::ExtendedNextHop> extended_next_hop;  // e.g. IPv4 NLRI over IPv6 next hops
  std::optional<wire::GracefulRestart> graceful_restart;
  std::optional<wire::Fqdn> fqdn;
  friend bool operator==(const LocalOffer&, const LocalOffer&) = default;
};

// Who the peer must be.
struct PeerExpectation {
  std::optional<wire::Asn> remote_as;  // nullopt: any AS (a dynamic neighbour's template may allow that)
  bool internal = false;               // iBGP: the peer's AS is ours
  friend bool operator==(const PeerExpectation&, const PeerExpectation&) = default;
};

struct Negotiated {
  wire::Asn peer_as = 0;
  uint32_t peer_id = 0;
  uint16_t hold_time = 0;  // min of both; 0: no keepalives
  std::vector<wire::AddressFamily> families;  // both sides offered them
  bool four_octet_as = false;  // RFC 6793: both sides have the capability (tern always offers it)
  bool route_refresh = false;
  bool enhanced_route_refresh = false;
  bool extended_message = false;
  std::vector<wire::AddressFamily> add_path_receive;  // we receive path identifiers for these
  std::vector<wire::AddressFamily> add_path_send;     // we send them for these
  bool extended_next_hop = false;                     // IPv4 NLRI over an IPv6 next hop, both ways
  std::optional<wire::GracefulRestart> peer_graceful_restart;
  std::string peer_hostname;  // from the FQDN capability, for the operator's view

  // How to decode what the peer sends, and encode what we send it.
  wire::Context decode_context(bool ebgp) const;
  wire::Context encode_context(bool ebgp) const;
};

// Our OPEN. A 4-octet AS goes in the capability, AS_TRANS in the 2-octet field (RFC 6793).
wire::Open make_open(const LocalOffer& local);

// Checks the peer's OPEN against what we expect and agrees on the session's parameters;
// on refusal, the NOTIFICATION to send (with its reason for the log).
std::variant<Negotiated, wire::DecodeError> negotiate(const LocalOffer& local, const PeerExpectation& expect,
                                                      const wire::Open& peer);

}  // namespace tern::bgp::fsm
