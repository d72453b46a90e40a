// Kernel parameters under /proc/sys. The kernel resolves /proc/sys/net in the network
// namespace of the thread that opens the file, so these act in the current namespace.
#pragma once

#include <string>
#include <string_view>

#include "common/ip.hpp"
#include "common/result.hpp"

namespace tern::routing::link {

// `relative` is a path below /proc/sys, e.g. "net/ipv4/ip_forward".
Status write_sysctl(const std::string& relative, std::string_view value);
Result<std::string> read_sysctl(const std::string& relative);  // without the trailing newline

// "net/ipv4/conf/<ifname>/<knob>" or "net/ipv6/conf/<ifname>/<knob>". The name is a path
// segment, never dotted (interface names may contain dots: "eth0.100").
std::string conf_path(Family family, const std::string& ifname, const std::string& knob);
// "net/ipv4/neigh/<ifname>/<knob>" (e.g. proxy_delay).
std::string neigh_path(Family family, const std::string& ifname, const std::string& knob);

}  // namespace tern::routing::link
