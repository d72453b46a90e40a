#include "routing/link/sysctl.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace tern::routing::link {
namespace {

Status check_relative(const std::string& relative) {
  if (relative.empty() || relative.front() == '/' || relative.find("..") != std::string::npos) {
    return make_error(Errc::kInvalidArgument, "invalid sysctl path \"" + relative + "\"");
  }
  return {};
}

std::string family_dir(Family family) { return family == Family::kIpv4 ? "ipv4" : "ipv6"; }

}  // namespace

Status write_sysctl(const std::string& relative, std::string_view value) {
  if (auto ok = check_relative(relative); !ok) return ok;
  std::string path = "/proc/sys/" + relative;
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return io_error("open " + path, errno);
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  if (n < 0) return io_error("write " + path, err);
  if (static_cast<size_t>(n) != value.size()) return make_error(Errc::kIo, "short write to " + path);
  return {};
}

Result<std::string> read_sysctl(const std::string& relative) {
  if (auto ok = check_relative(relative); !ok) return ok.error();
  std::string path = "/proc/sys/" + relative;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("open " + path, errno);
  char buffer[256];
  ssize_t n = ::read(fd, buffer, sizeof buffer);
  int err = errno;
  ::close(fd);
  if (n < 0) return io_error("read " + path, err);
  std::string value(buffer, static_cast<size_t>(n));
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
  return value;
}

std::string conf_path(Family family, const std::string& ifname, const std::string& knob) {
  return "net/" + family_dir(family) + "/conf/" + ifname + "/" + knob;
}

std::string neigh_path(Family family, const std::string& ifname, const std::string& knob) {
  return "net/" + family_dir(family) + "/neigh/" + ifname + "/" + knob;
}

}  // namespace tern::routing::link
