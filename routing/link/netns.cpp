#include "routing/link/netns.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tern::routing::link {

Result<NetnsFd> NetnsFd::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("open netns " + path, errno);
  NetnsFd owned(fd);
  struct statfs fs {};
  if (::fstatfs(fd, &fs) != 0) return io_error("statfs netns " + path, errno);
  // A bind-mounted namespace lives on nsfs; /proc/PID/ns/net shows as procfs on old kernels.
  if (fs.f_type != NSFS_MAGIC && fs.f_type != PROC_SUPER_MAGIC) {
    return make_error(Errc::kInvalidArgument, path + " is not a network namespace");
  }
  return owned;
}

Result<NetnsFd> NetnsFd::current() { return open("/proc/thread-self/ns/net"); }

Result<NetnsGuard> NetnsGuard::enter(const NetnsFd& target) {
  auto original = NetnsFd::current();
  if (!original) return original.error();
  if (::setns(target.fd(), CLONE_NEWNET) != 0) return io_error("setns", errno);
  return NetnsGuard(std::move(*original));
}

NetnsGuard::~NetnsGuard() {
  if (!original_.valid()) return;  // moved from
  if (::setns(original_.fd(), CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "tern: cannot return to the original network namespace: %s\n",
                 std::strerror(errno));
    std::abort();
  }
}

}  // namespace tern::routing::link
