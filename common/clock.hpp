// Time as a parameter: cores take a Clock so tests drive time by hand (tests/support has
// a FakeClock); adapters pass SteadyClock.
#pragma once

#include <chrono>

namespace tern {

using Duration = std::chrono::steady_clock::duration;
using TimePoint = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace tern
