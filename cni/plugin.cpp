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

}  // namespace tern::cni
