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
      std::pair<int, std::string> job;
      {
        std::unique_lock lock(r->mutex_);
        r->wake_.wait(lock, [&] { return r->stopping_ || !r->queue_.empty(); });
        if (r->queue_.empty()) return;
        job = std::move(r->queue_.front());
        r->queue_.pop_front();
      }
      auto link = routing::link::get_link(socket, job.second);
      if (!link || link->ifindex != job.first) continue;  // gone already, or a new one by that name
      // By index: the same Pod added again meanwhile has a new veth under this name.
      if (auto st = routing::link::delete_link(socket, job.first); !st && st.error().code != Errc::kNotFound) {
        spdlog::warn("cni: deleting {}: {}", job.second, st.error().message);
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
    queue_.emplace_back(ifindex, std::move(name));
  }
  wake_.notify_one();
}

}  // namespace tern::ternd
