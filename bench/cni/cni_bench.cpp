// cni_bench: a CNI plugin timed as a runtime calls it. Run inside the node's namespace:
//
//   cni_bench CONFIG.json PLUGIN CNI_PATH POD_NETNS_PREFIX N CONCURRENT
//
// POD_NETNS_PREFIX names existing namespaces /var/run/netns/<prefix>0 ... <prefix>K-1 with
// K >= max(N, CONCURRENT). Sequential: N ADDs one after the other (a Pod in each
// namespace), then their N DELs, each call timed from spawn to exit; then CONCURRENT ADDs
// at once, timed until the last exits, and their DELs. Each phase, and the exit, waits
// for the node's links to be back to where they started (see settle()). Prints one line
// of key=value figures (milliseconds; peak resident set in KiB of one more ADD and its
// DEL, run from the small static cni_rss_launcher: a spawned child's ru_maxrss would
// count this program's memory).
#include <fcntl.h>
#include <net/if.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

struct Plugin {
  std::string binary, cni_path, config;
};

struct Running {
  pid_t pid = -1;
  int in = -1;
  int out = -1;  // the plugin's stdout (a result or an error object: well under a pipe's 64 KiB)
  Clock::time_point start;
};

// `launcher`: run the plugin through cni_rss_launcher, which writes its peak RSS to `*rss_fd`.
Running spawn(const Plugin& p, const char* command, const std::string& container, const std::string& netns,
              int* rss_fd = nullptr) {
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) std::abort();
  std::vector<std::string> env{std::string("CNI_COMMAND=") + command, "CNI_CONTAINERID=" + container,
                               "CNI_NETNS=" + netns, "CNI_IFNAME=eth0", "CNI_PATH=" + p.cni_path,
                               "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=" + container,
                               "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_addclose(&actions, in[1]);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  int rss[2] = {-1, -1};
  if (rss_fd) {
    if (pipe(rss) != 0) std::abort();
    posix_spawn_file_actions_adddup2(&actions, rss[1], 3);
    posix_spawn_file_actions_addclose(&actions, rss[0]);
  }
  std::string argv0 = rss_fd ? RSS_LAUNCHER : p.binary, argv1 = p.binary;
  char* argv[] = {argv0.data(), rss_fd ? argv1.data() : nullptr, nullptr};
  Running r;
  r.start = Clock::now();
  if (posix_spawn(&r.pid, argv0.c_str(), &actions, nullptr, argv, envp.data()) != 0) std::abort();
  posix_spawn_file_actions_destroy(&actions);
  if (rss_fd) {
    close(rss[1]);
    *rss_fd = rss[0];
  }
  close(in[0]);
  close(out[1]);
  r.out = out[0];
  if (write(in[1], p.config.data(), p.config.size()) != static_cast<ssize_t>(p.config.size())) std::abort();
  close(in[1]);
  r.in = -1;
  return r;
}

struct Done {
  double ms;
  long max_rss_kib;
  bool ok;
};

// The first failure's output goes to stderr: the figures of a run with failures mean little.
bool told = false;

Done wait_for(const Running& r) {
  int status = 0;
  rusage usage{};
  while (wait4(r.pid, &status, 0, &usage) < 0) {
  }
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - r.start).count();
  std::string out;
  char chunk[4096];
  for (ssize_t n; (n = read(r.out, chunk, sizeof chunk)) > 0;) out.append(chunk, static_cast<size_t>(n));
  close(r.out);
  bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok && !told) {
    told = true;
    std::fprintf(stderr, "cni_bench: a call failed: %s\n", out.c_str());
  }
  return {ms, usage.ru_maxrss, ok};
}

// The machine's busy CPU time so far, and the time the hypervisor gave to others while a
// CPU wanted to run (/proc/stat's steal): a run with much stolen time says more of the
// host than of the plugin.
struct CpuTicks {
  uint64_t busy = 0, steal = 0;
};
CpuTicks cpu_ticks() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  CpuTicks t;
  stat >> cpu;
  for (int field = 0; field < 8; ++field) {  // user nice system idle iowait irq softirq steal
    uint64_t v = 0;
    stat >> v;
    if (field == 7) {
      t.steal = v;
    } else if (field != 3 && field != 4) {
      t.busy += v;
    }
  }
  return t;
}

// Of the CPU time asked for between two readings, the share stolen (percent).
double stolen_share(const CpuTicks& from, const CpuTicks& to) {
  uint64_t stolen = to.steal - from.steal, wanted = to.busy - from.busy + stolen;
  return wanted ? 100.0 * double(stolen) / double(wanted) : 0;
}

size_t link_count() {
  size_t n = 0;
  if (struct if_nameindex* names = if_nameindex()) {
    for (auto* i = names; i->if_index != 0; ++i) ++n;
    if_freenameindex(names);
  }
  return n;
}

// A plugin may leave part of a DEL's work to its daemon (tern's ternd tears the veth pair
// down after DEL returns). Each phase starts once the node has its links of before, so it
// does not share the kernel's rtnl lock with the phase before (bounded: 60 s).
void settle(size_t links_before) {
  for (int i = 0; i < 600 && link_count() > links_before; ++i) usleep(100 * 1000);
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * double(v.size() - 1) + 0.5))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: cni_bench CONFIG.json PLUGIN CNI_PATH POD_NETNS_PREFIX N CONCURRENT\n");
    return 2;
  }
  std::ifstream in(argv[1]);
  std::stringstream config;
  config << in.rdbuf();
  Plugin plugin{argv[2], argv[3], config.str()};
  std::string prefix = std::string("/var/run/netns/") + argv[4];
  int n = std::atoi(argv[5]), concurrent = std::atoi(argv[6]);

  size_t links_before = link_count();
  CpuTicks ticks_before = cpu_ticks();
  std::vector<double> adds, dels;
  int failures = 0;
  for (int i = 0; i < n; ++i) {
    auto add = wait_for(spawn(plugin, "ADD", "bench-seq" + std::to_string(i), prefix + std::to_string(i)));
    failures += !add.ok;
    adds.push_back(add.ms);
  }
  for (int i = 0; i < n; ++i) {
    auto del = wait_for(spawn(plugin, "DEL", "bench-seq" + std::to_string(i), prefix + std::to_string(i)));
    failures += !del.ok;
    dels.push_back(del.ms);
  }
  settle(links_before);

  std::vector<Running> running;
  CpuTicks ticks_together = cpu_ticks();
  auto t0 = Clock::now();
  for (int i = 0; i < concurrent; ++i) {
    running.push_back(spawn(plugin, "ADD", "bench-par" + std::to_string(i), prefix + std::to_string(i)));
  }
  for (const auto& r : running) failures += !wait_for(r).ok;
  double together = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  double steal_together = stolen_share(ticks_together, cpu_ticks());
  for (int i = 0; i < concurrent; ++i) {
    failures += !wait_for(spawn(plugin, "DEL", "bench-par" + std::to_string(i), prefix + std::to_string(i))).ok;
  }
  settle(links_before);

  long rss = 0;
  for (const char* command : {"ADD", "DEL"}) {
    int fd = -1;
    failures += !wait_for(spawn(plugin, command, "bench-rss", prefix + "0", &fd)).ok;
    char text[32] = {};
    if (read(fd, text, sizeof text - 1) > 0) rss = std::max(rss, std::atol(text));
    close(fd);
  }

  std::printf("add_median=%.2f add_p99=%.2f del_median=%.2f del_p99=%.2f concurrent=%d concurrent_total=%.1f "
              "concurrent_steal_pct=%.0f max_rss_kib=%ld steal_pct=%.0f failures=%d\n",
              percentile(adds, 0.5), percentile(adds, 0.99), percentile(dels, 0.5), percentile(dels, 0.99),
              concurrent, together, steal_together, rss, stolen_share(ticks_before, cpu_ticks()), failures);
  settle(links_before);  // the next run starts on a node with its links of before
  return failures ? 1 : 0;
}
