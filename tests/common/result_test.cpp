#include "common/result.hpp"

#include <cerrno>
#include <gtest/gtest.h>

namespace tern {
namespace {

Result<int> half(int x) {
  if (x % 2) return make_error(Errc::kInvalidArgument, "odd");
  return x / 2;
}

TEST(Result, CarriesValueOrError) {
  auto ok = half(4);
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 2);
  auto bad = half(3);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(bad.error().wrap("x").message, "x: odd");
}

TEST(Result, IoErrorNamesErrno) {
  auto e = io_error("open /nonexistent", ENOENT);
  EXPECT_EQ(e.code, Errc::kIo);
  EXPECT_EQ(e.sys_errno, ENOENT);
  EXPECT_EQ(e.message, "open /nonexistent: No such file or directory");
}

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s);
  Status f = make_error(Errc::kTimeout, "late");
  EXPECT_FALSE(f);
  EXPECT_EQ(f.error().message, "late");
}

}  // namespace
}  // namespace tern
