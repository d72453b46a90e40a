// libFuzzer: the CNI configuration parser (what a runtime or a hand-edited conflist feeds
// the plugins) never crashes; every bad input is a Failure with a spec code.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cni/spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  for (auto command : {tern::cni::Command::kAdd, tern::cni::Command::kCheck, tern::cni::Command::kGc}) {
    try {
      auto conf = tern::cni::parse_netconf(text, command);
      if (conf.prev_result) (void)tern::cni::to_json(*conf.prev_result, conf.cni_version);
      (void)tern::cni::uint_field(conf.raw, "mtu", "", 65535);
      (void)tern::cni::string_field(conf.raw, "socket", "");
    } catch (const tern::cni::Failure&) {
    }
  }
  return 0;
}
