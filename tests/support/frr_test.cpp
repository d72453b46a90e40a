// The test support itself, against the real FRR: an instance comes up in its namespace,
// answers vtysh in JSON, and leaves nothing behind.
#include "tests/support/frr.hpp"

#include <gtest/gtest.h>

#include <filesystem>

namespace tern::testing {
namespace {

TEST(FrrSupport, StartsAnswersAndCleansUp) {
  TERN_REQUIRE_ROOT();
  std::string run_dir;
  {
    Netns ns("frr-self");
    // With no neighbour FRR answers the summary with {}: configure one that never comes up.
    Frr frr(ns, "frr defaults traditional\nrouter bgp 65001\n bgp router-id 198.18.0.1\n neighbor 198.18.0.2 remote-as 65002\n");
    run_dir = "/var/run/frr/" + ns.name();
    auto summary = frr.show_json("show bgp summary json");
    ASSERT_TRUE(summary.contains("ipv4Unicast")) << summary.dump();
    EXPECT_EQ(summary["ipv4Unicast"]["routerId"], "198.18.0.1");
    EXPECT_EQ(summary["ipv4Unicast"]["as"], 65001);

    frr.stop_daemon("bgpd");
    frr.start_daemon("bgpd");
    EXPECT_EQ(frr.show_json("show bgp summary json")["ipv4Unicast"]["as"], 65001);
  }
  EXPECT_FALSE(std::filesystem::exists(run_dir));
}

}  // namespace
}  // namespace tern::testing
