#include "cni/plugin.hpp"

#include <cstdlib>
#include <iostream>
#include <iterator>

namespace tern::cni {

int run_plugin(const Handler& handle) {
  std::string version;
  try {
    auto env = parse_environment(::getenv);
    std::string stdin_text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    if (env.command == Command::kVersion) {
      if (!stdin_text.empty()) parse_netconf(stdin_text, Command::kVersion);  // an unsupported cniVersion is code 1
      std::cout << version_json().dump() << '\n';
      return 0;
    }
    handle(env, stdin_text, &version);
    return 0;
  } catch (const Failure& f) {
    std::cout << error_json(f, version).dump() << '\n';
  } catch (const std::exception& e) {
    std::cout << error_json(Failure(Code::kInternal, e.what()), version).dump() << '\n';
  }
  return 1;
}

uint64_t stable_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (char c : text) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return h;
}

}  // namespace tern::cni
