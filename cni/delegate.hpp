// Running a delegated plugin (the IPAM plugin) as the CNI spec says: the executable named
// by its type, found in CNI_PATH, with the caller's environment and the same network
// configuration on stdin.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tern::cni {

// Runs `type` with CNI_COMMAND=`command` and returns its parsed stdout (empty for DEL,
// CHECK, STATUS and GC, which print nothing). A plugin that fails has its own error object
// thrown on as a Failure, so the runtime sees the IPAM's code and message; one that
// cannot be found or run is code 5, one that does not answer within `timeout` code 11.
nlohmann::json delegate(const std::string& type, const std::vector<std::string>& path, const std::string& command,
                        const std::string& stdin_text,
                        std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace tern::cni
