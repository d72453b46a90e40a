#include "common/ip.hpp"

#include <gtest/gtest.h>

namespace tern {
namespace {

TEST(IpAddress, ParsesAndFormatsBothFamilies) {
  auto v4 = IpAddress::parse("198.18.0.1");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->is_v4());
  EXPECT_EQ(v4->v4_host_order(), 0xc6120001u);
  EXPECT_EQ(v4->to_string(), "198.18.0.1");

  auto v6 = IpAddress::parse("2001:db8::1");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->is_v6());
  EXPECT_EQ(v6->to_string(), "2001:db8::1");
}

TEST(IpAddress, RejectsGarbage) {
  for (auto text : {"", "198.18.0", "198.18.0.256", "2001:db8:::1", "host", "198.18.0.1/24"}) {
    auto a = IpAddress::parse(text);
    EXPECT_FALSE(a) << text;
    if (!a) {
      EXPECT_EQ(a.error().code, Errc::kInvalidArgument);
    }
  }
}

TEST(IpAddress, LinkLocal) {
  EXPECT_TRUE(IpAddress::parse("169.254.1.1")->is_link_local());
  EXPECT_TRUE(IpAddress::parse("fe80::1")->is_link_local());
  EXPECT_FALSE(IpAddress::parse("198.18.0.1")->is_link_local());
}

TEST(IpAddress, OrdersV4BeforeV6AndByBytes) {
  EXPECT_LT(*IpAddress::parse("198.18.0.1"), *IpAddress::parse("198.18.0.2"));
  EXPECT_LT(*IpAddress::parse("198.19.0.1"), *IpAddress::parse("2001:db8::"));
}

TEST(Prefix, ParsesAndChecksHostBits) {
  auto p = Prefix::parse("198.18.4.0/22");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->length(), 22);
  EXPECT_EQ(p->to_string(), "198.18.4.0/22");

  auto bad = Prefix::parse("198.18.4.1/22");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("198.18.4.0/22"), std::string::npos) << bad.error().message;

  EXPECT_FALSE(Prefix::parse("198.18.0.0/33"));
  EXPECT_FALSE(Prefix::parse("198.18.0.0/"));
  EXPECT_FALSE(Prefix::parse("198.18.0.0/2x"));
  EXPECT_EQ(Prefix::parse("2001:db8::1")->length(), 128);
}

TEST(Prefix, Contains) {
  auto block = *Prefix::parse("198.18.0.0/24");
  EXPECT_TRUE(block.contains(*IpAddress::parse("198.18.0.77")));
  EXPECT_FALSE(block.contains(*IpAddress::parse("198.18.1.0")));
  EXPECT_TRUE(block.contains(*Prefix::parse("198.18.0.64/26")));
  EXPECT_FALSE(block.contains(*Prefix::parse("198.18.0.0/23")));
  EXPECT_FALSE(block.contains(*Prefix::parse("2001:db8::/64")));
  EXPECT_TRUE(Prefix::parse("0.0.0.0/0")->contains(*IpAddress::parse("198.18.0.1")));
}

TEST(Prefix, ConstructorMasks) {
  Prefix p(*IpAddress::parse("2001:db8:ffff::1"), 33);
  EXPECT_EQ(p.to_string(), "2001:db8:8000::/33");
}

}  // namespace
}  // namespace tern
