#include "tests/support/ternd.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <sstream>

namespace tern::testing {

using namespace std::chrono_literals;

const char* Ternd::binary() { return TERND; }
const char* Ternd::ctl_binary() { return TERNCTL; }

Ternd::Ternd(const Netns& ns, const std::string& yaml) : netns_(ns.name()) {
  static std::atomic<int> n = 0;
  dir_ = std::filesystem::temp_directory_path() / (ns.name() + "-ternd-" + std::to_string(n++));
  std::filesystem::create_directories(dir_);
  write_config(yaml);
  start();
}

void Ternd::start() {
  daemon_ = std::make_unique<Daemon>(
      std::vector<std::string>{"ip", "netns", "exec", netns_, TERND, "--config", dir_ / "ternd.yaml"},
      dir_ / "ternd.log");
}

int Ternd::stop(int sig) { return daemon_->stop(sig); }

Ternd::~Ternd() {
  daemon_.reset();
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir_);
}

void Ternd::write_config(const std::string& yaml) {
  std::ofstream out(dir_ / "ternd.yaml");
  out << yaml << "\nadmin: {socket: " << (dir_ / "ternd.sock").string() << "}\n";
  // Every ternd keeps its allocations apart (the journal is locked by one ternd).
  if (yaml.find("\nipam:") == std::string::npos && yaml.rfind("ipam:", 0) != 0) {
    out << "ipam: {state_dir: " << (dir_ / "state").string() << "}\n";
  }
}

void Ternd::reload(const std::string& yaml) {
  write_config(yaml);
  EXPECT_EQ(kill(daemon_->pid(), SIGHUP), 0);
}

CommandResult Ternd::ternctl(std::vector<std::string> args) const {
  args.insert(args.begin(), TERNCTL);
  args.push_back("--socket");
  args.push_back(dir_ / "ternd.sock");
  return run(args, 10s);
}

nlohmann::json Ternd::ternctl_json(std::vector<std::string> args) const {
  args.push_back("--json");
  auto r = ternctl(args);
  if (r.exit_code != 0 && r.out.empty()) return nlohmann::json{{"error", r.err}};
  try {
    return nlohmann::json::parse(r.out);
  } catch (const std::exception& e) {
    return nlohmann::json{{"error", std::string(e.what()) + ": " + r.out}};
  }
}

nlohmann::json Ternd::peer(const std::string& address) const {
  for (const auto& p : ternctl_json({"peers"}).value("peers", nlohmann::json::array())) {
    if (p["address"] == address) return p;
  }
  return nlohmann::json::object();
}

bool Ternd::established(const std::string& address) const { return peer(address).value("state", "") == "Established"; }

nlohmann::json Ternd::rib_paths(const std::string& prefix) const {
  auto j = ternctl_json({"rib", prefix});
  for (const auto& r : j.value("routes", nlohmann::json::array())) {
    if (r["prefix"] == prefix) return r["paths"];
  }
  return nlohmann::json::array();
}

std::string Ternd::log() const {
  std::ifstream in(dir_ / "ternd.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace tern::testing
