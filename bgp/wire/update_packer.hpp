// Packs many prefixes into as few UPDATEs as the negotiated maximum size allows: one
// attribute set, encoded once, shared by every message (RFC 4271 §9.2: "a BGP speaker
// may advertise multiple routes with the same attributes in one UPDATE").
#pragma once

#include <span>
#include <vector>

#include "bgp/wire/codec.hpp"

namespace tern::bgp::wire {

// UPDATEs announcing `prefixes` of `family` with `attrs`. IPv4 unicast prefixes go in the
// NLRI field (with attrs.next_hop); every other family goes in MP_REACH_NLRI, whose next
// hop comes from attrs.mp_reach (its nlri is ignored). Each message is appended to `out`.
void pack_announcements(const PathAttributes& attrs, std::span<const Nlri> prefixes, AddressFamily family,
                        const Context& ctx, std::vector<std::vector<uint8_t>>& out);

// UPDATEs withdrawing `prefixes`: the Withdrawn Routes field for IPv4 unicast,
// MP_UNREACH_NLRI otherwise.
void pack_withdrawals(std::span<const Nlri> prefixes, AddressFamily family, const Context& ctx,
                      std::vector<std::vector<uint8_t>>& out);

}  // namespace tern::bgp::wire
