#include "tests/support/cni.hpp"

namespace tern::testing {

const char* cni_bin_dir() { return CNI_BIN_DIR; }

CniReply cni(const Netns& node, const CniCall& call, const nlohmann::json& config, std::chrono::milliseconds timeout) {
  std::string plugin = config.value("type", "tern");
  std::vector<std::string> env{"CNI_COMMAND=" + call.command, "CNI_CONTAINERID=" + call.container_id,
                               "CNI_NETNS=" + call.netns, "CNI_IFNAME=" + call.ifname, "CNI_ARGS=" + call.args,
                               std::string("CNI_PATH=") + cni_bin_dir() + ":" + kReferencePluginDir};
  std::string binary = std::string(plugin == "tern" || plugin == "tern-ipam" ? cni_bin_dir() : kReferencePluginDir) +
                       "/" + plugin;
  auto r = run({"ip", "netns", "exec", node.name(), binary}, timeout, config.dump(), env);
  CniReply reply{r.exit_code, nullptr, r.out, r.err};
  if (!r.out.empty()) {
    try {
      reply.out = nlohmann::json::parse(r.out);
    } catch (const std::exception& e) {
      reply.out = nlohmann::json{{"unparsable", r.out}};
    }
  }
  return reply;
}

}  // namespace tern::testing
