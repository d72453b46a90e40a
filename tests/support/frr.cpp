#include "tests/support/frr.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace tern::testing {

namespace {

int read_pid(const std::string& path) {
  std::ifstream in(path);
  int pid = -1;
  in >> pid;
  return pid;
}

bool alive(int pid) { return pid > 0 && kill(pid, 0) == 0; }

}  // namespace

Frr::Frr(const Netns& ns, const std::string& config, std::vector<std::string> daemons)
    : ns_(ns.name()), dir_("/tmp/" + ns.name() + "-frr"), run_dir_("/var/run/frr/" + ns.name()),
      daemons_(std::move(daemons)) {
  std::filesystem::create_directories(dir_);
  std::filesystem::create_directories(run_dir_);
  {
    std::ofstream out(dir_ + "/frr.conf");
    out << "log file " << dir_ << "/frr.log\n" << config;
  }
  // The daemons drop to user frr: it must read the config and write the log and sockets.
  sh("chown -R frr:frr '" + dir_ + "' '" + run_dir_ + "'");
  start_daemon("zebra");
  bool ready = wait_until([&] { return std::filesystem::exists(run_dir_ + "/zserv.api"); }, std::chrono::seconds(10));
  EXPECT_TRUE(ready) << "zebra did not create zserv.api in " << run_dir_ << "\n" << log();
  for (const auto& d : daemons_) start_daemon(d);
}

Frr::~Frr() {
  for (auto it = daemons_.rbegin(); it != daemons_.rend(); ++it) stop_daemon(*it);
  stop_daemon("zebra");
  std::filesystem::remove_all(run_dir_);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir_);  // keep logs of a failure
}

void Frr::start_daemon(const std::string& daemon) {
  auto r = run({"ip", "netns", "exec", ns_, "/usr/lib/frr/" + daemon, "-d", "-N", ns_, "-f", dir_ + "/frr.conf", "-i",
                run_dir_ + "/" + daemon + ".pid"},
               std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, 0) << daemon << ": " << r.err;
  bool up = wait_until([&] { return alive(read_pid(run_dir_ + "/" + daemon + ".pid")); }, std::chrono::seconds(10));
  EXPECT_TRUE(up) << daemon << " did not start\n" << log();
}

void Frr::stop_daemon(const std::string& daemon) {
  auto pid_file = run_dir_ + "/" + daemon + ".pid";
  int pid = read_pid(pid_file);
  if (!alive(pid)) return;
  kill(pid, SIGTERM);
  // A zebra holding many routes needs a while to exit (TESTING.md); then SIGKILL.
  if (!wait_until([&] { return !alive(pid); }, std::chrono::seconds(30))) {
    kill(pid, SIGKILL);
    wait_until([&] { return !alive(pid); }, std::chrono::seconds(5));
  }
  std::filesystem::remove(pid_file);
}

nlohmann::json Frr::show_json(const std::string& command) const {
  auto r = run({"vtysh", "-N", ns_, "-c", command}, std::chrono::seconds(20));
  if (r.exit_code != 0) {
    ADD_FAILURE() << "vtysh -c '" << command << "': " << r.err;
    return {};
  }
  auto parsed = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) ADD_FAILURE() << "vtysh -c '" << command << "' gave no JSON: " << r.out;
  return parsed;
}

CommandResult Frr::vtysh(const std::vector<std::string>& commands) const {
  std::vector<std::string> argv{"vtysh", "-N", ns_};
  for (const auto& c : commands) {
    argv.push_back("-c");
    argv.push_back(c);
  }
  return run(argv, std::chrono::seconds(20));
}

std::string Frr::log() const {
  std::ifstream in(dir_ + "/frr.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace tern::testing
