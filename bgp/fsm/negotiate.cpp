#include "bgp/fsm/negotiate.hpp"

#include <algorithm>

#include "bgp/wire/format.hpp"

namespace tern::bgp::fsm {

namespace {

wire::DecodeError open_error(uint8_t subcode, std::vector<uint8_t> data, std::string reason) {
  return {static_cast<uint8_t>(wire::ErrorCode::kOpenMessage), subcode, std::move(data), std::move(reason)};
}

bool contains(const std::vector<wire::AddressFamily>& v, wire::AddressFamily f) {
  return std::find(v.begin(), v.end(), f) != v.end();
}

bool can(const std::vector<wire::AddPathFamily>& v, wire::AddressFamily f, wire::AddPathMode mode) {
  return std::any_of(v.begin(), v.end(), [&](const wire::AddPathFamily& a) {
    return a.family == f && (a.mode == mode || a.mode == wire::AddPathMode::kBoth);
  });
}

}  // namespace

wire::Open make_open(const LocalOffer& local) {
  wire::Open o;
  o.my_as = local.asn > 0xffff ? static_cast<uint16_t>(wire::kAsTrans) : static_cast<uint16_t>(local.asn);
  o.hold_time = local.hold_time;
  o.bgp_identifier = local.bgp_id;
  auto& c = o.capabilities;
  c.multiprotocol = local.families;
  c.route_refresh = true;
  // Not enhanced route refresh (RFC 7313): tern neither sends BoRR/EoRR around its answer
  // nor sweeps stale routes at a peer's EoRR, so it must not offer it. (Offering it also
  // made FRR 8.4 hold back its answer to tern's refresh until it had sent End-of-RIB.)
  c.enhanced_route_refresh = false;
  c.four_octet_as = local.asn;
  c.extended_message = local.extended_message;
  c.add_path = local.add_path;
  c.extended_next_hop = local.extended_next_hop;
  c.graceful_restart = local.graceful_restart;
  c.fqdn = local.fqdn;
  return o;
}

std::variant<Negotiated, wire::DecodeError> negotiate(const LocalOffer& local, const PeerExpectation& expect,
                                                      const wire::Open& peer) {
  const auto& caps = peer.capabilities;
  wire::Asn peer_as = peer.asn();
  std::vector<uint8_t> as_field{static_cast<uint8_t>(peer.my_as >> 8), static_cast<uint8_t>(peer.my_as)};
  // RFC 6793 §4.1: AS_TRANS in My Autonomous System without the capability is no AS at all.
  if (peer.my_as == wire::kAsTrans && !caps.four_octet_as) {
    return open_error(wire::open_error::kBadPeerAs, as_field, "peer sent AS_TRANS without the 4-octet AS capability");
  }
  if (expect.remote_as && peer_as != *expect.remote_as) {
    return open_error(wire::open_error::kBadPeerAs, as_field,
                      "peer AS " + std::to_string(peer_as) + ", expected " + std::to_string(*expect.remote_as));
  }
  if (expect.internal && peer_as != local.asn) {
    return open_error(wire::open_error::kBadPeerAs, as_field,
                      "peer AS " + std::to_string(peer_as) + " on an internal session of AS " + std::to_string(local.asn));
  }
  // RFC 6286 §2.2: zero is never valid; our own identifier is not valid from an internal peer.
  if (peer.bgp_identifier == 0 || (peer.bgp_identifier == local.bgp_id && peer_as == local.asn)) {
    return open_error(wire::open_error::kBadBgpIdentifier, {},
                      "peer BGP identifier " + wire::bgp_id_to_string(peer.bgp_identifier) +
                          (peer.bgp_identifier ? " is ours" : ""));
  }
  if (peer.hold_time == 1 || peer.hold_time == 2) {
    return open_error(wire::open_error::kUnacceptableHoldTime, {},
                      "hold time " + std::to_string(peer.hold_time) + " s");
  }

  Negotiated n;
  n.peer_as = peer_as;
  n.peer_id = peer.bgp_identifier;
  n.hold_time = std::min(local.hold_time, peer.hold_time);
  // RFC 4760 §8: a speaker without the multiprotocol capability does IPv4 unicast only.
  std::vector<wire::AddressFamily> theirs = caps.multiprotocol;
  if (theirs.empty()) theirs.push_back(wire::kIpv4Unicast);
  for (auto f : local.families) {
    if (contains(theirs, f)) n.families.push_back(f);
  }
  if (n.families.empty()) {
    // RFC 5492 §3: Unsupported Capability, with the capabilities we needed as data.
    wire::Capabilities ours;
    ours.multiprotocol = local.families;
    std::vector<uint8_t> data;
    wire::encode_capabilities(ours, data);
    return open_error(wire::open_error::kUnsupportedCapability, data,
                      "no address family in common (peer offers " + wire::to_string(caps) + ")");
  }
  n.four_octet_as = caps.four_octet_as.has_value();
  n.route_refresh = caps.route_refresh;
  n.enhanced_route_refresh = false;  // not offered (make_open)
  n.extended_message = local.extended_message && caps.extended_message;
  for (auto f : n.families) {
    // RFC 7911 §4: we receive path identifiers where we can receive and the peer can send.
    if (can(local.add_path, f, wire::AddPathMode::kReceive) && can(caps.add_path, f, wire::AddPathMode::kSend)) {
      n.add_path_receive.push_back(f);
    }
    if (can(local.add_path, f, wire::AddPathMode::kSend) && can(caps.add_path, f, wire::AddPathMode::kReceive)) {
      n.add_path_send.push_back(f);
    }
  }
  for (const auto& e : local.extended_next_hop) {
    if (std::find(caps.extended_next_hop.begin(), caps.extended_next_hop.end(), e) != caps.extended_next_hop.end()) {
      n.extended_next_hop = true;
    }
  }
  n.peer_graceful_restart = caps.graceful_restart;
  if (caps.fqdn) n.peer_hostname = caps.fqdn->hostname;
  return n;
}

wire::Context Negotiated::decode_context(bool ebgp) const {
  wire::Context c;
  c.four_octet_as = four_octet_as;
  c.ebgp = ebgp;
  c.add_path_ipv4 = contains(add_path_receive, wire::kIpv4Unicast);
  c.add_path_ipv6 = contains(add_path_receive, wire::kIpv6Unicast);
  c.extended_message = extended_message;
  c.extended_next_hop = extended_next_hop;
  return c;
}

wire::Context Negotiated::encode_context(bool ebgp) const {
  wire::Context c = decode_context(ebgp);
  c.add_path_ipv4 = contains(add_path_send, wire::kIpv4Unicast);
  c.add_path_ipv6 = contains(add_path_send, wire::kIpv6Unicast);
  return c;
}

}  // namespace tern::bgp::fsm
