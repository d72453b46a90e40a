// Logging setup for binaries (ternd, ternctl, the CNI plugins). Cores never log: they
// return values and reasons; adapters and the controller log through spdlog.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace tern::log {

// Configures spdlog's default logger: one line per event on stderr,
// "2026-11-23T22:01:02.123 info  [ternd] message". Level names as spdlog spells them
// (trace, debug, info, warn, error, critical, off).
Status init(std::string_view program, std::string_view level = "info");

}  // namespace tern::log
