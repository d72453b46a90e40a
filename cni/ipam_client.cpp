#include "cni/ipam_client.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cni/names.hpp"
#include "cni/plugin.hpp"

namespace tern::cni::ipam {
namespace {

using nlohmann::json;

// ternd's answer: not reachable or not answering is "try again later" (ternd may be
// starting); `unreachable` is set instead, for the callers that fall back.
admin::Response check(const Result<admin::Response>& response, bool* unreachable) {
  if (!response) {
    if (unreachable) {
      *unreachable = true;
      return {};
    }
    throw Failure(Code::kTryAgainLater, "ternd: " + response.error().message);
  }
  if (response->has_error()) {
    const auto& e = response->error();
    if (e.kind() == admin::Error::EXHAUSTED) {
      // ternd's message names the full blocks and what frees an address.
      throw Failure(Code::kAddressesExhausted, e.message());
    }
    Code code = e.kind() == admin::Error::INVALID_ARGUMENT ? Code::kInvalidConfig
                : e.kind() == admin::Error::UNAVAILABLE    ? Code::kTryAgainLater
                                                            : Code::kInternal;
    throw Failure(code, "ternd: " + e.message());
  }
  return *response;
}

admin::Response call(const Conf& conf, const admin::Request& request, bool* unreachable = nullptr) {
  auto client = admin::Client::connect(conf.socket, conf.timeout);
  return check(client ? client->call(request) : Result<admin::Response>(client.error()), unreachable);
}

admin::Attachment attachment(const Environment& env) {
  admin::Attachment a;
  a.set_container_id(env.container_id);
  a.set_ifname(env.ifname);
  return a;
}

void write_all(int fd, const std::string& data, const std::string& path) {
  for (size_t done = 0; done < data.size();) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Failure(Code::kIo, "spool " + path + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
}

// The release as a file ternd applies at start: written whole, synced, then renamed into
// place, so ternd never reads half a request.
void spool_release(const Conf& conf, const Environment& env) {
  if (::mkdir(conf.spool_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw Failure(Code::kIo, "ternd is down and the spool " + conf.spool_dir + " cannot be made: " + std::strerror(errno));
  }
  char suffix[17];
  std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(stable_hash(env.ifname)));
  std::string name = conf.spool_dir + "/" + env.container_id + "." + suffix;
  std::string tmp = name + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw Failure(Code::kIo, "spool " + tmp + ": " + std::strerror(errno));
  try {
    write_all(fd, env.container_id + "\n" + env.ifname + "\n", tmp);
  } catch (...) {
    ::close(fd);
    throw;
  }
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), name.c_str()) != 0) {
    throw Failure(Code::kIo, "spool " + name + ": " + std::strerror(errno));
  }
  int dir = ::open(conf.spool_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace

Conf parse_conf(const NetConf& net) {
  Conf conf;
  auto it = net.raw.find("ipam");
  if (it == net.raw.end() || !it->is_object()) throw Failure(Code::kInvalidConfig, "ipam: required, an object");
  const json& ipam = *it;
  if (auto socket = string_field(ipam, "socket", "ipam.")) conf.socket = *socket;
  if (auto spool = string_field(ipam, "spoolDir", "ipam.")) conf.spool_dir = *spool;
  if (auto ms = uint_field(ipam, "timeoutMs", "ipam.", 600000)) conf.timeout = std::chrono::milliseconds(*ms);
  if (auto f = ipam.find("families"); f != ipam.end()) {
    if (!f->is_array()) throw Failure(Code::kInvalidConfig, "ipam.families: must be an array of \"ipv4\", \"ipv6\"");
    for (const auto& family : *f) {
      if (family != "ipv4" && family != "ipv6") {
        throw Failure(Code::kInvalidConfig, "ipam.families: " + family.dump() + " is neither \"ipv4\" nor \"ipv6\"");
      }
      conf.families.push_back(family.get<std::string>());
    }
  }
  if (ipam.contains("ranges") || ipam.contains("subnet")) {
    throw Failure(Code::kUnsupportedField, "ipam: tern-ipam takes its addresses from ternd's blocks, not ranges or subnet");
  }
  return conf;
}

PendingAdd PendingAdd::start(const Conf& conf, const Environment& env) {
  admin::Request request;
  auto* allocate = request.mutable_ipam_allocate();
  *allocate->mutable_attachment() = attachment(env);
  if (auto ns = env.args.find("K8S_POD_NAMESPACE"); ns != env.args.end()) allocate->set_pod_namespace(ns->second);
  if (auto name = env.args.find("K8S_POD_NAME"); name != env.args.end()) allocate->set_pod_name(name->second);
  for (const auto& f : conf.families) allocate->add_families(f);
  PendingAdd pending;
  auto client = admin::Client::connect(conf.socket, conf.timeout);
  if (!client) {
    pending.failed_ = client.error();
  } else if (auto st = client->send(request); !st) {
    pending.failed_ = st.error();
  } else {
    pending.client_.emplace(std::move(*client));
  }
  return pending;
}

PluginResult PendingAdd::finish() {
  auto reply = check(failed_ ? Result<admin::Response>(*failed_) : client_->receive(), nullptr).ipam_allocate();
  PluginResult result;
  for (const auto& a : reply.addresses()) {
    auto address = IpAddress::parse(a.address());
    if (!address) throw Failure(Code::kDecoding, "ternd gave " + a.address() + ": " + address.error().message);
    result.ips.push_back({*address, address->max_prefix_length(), std::nullopt, std::nullopt});
  }
  return result;
}

void del(const Conf& conf, const Environment& env) {
  admin::Request request;
  *request.mutable_ipam_release()->mutable_attachment() = attachment(env);
  bool unreachable = false;
  call(conf, request, &unreachable);
  if (unreachable) spool_release(conf, env);
}

void check(const Conf& conf, const Environment& env, const PluginResult& prev) {
  admin::Request request;
  request.mutable_ipam();
  auto reply = call(conf, request).ipam();
  for (const auto& a : reply.allocations()) {
    if (a.attachment().container_id() != env.container_id || a.attachment().ifname() != env.ifname) continue;
    for (const auto& ip : prev.ips) {
      if (std::find(a.addresses().begin(), a.addresses().end(), ip.address.to_string()) == a.addresses().end()) {
        throw Failure(Code::kInternal, ip.address.to_string() + " is not allocated to " + env.container_id + "/" + env.ifname);
      }
    }
    return;
  }
  throw Failure(Code::kInternal, "ternd holds no allocation for " + env.container_id + "/" + env.ifname);
}

void status(const Conf& conf) {
  admin::Request request;
  request.mutable_status();
  bool unreachable = false;
  auto reply = call(conf, request, &unreachable);
  if (unreachable) throw Failure(Code::kNotAvailable, "ternd is not reachable on " + conf.socket);
  const auto& blocks = reply.status().blocks();
  bool room = std::any_of(blocks.begin(), blocks.end(), [](const admin::IpamBlock& b) { return b.used() < b.capacity(); });
  if (!room) throw Failure(Code::kNotAvailable, "no free address in the node's blocks");
}

void gc(const Conf& conf, const std::vector<std::pair<std::string, std::string>>& valid_attachments) {
  admin::Request request;
  auto* gc = request.mutable_ipam_gc();
  for (const auto& [container, ifname] : valid_attachments) {
    auto* keep = gc->add_keep();
    keep->set_container_id(container);
    keep->set_ifname(ifname);
  }
  call(conf, request);
}

}  // namespace tern::cni::ipam
