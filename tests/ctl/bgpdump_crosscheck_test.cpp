// The reference: bgpdump (Debian) and ternctl must agree on every prefix and AS path of
// the FRR and BIRD table dumps. (bgpdump 1.6 asserts on GoBGP's dump, so not that one.)
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tests/support/process.hpp"

namespace tern {
namespace {

using Routes = std::set<std::pair<std::string, std::string>>;  // prefix, AS path

Routes from_bgpdump(const std::string& file) {
  auto r = testing::run({"bgpdump", "-m", file});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  Routes out;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    // TABLE_DUMP2|time|B|peer|peer_as|prefix|as_path|...
    std::vector<std::string> f;
    std::istringstream fields(line);
    for (std::string x; std::getline(fields, x, '|');) f.push_back(x);
    if (f.size() > 6) out.insert({f[5], f[6]});
  }
  return out;
}

Routes from_ternctl(const std::string& file) {
  auto r = testing::run({TERNCTL, "decode", "--json", file});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  Routes out;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] != "rib") continue;
    // bgpdump prints an AS_SET as {a,b}, as ternctl does; an empty path as an empty field.
    out.insert({j["prefix"], j["attributes"].value("as_path", "")});
  }
  return out;
}

class Crosscheck : public ::testing::TestWithParam<const char*> {};

TEST_P(Crosscheck, SamePrefixesAndPaths) {
  std::string file = std::string(TERN_SOURCE_DIR) + "/tests/fixtures/bgp/" + GetParam();
  auto reference = from_bgpdump(file);
  EXPECT_FALSE(reference.empty());
  EXPECT_EQ(from_ternctl(file), reference);
}

INSTANTIATE_TEST_SUITE_P(TableDumps, Crosscheck, ::testing::Values("frr-rib.mrt", "bird-rib4.mrt", "bird-rib6.mrt"));

}  // namespace
}  // namespace tern
