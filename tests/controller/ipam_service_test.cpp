// ternd's IPAM service: group commit. Allocations read together are written at once, made
// durable by one fdatasync posted behind them, and answered only after it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <set>

#include "controller/ternd/ipam_service.hpp"

namespace tern::ternd {
namespace {

namespace fs = std::filesystem;

class IpamServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tern-ipam-service-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    config_.blocks = {*Prefix::parse("198.18.20.0/24")};
    config_.ipam.state_dir = (dir_ / "state").string();
    config_.ipam.spool_dir = (dir_ / "spool").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<IpamService> open(boost::asio::io_context& io) {
    auto service = IpamService::open(config_, io.get_executor());
    EXPECT_TRUE(service) << service.error().message;
    return service ? std::move(*service) : nullptr;
  }
  // Asks for attachments c0 .. c<n-1>, collecting the answers as they come.
  static void allocate_each(IpamService& service, int n, std::vector<admin::Response>& replies) {
    for (int i = 0; i < n; ++i) {
      service.allocate(request(i), [&replies](admin::Response r) { replies.push_back(std::move(r)); });
    }
  }
  static admin::IpamAllocateRequest request(int i) {
    admin::IpamAllocateRequest r;
    r.mutable_attachment()->set_container_id("c" + std::to_string(i));
    r.mutable_attachment()->set_ifname("eth0");
    return r;
  }

  fs::path dir_;
  Config config_;
};

TEST_F(IpamServiceTest, AllocationsReadTogetherShareOneSyncAndWaitForIt) {
  boost::asio::io_context io;
  auto service = open(io);
  ASSERT_TRUE(service);
  std::vector<admin::Response> replies;
  allocate_each(*service, 3, replies);
  EXPECT_TRUE(replies.empty()) << "answered before the batch was durable";
  EXPECT_EQ(service->allocations(), 3u) << "each sees the one before it as taken";
  io.run();
  ASSERT_EQ(replies.size(), 3u);
  std::set<std::string> addresses;
  for (const auto& r : replies) {
    ASSERT_TRUE(r.has_ipam_allocate()) << r.DebugString();
    addresses.insert(r.ipam_allocate().addresses(0).address());
  }
  EXPECT_EQ(addresses.size(), 3u);
  EXPECT_EQ(service->counters().syncs, 1u);
  EXPECT_EQ(service->counters().allocated, 3u);
  EXPECT_EQ(service->show().blocks(0).used(), 3u);

  // Asked again once durable: answered at once, with no new record and no sync.
  replies.clear();
  service->allocate(request(1), [&](admin::Response r) { replies.push_back(std::move(r)); });
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].ipam_allocate().addresses(0).address(), "198.18.20.2");
  io.restart();
  io.run();
  EXPECT_EQ(service->counters().syncs, 1u);

  // On disk: a new service over the same state finds all three.
  service.reset();
  boost::asio::io_context io2;
  auto again = open(io2);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->allocations(), 3u);
}

// Requests that arrive while a batch's fdatasync runs (on its own thread) are not covered
// by it: they are answered after a sync of their own, which follows at once.
TEST_F(IpamServiceTest, AllocationsWrittenDuringASyncWaitForTheNext) {
  boost::asio::io_context io;
  auto service = open(io);
  ASSERT_TRUE(service);
  std::vector<uint64_t> syncs_at_answer;
  auto collect = [&](admin::Response r) {
    EXPECT_TRUE(r.has_ipam_allocate()) << r.DebugString();
    syncs_at_answer.push_back(service->counters().syncs);
  };
  service->allocate(request(0), collect);
  ASSERT_EQ(io.run_one(), 1u);  // the flush: c0's sync is running
  EXPECT_EQ(service->counters().syncs, 1u);
  service->allocate(request(1), collect);
  service->allocate(request(2), collect);
  io.run();
  EXPECT_EQ(syncs_at_answer, (std::vector<uint64_t>{1, 2, 2}));
  EXPECT_EQ(service->counters().allocated, 3u);
}

// The same attachment asked twice in one batch: the second answer waits for the sync too.
TEST_F(IpamServiceTest, ARepeatedRequestInTheBatchWaitsForItsSync) {
  boost::asio::io_context io;
  auto service = open(io);
  ASSERT_TRUE(service);
  int answered = 0;
  service->allocate(request(7), [&](admin::Response) { ++answered; });
  service->allocate(request(7), [&](admin::Response) { ++answered; });
  EXPECT_EQ(answered, 0);
  io.run();
  EXPECT_EQ(answered, 2);
  EXPECT_EQ(service->allocations(), 1u);
}

// A full block: EXHAUSTED, with a message that names the block and what frees an address.
TEST_F(IpamServiceTest, FullBlockIsExhaustedAndSaysWhy) {
  config_.blocks = {*Prefix::parse("198.18.21.0/30")};  // two addresses for Pods
  boost::asio::io_context io;
  auto service = open(io);
  ASSERT_TRUE(service);
  std::vector<admin::Response> replies;
  allocate_each(*service, 3, replies);
  ASSERT_EQ(replies.size(), 1u) << "the failure is answered at once";
  EXPECT_EQ(replies[0].error().kind(), admin::Error::EXHAUSTED);
  EXPECT_NE(replies[0].error().message().find("198.18.21.0/30 is full"), std::string::npos) << replies[0].error().message();
  EXPECT_NE(replies[0].error().message().find("DEL or GC"), std::string::npos) << replies[0].error().message();
  io.run();
  EXPECT_EQ(replies.size(), 3u);
  EXPECT_EQ(service->counters().exhausted, 1u);
}

}  // namespace
}  // namespace tern::ternd
