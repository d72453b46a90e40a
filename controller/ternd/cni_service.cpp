#include "controller/ternd/cni_service.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include <map>
#include <optional>

#include "cni/tern_plugin.hpp"

namespace tern::ternd {

namespace {

// The call's outcome, or nullopt with why it was declined.
struct Ran {
  std::optional<cni::Outcome> outcome;
  std::string reason;
};

Ran run(const admin::CniRequest& request, const UniqueFd& netns, const std::string& admin_socket) {
  std::map<std::string, std::string> vars;
  for (const auto& e : request.env()) {
    auto eq = e.find('=');
    if (eq != std::string::npos && e.compare(0, 4, "CNI_") == 0) vars[e.substr(0, eq)] = e.substr(eq + 1);
  }
  auto named = vars.find("CNI_NETNS");
  if (named != vars.end() && !named->second.empty() && !netns.valid()) {
    return {std::nullopt, "CNI_NETNS came without its namespace"};
  }
  auto getenv = [&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
  std::string netns_path = netns.valid() ? "/proc/self/fd/" + std::to_string(netns.get()) : "";
  auto outcome = cni::run_tern_for_ternd(admin_socket, getenv, request.config(), netns_path);
  if (!outcome) return {std::nullopt, "its IPAM is not tern-ipam on this ternd's socket"};
  return {std::move(outcome), ""};
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
      if (!ran.outcome) {
        ++counters_.declined;
        spdlog::debug("cni: a call left to tern-standalone: {}", ran.reason);
        out->set_reason(ran.reason);
      } else {
        if (ran.outcome->command) {  // else an environment that does not parse
          auto i = static_cast<size_t>(*ran.outcome->command);
          ++counters_.run[i];
          if (ran.outcome->status != 0) ++counters_.failed[i];
        }
        out->set_served(true);
        out->set_exit_status(ran.outcome->status);
        out->set_output(ran.outcome->output);
      }
      reply(std::move(response));
    });
  });
}

}  // namespace tern::ternd
