// `ternctl decode` as an operator runs it: on every fixture, readable and --json output
// against golden files (regenerate with UPDATE_GOLDEN=1), and damaged input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/process.hpp"

namespace tern {
namespace {

namespace fs = std::filesystem;
using testing::run;

const std::string kFixtures = std::string(TERN_SOURCE_DIR) + "/tests/fixtures/bgp/";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> fixtures() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(kFixtures)) {
    auto ext = e.path().extension();
    if (ext == ".mrt" || ext == ".bgp") names.push_back(e.path().filename());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, ReadableAndJson) {
  for (bool json : {false, true}) {
    std::vector<std::string> argv{TERNCTL, "decode", kFixtures + GetParam()};
    if (json) argv.push_back("--json");
    auto r = run(argv);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    std::string golden = kFixtures + "golden/" + GetParam() + (json ? ".jsonl" : ".txt");
    if (std::getenv("UPDATE_GOLDEN")) {
      fs::create_directories(kFixtures + "golden");
      std::ofstream(golden) << r.out;
      continue;
    }
    EXPECT_EQ(r.out, slurp(golden)) << "ternctl decode" << (json ? " --json " : " ") << GetParam()
                                    << " changed; if intended, rerun with UPDATE_GOLDEN=1";
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Golden, ::testing::ValuesIn(fixtures()), [](const auto& info) {
  std::string name = info.param;
  for (auto& c : name) {
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
});

TEST(TernctlDecode, JsonLinesParseAsJson) {
  auto r = run({TERNCTL, "decode", "--json", kFixtures + "frr-to-bird.bgp"});
  ASSERT_EQ(r.exit_code, 0);
  std::istringstream lines(r.out);
  std::string line;
  size_t n = 0;
  while (std::getline(lines, line)) {
    EXPECT_EQ(line.front(), '{');
    EXPECT_EQ(line.back(), '}');
    ++n;
  }
  EXPECT_GT(n, 5u);
  EXPECT_NE(r.out.find(R"("as_path":"65001 {65003,65010,65011}")"), std::string::npos);
}

TEST(TernctlDecode, TruncatedMrtPrintsWhatDecodedThenFails) {
  auto bytes = slurp(kFixtures + "frr-rib.mrt");
  std::string cut = testing::sh("mktemp").out;
  cut.pop_back();
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() - 7);
  auto r = run({TERNCTL, "decode", cut});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("RIB 198.18.96.0/21"), std::string::npos) << "records before the damage are printed";
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("offset"), std::string::npos) << r.err;
  fs::remove(cut);
}

TEST(TernctlDecode, TruncatedStreamAndBadMarker) {
  auto bytes = slurp(kFixtures + "gobgp-to-frr.bgp");
  auto r = run({TERNCTL, "decode", "-"}, std::chrono::seconds(10), bytes.substr(0, bytes.size() - 3));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("0 OPEN"), std::string::npos);
  EXPECT_NE(r.err.find("truncated message at offset"), std::string::npos) << r.err;

  std::string bad = bytes;
  bad[bytes.size() - 19] = 0;  // the marker of the last KEEPALIVE
  r = run({TERNCTL, "decode", "-"}, std::chrono::seconds(10), bad);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("marker"), std::string::npos) << r.err;
}

TEST(TernctlDecode, MissingFileAndUsage) {
  auto r = run({TERNCTL, "decode", "/nonexistent/file.mrt"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot open /nonexistent/file.mrt"), std::string::npos) << r.err;
  r = run({TERNCTL});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE((r.out + r.err).find("decode"), std::string::npos);
}

}  // namespace
}  // namespace tern
