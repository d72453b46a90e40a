// ternd's IPAM service: the allocator over the node's blocks, the journal that makes
// every allocation durable before the CNI plugin hears of it, and the spool of releases
// that tern-ipam left while ternd was down. Answers the admin socket's IPAM requests.
// Runs on the io_context thread. Allocations are group-committed: each is planned and
// written at once (so the next one in the batch sees its address taken), and one
// fdatasync, posted behind the requests already read, makes the whole batch durable
// before any of them is answered. The fdatasync runs on a thread of its own: requests
// that arrive meanwhile are read, written and answered after the next one.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "controller/ternd/config.hpp"
#include "ipam/allocator.hpp"
#include "ipam/journal.hpp"
#include "proto/admin.pb.h"

namespace tern::ternd {

// A block's usage as the admin API shows it (`ternctl ipam` and STATUS alike).
void fill(admin::IpamBlock* out, const ipam::BlockUsage& usage);

class IpamService {
 public:
  // Creates the state directory, opens (and recovers) the journal, restores the
  // allocations, and applies the spool. What recovery repaired is logged and kept for
  // `ternctl ipam`.
  // `io` is the service's thread (every call and answer is on it); the batches'
  // fdatasyncs run on a thread of the service's own.
  static Result<std::unique_ptr<IpamService>> open(const Config& config, boost::asio::any_io_executor io);
  ~IpamService();

  // Answers through `reply`, on the io thread, once the allocation is durable (or at once
  // for an error or an allocation already on disk).
  using Reply = std::function<void(admin::Response)>;
  void allocate(const admin::IpamAllocateRequest& request, Reply reply);
  admin::Response release(const admin::IpamReleaseRequest& request);
  admin::Response gc(const admin::IpamGcRequest& request);
  admin::IpamReply show() const;
  std::vector<ipam::BlockUsage> usage() const { return allocator_.usage(); }
  size_t allocations() const { return allocator_.allocations().size(); }

  // Releases what tern-ipam spooled; returns how many. Called at start, on a timer and
  // when a block is full, not on every ADD: the spool fills only while ternd is down.
  size_t apply_spool();

  struct Counters {
    uint64_t allocated = 0, released = 0, exhausted = 0, failed = 0;
    uint64_t syncs = 0;  // fdatasyncs for allocations: allocated / syncs is the batch size
  };
  const Counters& counters() const { return counters_; }

  // How long ternd took to answer tern-ipam, per request kind (the journal's fdatasync is
  // most of an ADD's): a Prometheus histogram.
  struct Latency {
    static constexpr std::array<double, 10> kBounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
    std::array<uint64_t, kBounds.size()> buckets{};  // cumulative, as Prometheus has them
    uint64_t count = 0;
    double sum = 0;
    void observe(double seconds);
  };
  enum class Request { kAllocate, kRelease, kGc };
  const std::array<Latency, 3>& latencies() const { return latencies_; }

 private:
  IpamService(ipam::Allocator allocator, ipam::Journal journal, std::string spool_dir, boost::asio::any_io_executor io);
  enum class Outcome {
    kAnswered,   // an error, or an allocation already durable: reply now
    kStaged,     // written and committed: reply after the batch's fdatasync
    kExhausted,  // no free address (the response says so)
  };
  struct Staging {
    admin::Response response;
    Outcome outcome;
  };
  // Plans, writes (without syncing) and commits one allocation.
  Staging stage(const admin::IpamAllocateRequest& request);
  // One fdatasync (on disk_) for every staged allocation, then their replies (or, on
  // failure, their rollback and an error each).
  void flush();
  // Releases one attachment, journal first; nullopt when it held nothing.
  Result<std::optional<ipam::Allocation>> release_one(const ipam::AttachmentKey& key);
  void compact_if_grown();
  void compact();

  ipam::Allocator allocator_;
  ipam::Journal journal_;
  std::string spool_dir_;
  std::vector<std::string> repairs_;
  uint64_t spooled_ = 0;
  Counters counters_;
  std::array<Latency, 3> latencies_;

  boost::asio::any_io_executor io_;
  struct Staged {
    ipam::AttachmentKey key;
    admin::Response response;
    Reply reply;
    std::chrono::steady_clock::time_point started;
  };
  std::vector<Staged> staged_;  // written, waiting for the batch's fdatasync
  void answer(std::vector<Staged>& batch, const Status& synced);
  bool flush_posted_ = false;
  bool syncing_ = false;  // a batch's fdatasync is running on disk_
  boost::asio::thread_pool disk_{1};
  std::shared_ptr<int> alive_ = std::make_shared<int>();  // expired: answers in flight are dropped
};

}  // namespace tern::ternd
