// tern's route protocol number (rtm_protocol): every route tern writes carries it, and tern
// only ever changes routes that do. 77 is named by no one: iproute2's rt_protos stops at
// 99 (openr) with gaps, FRR takes 186-197 (196 is its staticd's), BIRD 12, Calico 80.
// Configurable (routing.protocol, and routeProtocol in the CNI config).
#pragma once

#include <cstdint>

namespace tern::routing {

inline constexpr uint8_t kTernProtocol = 77;

}  // namespace tern::routing
