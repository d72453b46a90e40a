// ternd's IPAM service: the allocator over the node's blocks, the journal that makes
// every allocation durable before the CNI plugin hears of it, and the spool of releases
// that tern-ipam left while ternd was down. Answers the admin socket's IPAM requests.
// Runs on the io_context thread; every call that changes state blocks on one fdatasync.
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "controller/ternd/config.hpp"
#include "ipam/allocator.hpp"
#include "ipam/journal.hpp"
#include "proto/admin.pb.h"

namespace tern::ternd {

class IpamService {
 public:
  // Creates the state directory, opens (and recovers) the journal, restores the
  // allocations, and applies the spool. What recovery repaired is logged and kept for
  // `ternctl ipam`.
  static Result<std::unique_ptr<IpamService>> open(const Config& config);

  admin::Response allocate(const admin::IpamAllocateRequest& request);
  admin::Response release(const admin::IpamReleaseRequest& request);
  admin::Response gc(const admin::IpamGcRequest& request);
  admin::IpamReply show() const;
  std::vector<ipam::BlockUsage> usage() const { return allocator_.usage(); }
  size_t allocations() const { return allocator_.allocations().size(); }

  // Releases what tern-ipam spooled; returns how many.
  size_t apply_spool();

  struct Counters {
    uint64_t allocated = 0, released = 0, exhausted = 0, failed = 0;
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
  IpamService(ipam::Allocator allocator, ipam::Journal journal, std::string spool_dir);
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
};

}  // namespace tern::ternd
