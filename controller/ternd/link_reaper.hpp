// Deletes Pods' host veths for the CNI plugin once its DEL has returned. Tearing a veth
// pair down makes the caller wait for the kernel (RCU grace periods: 20 to 40 ms here, most
// of a DEL), which the runtime has no reason to wait for; ternd, which outlives the
// plugin, waits instead.
//
// A deletion holds the kernel's rtnl lock, which every Pod's ADD needs a dozen times: while
// ADDs arrive (busy() within kQuiet) the reaper holds off, each deletion by at most
// kMaxDelay, so a burst of new Pods does not queue behind the teardown of old ones.
//
// Owns a thread and a netlink socket opened in ternd's network namespace (the node's); a
// request is queued from the io_context thread and never blocks it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.hpp"

namespace tern::ternd {

class LinkReaper {
 public:
  static Result<std::unique_ptr<LinkReaper>> start();
  ~LinkReaper();  // deletes what is queued (a shutdown leaves no Pod's veth behind), then joins

  // Deletes the link `name` if it still has `ifindex`: a veth made since under the same
  // name (the same Pod added again) is left alone.
  void delete_link(int ifindex, std::string name);
  // A Pod is being added: hold deletions off for kQuiet.
  void busy();
  uint64_t deleted() const { return deleted_; }

  static constexpr std::chrono::milliseconds kQuiet{100};
  static constexpr std::chrono::milliseconds kMaxDelay{5000};

 private:
  LinkReaper() = default;
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  struct Job {
    int ifindex;
    std::string name;
    std::chrono::steady_clock::time_point queued;
  };
  std::deque<Job> queue_;
  std::chrono::steady_clock::time_point busy_until_{};
  bool stopping_ = false;
  std::atomic<uint64_t> deleted_ = 0;
  std::thread thread_;
};

}  // namespace tern::ternd
