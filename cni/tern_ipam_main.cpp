// tern-ipam: the CNI IPAM plugin that asks ternd for a Pod's addresses.
//
// It holds no state of its own: ternd allocates from the node's blocks and keeps every
// allocation durable before it answers. When ternd is down, ADD fails with "try again
// later" (11) and DEL writes the release to a spool directory that ternd applies when it
// starts, so a Pod deleted meanwhile leaks no address.
//
//   "ipam": {"type": "tern-ipam", "socket": "/run/tern/ternd.sock",
//            "spoolDir": "/var/lib/tern/release-spool", "families": ["ipv4", "ipv6"]}
#include "cni/ipam_client.hpp"
#include "cni/plugin.hpp"
#include "cni/spec.hpp"

namespace tern::cni {
namespace {

std::string handle(const Environment& env, const std::string& stdin_text, std::string* version) {
  auto net = parse_netconf(stdin_text, env.command);
  *version = net.cni_version;
  auto conf = ipam::parse_conf(net);
  switch (env.command) {
    case Command::kAdd: return to_json(ipam::add(conf, env), net.cni_version).dump() + '\n';
    case Command::kDel: ipam::del(conf, env); break;
    case Command::kCheck: ipam::check(conf, env, *net.prev_result); break;
    case Command::kStatus: ipam::status(conf); break;
    case Command::kGc: ipam::gc(conf, net.valid_attachments); break;
    case Command::kVersion: break;
  }
  return "";
}

}  // namespace
}  // namespace tern::cni

int main() { return tern::cni::run_plugin(tern::cni::handle); }
