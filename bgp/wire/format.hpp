// Human-readable forms of wire values, for logs, `ternctl` and test failure messages.
// Spelled as operators know them from FRR and BIRD: "65001 {65002,65003}", "no-export",
// "65000:1:2", "rt 65000:100".
#pragma once

#include <string>

#include "bgp/wire/message.hpp"

namespace tern::bgp::wire {

std::string family_name(AddressFamily f);  // "ipv4-unicast"
std::string origin_name(Origin o);         // "igp", "egp", "incomplete"
std::string to_string(const AsPath& path);  // sets in {}, confed sequences in (), confed sets in []
std::string community_to_string(uint32_t c);
std::string large_community_to_string(const LargeCommunity& c);
std::string extended_community_to_string(uint64_t c);
std::string bgp_id_to_string(uint32_t id);  // dotted quad
std::string to_string(const Capabilities& caps);
std::string to_string(const PathAttributes& attrs);  // "origin igp as-path 65001 next-hop ..."
std::string notification_to_string(uint8_t code, uint8_t subcode, const std::vector<uint8_t>& data);
// One line per message: "UPDATE announce 2 withdraw 0 origin igp as-path 65001 ..."
std::string describe(const Message& m);

}  // namespace tern::bgp::wire
