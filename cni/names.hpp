// The names the CNI plugins give to what they make, shared with ternd's IPAM service,
// which shows each Pod's host end (`ternctl ipam`).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace tern::cni {

// FNV-1a: a stable short name for an attachment (host veth names, spool files), the same
// in every plugin run and every tern version.
inline uint64_t stable_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (char c : text) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return h;
}

// The node's end of an attachment's veth pair: stable for the attachment (a retried ADD,
// every DEL and GC find it) and within IFNAMSIZ. 44 bits of the hash of
// "container/ifname", as 11 hex digits after "tern".
inline std::string host_ifname(const std::string& container_id, const std::string& ifname) {
  uint64_t h = stable_hash(container_id + "/" + ifname);
  char name[16];
  std::snprintf(name, sizeof name, "tern%011llx", static_cast<unsigned long long>(h >> 20));
  return name;
}

// Whether a link name is one host_ifname() gives.
inline bool is_host_ifname(const std::string& name) {
  return name.size() == 15 && name.rfind("tern", 0) == 0 &&
         name.find_first_not_of("0123456789abcdef", 4) == std::string::npos;
}

}  // namespace tern::cni
