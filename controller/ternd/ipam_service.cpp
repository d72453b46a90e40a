#include "controller/ternd/ipam_service.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

#include <ctime>
#include <filesystem>
#include <fstream>

#include "cni/names.hpp"

namespace tern::ternd {

namespace fs = std::filesystem;
using ipam::Allocation;
using ipam::AttachmentKey;

namespace {

admin::Response error_response(admin::Error::Kind kind, const std::string& message) {
  admin::Response r;
  r.mutable_error()->set_kind(kind);
  r.mutable_error()->set_message(message);
  return r;
}

// Exhaustion is answered where the allocator reports it, never inferred from a code here.
admin::Response error_response(const Error& e) {
  return error_response(e.code == Errc::kInvalidArgument ? admin::Error::INVALID_ARGUMENT : admin::Error::UNAVAILABLE,
                        e.message);
}

void fill(admin::IpamAllocation* out, const Allocation& a) {
  out->mutable_attachment()->set_container_id(a.key.container_id);
  out->mutable_attachment()->set_ifname(a.key.ifname);
  out->set_pod_namespace(a.pod_namespace);
  out->set_pod_name(a.pod_name);
  for (const auto& address : a.addresses) out->add_addresses(address.to_string());
  out->set_created_unix(a.created_unix);
  out->set_host_interface(cni::host_ifname(a.key.container_id, a.key.ifname));
}

std::string describe(const Allocation& a) {
  std::string s = a.key.container_id + "/" + a.key.ifname;
  if (!a.pod_name.empty()) s += " (" + a.pod_namespace + "/" + a.pod_name + ")";
  for (const auto& address : a.addresses) s += " " + address.to_string();
  return s;
}

// Times the scope into one of the service's histograms.
class Timed {
 public:
  explicit Timed(IpamService::Latency& into) : into_(into), start_(std::chrono::steady_clock::now()) {}
  ~Timed() { into_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count()); }

 private:
  IpamService::Latency& into_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

void fill(admin::IpamBlock* out, const ipam::BlockUsage& usage) {
  out->set_prefix(usage.block.to_string());
  out->set_capacity(usage.capacity);
  out->set_used(usage.used);
}

void IpamService::Latency::observe(double seconds) {
  for (size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) ++buckets[i];
  }
  ++count;
  sum += seconds;
}

IpamService::IpamService(ipam::Allocator allocator, ipam::Journal journal, std::string spool_dir,
                         boost::asio::any_io_executor io)
    : allocator_(std::move(allocator)), journal_(std::move(journal)), spool_dir_(std::move(spool_dir)), io_(std::move(io)) {}

Result<std::unique_ptr<IpamService>> IpamService::open(const Config& config, boost::asio::any_io_executor io) {
  std::error_code ec;
  fs::create_directories(config.ipam.state_dir, ec);
  if (ec) return make_error(Errc::kIo, "ipam.state_dir " + config.ipam.state_dir + ": " + ec.message());
  std::string path = config.ipam.state_dir + "/ipam.journal";
  auto opened = ipam::Journal::open(path);
  if (!opened) return opened.error();
  auto& [journal, recovered] = *opened;
  ipam::Allocator allocator(config.blocks, config.ipam.reserved);
  std::vector<std::string> repairs = recovered.repairs;
  for (const auto& a : recovered.allocations) {
    // An address outside today's blocks (node.blocks changed) cannot be routed to its
    // Pod any more: said loudly, and not handed out again either.
    if (auto st = allocator.commit(a); !st) repairs.push_back(describe(a) + ": not restored: " + st.error().message);
  }
  for (const auto& [block, last] : recovered.cursors) allocator.set_cursor(block, last);
  for (const auto& address : recovered.handed_out) {
    for (const auto& block : config.blocks) {
      if (block.contains(address)) allocator.set_cursor(block, address);
    }
  }
  for (const auto& r : repairs) spdlog::warn("ipam: recovery: {}", r);
  spdlog::info("ipam: {} allocations restored from {}", allocator.allocations().size(), path);
  std::unique_ptr<IpamService> service(
      new IpamService(std::move(allocator), std::move(journal), config.ipam.spool_dir, std::move(io)));
  service->repairs_ = std::move(repairs);
  // Compacted at once: every block's cursor goes on disk as a C record, so round-robin
  // survives the next restart exactly, and nothing is appended after a repaired tail.
  service->compact();
  service->apply_spool();
  return service;
}

void IpamService::allocate(const admin::IpamAllocateRequest& request, Reply reply) {
  auto started = std::chrono::steady_clock::now();
  auto staged = stage(request);
  // A full block: a release spooled while ternd was down may free an address.
  if (staged.outcome == Outcome::kExhausted && apply_spool()) staged = stage(request);
  if (staged.outcome != Outcome::kStaged) {
    latencies_[static_cast<size_t>(Request::kAllocate)].observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    reply(std::move(staged.response));
    return;
  }
  staged_.push_back({{request.attachment().container_id(), request.attachment().ifname()},
                     std::move(staged.response), std::move(reply), started});
  if (!flush_posted_) {
    // Behind the requests already read: they join this batch.
    flush_posted_ = true;
    boost::asio::post(io_, [this] { flush(); });
  }
}

IpamService::Staging IpamService::stage(const admin::IpamAllocateRequest& request) {
  AttachmentKey key{request.attachment().container_id(), request.attachment().ifname()};
  std::vector<Family> families;
  for (const auto& f : request.families()) {
    if (f != "ipv4" && f != "ipv6") {
      return {error_response(admin::Error::INVALID_ARGUMENT, "family " + f + ": ipv4 or ipv6"), Outcome::kAnswered};
    }
    families.push_back(f == "ipv4" ? Family::kIpv4 : Family::kIpv6);
  }
  if (families.empty()) {
    for (const auto& b : allocator_.blocks()) {
      if (std::find(families.begin(), families.end(), b.family()) == families.end()) families.push_back(b.family());
    }
    std::sort(families.begin(), families.end());  // IPv4 first
  }
  auto plan = allocator_.plan(key, families, request.pod_namespace(), request.pod_name(),
                              static_cast<uint64_t>(std::time(nullptr)));
  if (!plan) {
    spdlog::warn("ipam: {}/{}: {}", key.container_id, key.ifname, plan.error().message);
    if (plan.error().code != Errc::kUnavailable) return {error_response(plan.error()), Outcome::kAnswered};
    ++counters_.exhausted;
    // The allocator's kUnavailable is a full block and nothing else.
    return {error_response(admin::Error::EXHAUSTED,
                           plan.error().message + " (" + std::to_string(allocator_.allocations().size()) +
                               " attachments hold addresses on this node: DEL or GC frees them, or add a block "
                               "to node.blocks)"),
            Outcome::kExhausted};
  }
  const Allocation* held = allocator_.find(key);
  bool fresh = !held || !(*held == *plan);
  if (fresh) {
    // Written now, durable at the batch's fdatasync, answered after it: a crash before
    // the reply leaves an allocation the runtime will DEL (or GC), never an address given twice.
    if (auto st = journal_.write_allocate(*plan); !st) {
      ++counters_.failed;
      spdlog::error("ipam: {}: {}", key.container_id, st.error().message);
      return {error_response(st.error().code == Errc::kInvalidArgument ? st.error() : make_error(Errc::kIo, st.error().message)),
              Outcome::kAnswered};
    }
    if (auto st = allocator_.commit(*plan); !st) {
      ++counters_.failed;
      return {error_response(admin::Error::INTERNAL, st.error().message), Outcome::kAnswered};
    }
    spdlog::info("ipam: allocated {}", describe(*plan));
  }
  // The same attachment asked again while its first allocation waits for the disk: this
  // answer waits too.
  bool waiting = std::any_of(staged_.begin(), staged_.end(), [&](const Staged& s) { return s.key == key; });
  admin::Response response;
  auto* reply = response.mutable_ipam_allocate();
  for (const auto& address : plan->addresses) {
    auto* out = reply->add_addresses();
    out->set_address(address.to_string());
    for (const auto& b : allocator_.blocks()) {
      if (b.contains(address)) out->set_block(b.to_string());
    }
  }
  return {std::move(response), fresh || waiting ? Outcome::kStaged : Outcome::kAnswered};
}

IpamService::~IpamService() { disk_.join(); }  // no fdatasync left on a closed descriptor

void IpamService::flush() {
  flush_posted_ = false;
  if (syncing_ || staged_.empty()) return;  // what is staged waits for the sync in flight
  auto batch = std::make_shared<std::vector<Staged>>(std::move(staged_));
  staged_.clear();
  if (!journal_.unsynced()) {  // a compaction since made the batch durable
    answer(*batch, {});
    return;
  }
  auto pending = journal_.begin_sync();
  if (!pending) {
    answer(*batch, pending.error());
    return;
  }
  syncing_ = true;
  ++counters_.syncs;
  // The io thread goes on reading (and writing) the next requests while the disk works:
  // they are the next batch. `work` keeps the io_context running until the answer is in.
  auto work = boost::asio::prefer(io_, boost::asio::execution::outstanding_work.tracked);
  boost::asio::post(disk_, [this, work, batch, sync = *pending, alive = std::weak_ptr<int>(alive_)] {
    int err = ::fdatasync(sync.fd) == 0 ? 0 : errno;
    boost::asio::post(work, [this, batch, sync, err, alive] {
      if (alive.expired()) return;  // the service is gone (ternd stopping)
      syncing_ = false;
      answer(*batch, journal_.end_sync(sync, err));
      flush();
    });
  });
}

void IpamService::answer(std::vector<Staged>& batch, const Status& synced) {
  auto now = std::chrono::steady_clock::now();
  for (auto& s : batch) {
    if (synced) {
      ++counters_.allocated;
    } else {
      // Never acknowledged, so not held either: the plugin's cleanup DEL finds nothing.
      ++counters_.failed;
      allocator_.release(s.key);
      s.response = error_response(admin::Error::UNAVAILABLE, synced.error().message);
    }
    latencies_[static_cast<size_t>(Request::kAllocate)].observe(std::chrono::duration<double>(now - s.started).count());
    s.reply(std::move(s.response));
  }
  if (!synced) spdlog::error("ipam: {}: {} allocations refused", synced.error().message, batch.size());
  compact_if_grown();
}

Result<std::optional<Allocation>> IpamService::release_one(const AttachmentKey& key) {
  const Allocation* held = allocator_.find(key);
  if (!held) return std::optional<Allocation>();
  if (auto st = journal_.append_release(key); !st) return st.error();
  auto released = allocator_.release(key);
  ++counters_.released;
  spdlog::info("ipam: released {}", describe(*released));
  return released;
}

admin::Response IpamService::release(const admin::IpamReleaseRequest& request) {
  Timed timed(latencies_[static_cast<size_t>(Request::kRelease)]);
  std::vector<AttachmentKey> keys;
  const auto& a = request.attachment();
  if (a.ifname().empty()) {
    for (const auto& held : allocator_.allocations()) {
      if (held.key.container_id == a.container_id()) keys.push_back(held.key);
    }
  } else {
    keys.push_back({a.container_id(), a.ifname()});
  }
  admin::Response response;
  auto* reply = response.mutable_ipam_release();
  for (const auto& key : keys) {
    auto released = release_one(key);
    if (!released) {
      ++counters_.failed;
      return error_response(admin::Error::UNAVAILABLE, released.error().message);
    }
    if (*released) {
      for (const auto& address : (*released)->addresses) reply->add_released(address.to_string());
    }
  }
  compact_if_grown();
  return response;
}

admin::Response IpamService::gc(const admin::IpamGcRequest& request) {
  Timed timed(latencies_[static_cast<size_t>(Request::kGc)]);
  std::set<AttachmentKey> keep;
  for (const auto& a : request.keep()) keep.insert({a.container_id(), a.ifname()});
  admin::Response response;
  auto* reply = response.mutable_ipam_gc();
  for (const auto& key : allocator_.unlisted(keep)) {
    auto released = release_one(key);
    if (!released) {
      ++counters_.failed;
      return error_response(admin::Error::UNAVAILABLE, released.error().message);
    }
    if (*released) fill(reply->add_released(), **released);
  }
  if (reply->released_size()) spdlog::info("ipam: GC released {} allocations the runtime no longer lists", reply->released_size());
  compact_if_grown();
  return response;
}

admin::IpamReply IpamService::show() const {
  admin::IpamReply reply;
  for (const auto& u : allocator_.usage()) fill(reply.add_blocks(), u);
  for (const auto& a : allocator_.allocations()) fill(reply.add_allocations(), a);
  reply.set_journal(journal_.path());
  for (const auto& r : repairs_) reply.add_repairs(r);
  reply.set_spooled_releases(spooled_);
  return reply;
}

size_t IpamService::apply_spool() {
  std::error_code ec;
  if (!fs::is_directory(spool_dir_, ec)) return 0;
  size_t applied = 0;
  for (const auto& entry : fs::directory_iterator(spool_dir_, ec)) {
    const auto& path = entry.path();
    if (path.extension() == ".tmp") continue;  // a tern-ipam still writing it (or killed doing so)
    std::ifstream in(path);
    AttachmentKey key;
    if (!std::getline(in, key.container_id) || !std::getline(in, key.ifname) || key.container_id.empty()) {
      spdlog::warn("ipam: spool {}: not a release (container ID and interface on two lines): removed", path.string());
      fs::remove(path, ec);
      continue;
    }
    auto released = release_one(key);
    if (!released) {
      spdlog::error("ipam: spool {}: {}: kept for the next try", path.string(), released.error().message);
      continue;
    }
    fs::remove(path, ec);
    ++applied;
  }
  if (applied) {
    spooled_ += applied;
    spdlog::info("ipam: applied {} releases spooled while ternd was down", applied);
    compact_if_grown();
  }
  return applied;
}

void IpamService::compact_if_grown() {
  // After the batch's fdatasync, whose answer comes with this: compaction replaces the file.
  if (!staged_.empty() || syncing_) return;
  if (journal_.records() > 4 * allocator_.allocations().size() + 1024) compact();
}

void IpamService::compact() {
  auto live = allocator_.allocations();
  std::vector<std::pair<Prefix, IpAddress>> cursors;
  for (const auto& b : allocator_.blocks()) {
    if (auto c = allocator_.cursor(b)) cursors.emplace_back(b, *c);
  }
  if (auto st = journal_.compact(live, cursors); !st) spdlog::warn("ipam: compaction: {}", st.error().message);
}

}  // namespace tern::ternd
