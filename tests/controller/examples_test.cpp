// The configurations in examples/ are what users copy: each ternd configuration passes
// `ternd --check-config` (key files made in a scratch directory in place of /etc/tern),
// the DaemonSet's template does once rendered for a node, and every JSON and YAML file
// parses.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "tests/support/process.hpp"

namespace tern {
namespace {

namespace fs = std::filesystem;
const fs::path kExamples = fs::path(TERN_SOURCE_DIR) / "examples";

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes `yaml` with /etc/tern/ moved into a scratch directory (and the key files it
// names made there), and checks it with ternd.
testing::CommandResult check(const std::string& yaml, const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("tern-examples-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::string moved = std::regex_replace(yaml, std::regex("/etc/tern/"), dir.string() + "/");
  std::smatch m;
  for (auto it = moved.cbegin(); std::regex_search(it, moved.cend(), m, std::regex(dir.string() + "/[A-Za-z0-9_.-]+\\.key"));
       it = m.suffix().first) {
    std::ofstream(m.str()) << "secret\n";
  }
  fs::path path = dir / name;
  std::ofstream(path) << moved;
  auto r = testing::run({TERND, "--check-config", path.string()});
  fs::remove_all(dir);
  return r;
}

TEST(Examples, EveryTerndConfigurationIsValid) {
  int checked = 0;
  for (const auto& dir : {"ternd", "containerlab"}) {
    for (const auto& entry : fs::directory_iterator(kExamples / dir)) {
      if (entry.path().extension() != ".yaml") continue;
      auto r = check(slurp(entry.path()), entry.path().filename());
      EXPECT_EQ(r.exit_code, 0) << entry.path() << ": " << r.err;
      ++checked;
    }
  }
  EXPECT_GE(checked, 6);
}

TEST(Examples, TheDaemonSetsTemplateRendersToAValidConfiguration) {
  auto docs = YAML::LoadAll(slurp(kExamples / "kubernetes" / "tern.yaml"));
  std::string tmpl;
  for (const auto& d : docs) {
    if (d["kind"].as<std::string>() == "ConfigMap") tmpl = d["data"]["ternd.yaml.in"].as<std::string>();
  }
  ASSERT_FALSE(tmpl.empty());
  for (auto [var, value] : {std::pair{"\\$\\{NODE_NAME\\}", "worker-7"}, std::pair{"\\$\\{NODE_IP\\}", "10.0.1.17"},
                            std::pair{"\\$\\{POD_CIDR\\}", "10.244.7.0/24"}}) {
    tmpl = std::regex_replace(tmpl, std::regex(var), value);
  }
  auto r = check(tmpl, "rendered.yaml");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(Examples, EveryJsonAndYamlFileParses) {
  int parsed = 0;
  for (const auto& entry : fs::recursive_directory_iterator(kExamples)) {
    auto ext = entry.path().extension();
    if (ext == ".conflist" || ext == ".json") {
      auto j = nlohmann::json::parse(slurp(entry.path()));
      EXPECT_EQ(j["cniVersion"], "1.1.0") << entry.path();
      for (const auto& plugin : j["plugins"]) EXPECT_TRUE(plugin.contains("type")) << entry.path();
      ++parsed;
    } else if (ext == ".yaml" || ext == ".yml") {
      EXPECT_NO_THROW(YAML::LoadAll(slurp(entry.path()))) << entry.path();
      ++parsed;
    }
  }
  EXPECT_GE(parsed, 9);
}

}  // namespace
}  // namespace tern
