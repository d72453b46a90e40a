#include "controller/ternd/link_reaper.hpp"

#include <spdlog/spdlog.h>

#include "routing/link/link.hpp"

namespace tern::ternd {

Result<std::unique_ptr<LinkReaper>> LinkReaper::start() {
  std::unique_ptr<LinkReaper> reaper(new LinkReaper());
  // The socket is opened here, on the thread in ternd's namespace, and moved to the
  // reaper's thread: a netlink socket stays in the namespace it was opened in.
  auto sock = routing::link::NlSocket::open();
  if (!sock) return sock.error();
  reaper->thread_ = std::thread([r = reaper.get(), s = std::move(*sock)]() mutable {
    auto socket = std::move(s);
    for (;;) {
      Job job;
      {
        std::unique_lock lock(r->mutex_);
        r->wake_.wait(lock, [&] { return r->stopping_ || !r->queue_.empty(); });
        if (r->queue_.empty()) return;
        // Pods being added go first; a stop deletes at once. Each wait is bounded by the
        // job's kMaxDelay.
        for (;;) {
          auto until = std::min(r->busy_until_, r->queue_.front().queued + kMaxDelay);
          if (r->stopping_ || std::chrono::steady_clock::now() >= until) break;
          r->wake_.wait_until(lock, until);
        }
        job = std::move(r->queue_.front());
        r->queue_.pop_front();
      }
      auto link = routing::link::get_link(socket, job.name);
      if (!link || link->ifindex != job.ifindex) continue;  // gone already, or a new one by that name
      // By index: the same Pod added again meanwhile has a new veth under this name.
      if (auto st = routing::link::delete_link(socket, job.ifindex); !st && st.error().code != Errc::kNotFound) {
        spdlog::warn("cni: deleting {}: {}", job.name, st.error().message);
        continue;
      }
      ++r->deleted_;
    }
  });
  return reaper;
}

LinkReaper::~LinkReaper() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void LinkReaper::delete_link(int ifindex, std::string name) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back({ifindex, std::move(name), std::chrono::steady_clock::now()});
  }
  wake_.notify_one();
}

void LinkReaper::busy() {
  std::lock_guard lock(mutex_);
  busy_until_ = std::chrono::steady_clock::now() + kQuiet;
}

}  // namespace tern::ternd
