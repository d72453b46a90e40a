#include "controller/ternd/cni_service.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include <map>
#include <optional>

#include "cni/plugin.hpp"
#include "cni/spec.hpp"
#include "cni/tern_plugin.hpp"

namespace tern::ternd {

namespace {

struct Ran {
  std::optional<cni::Command> command;  // unset when declined
  cni::Outcome outcome;
  std::string reason;  // why declined
};

Ran run(const admin::CniRequest& request, const UniqueFd& netns, const std::string& admin_socket) {
  std::map<std::string, std::string> vars;
  for (const auto& e : request.env()) {
    auto eq = e.find('=');
    if (eq != std::string::npos && e.compare(0, 4, "CNI_") == 0) vars[e.substr(0, eq)] = e.substr(eq + 1);
  }
  auto getenv = [&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
  cni::Environment env;
  try {
    env = cni::parse_environment(getenv);
  } catch (const cni::Failure& f) {
    return {std::nullopt, {}, std::string("the environment: ") + f.what()};  // tern-standalone tells the runtime
  }
  if (!env.netns.empty() && !netns.valid()) return {std::nullopt, {}, "CNI_NETNS came without its namespace"};
  auto socket = cni::tern_ipam_socket(request.config(), env.command);
  if (socket != admin_socket) return {std::nullopt, {}, "its IPAM is not tern-ipam on this ternd's socket"};
  std::string netns_path = netns.valid() ? "/proc/self/fd/" + std::to_string(netns.get()) : "";
  return {env.command, cni::run_command(cni::handle_tern, getenv, request.config(), netns_path), ""};
}

}  // namespace

CniService::CniService(boost::asio::any_io_executor io, std::string admin_socket)
    : io_(std::move(io)), admin_socket_(std::move(admin_socket)) {}

CniService::~CniService() { workers_.join(); }

void CniService::call(const admin::CniRequest& request, UniqueFd netns, admin::AdminServer::Reply reply) {
  auto fd = std::make_shared<UniqueFd>(std::move(netns));
  boost::asio::post(workers_, [this, request, fd, reply = std::move(reply), alive = std::weak_ptr<int>(alive_)] {
    Ran ran = run(request, *fd, admin_socket_);
    fd->reset();
    boost::asio::post(io_, [this, ran = std::move(ran), reply, alive] {
      if (alive.expired()) return;  // ternd is stopping
      admin::Response response;
      auto* out = response.mutable_cni();
      if (!ran.command) {
        ++counters_.declined;
        spdlog::debug("cni: a call left to tern-standalone: {}", ran.reason);
        out->set_reason(ran.reason);
      } else {
        auto i = static_cast<size_t>(*ran.command);
        ++counters_.run[i];
        if (ran.outcome.status != 0) ++counters_.failed[i];
        out->set_served(true);
        out->set_exit_status(ran.outcome.status);
        out->set_output(ran.outcome.output);
      }
      reply(std::move(response));
    });
  });
}

}  // namespace tern::ternd
