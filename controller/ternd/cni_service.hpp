// The CNI calls that `tern` (cni/tern_main.c, the small program the runtime starts)
// hands to ternd. Each runs the plugin's own code (cni/tern_plugin.cpp, exactly as
// tern-standalone would) on a worker thread, so a Pod operation costs the node one tiny
// process instead of a full plugin's. A call enters the Pod's namespace on its worker
// only; the event loop never leaves the node's. The plugin's code asks ternd for the
// address over the admin socket as tern-standalone does: one path for both.
//
// ternd declines a call it should not run: one whose IPAM is not tern-ipam on this
// ternd's socket (host-local, another node's ternd), or one that names a namespace and
// passed none. tern then runs tern-standalone. A call whose environment or configuration
// does not parse gets its error object from ternd, the same as tern-standalone's.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "common/unique_fd.hpp"
#include "controller/admin/admin_server.hpp"
#include "proto/admin.pb.h"

namespace tern::ternd {

class CniService {
 public:
  // Workers: calls at once. An ADD spends most of its time waiting (for its allocation's
  // fdatasync, for the kernel's rtnl lock), so more than the cores.
  static constexpr int kWorkers = 8;

  // `admin_socket`: this ternd's; `io`: where replies are made.
  CniService(boost::asio::any_io_executor io, std::string admin_socket);
  ~CniService();  // waits for the calls in progress

  // Answers through `reply` on the io thread: the call's stdout and status, or declined.
  void call(const admin::CniRequest& request, UniqueFd netns, admin::AdminServer::Reply reply);

  // By CNI command (ADD, DEL, CHECK, STATUS, GC, VERSION): calls run, and those that
  // failed; and calls declined.
  struct Counters {
    std::array<uint64_t, 6> run{}, failed{};
    uint64_t declined = 0;
  };
  const Counters& counters() const { return counters_; }

 private:
  boost::asio::any_io_executor io_;
  std::string admin_socket_;
  Counters counters_;  // io thread only
  std::shared_ptr<int> alive_ = std::make_shared<int>();
  boost::asio::thread_pool workers_{kWorkers};
};

}  // namespace tern::ternd
