#include "common/result.hpp"

#include <cstring>

namespace tern {

Error io_error(const std::string& what, int err) {
  return Error{Errc::kIo, what + ": " + std::strerror(err), err};
}

}  // namespace tern
