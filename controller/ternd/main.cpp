// ternd: the node controller. It holds the node's BGP sessions, installs the best paths in
// the kernel, hands out Pod addresses to the CNI plugin (IPAM), and answers on its admin
// socket, /metrics, /healthz and /readyz.
//
//   ternd --config FILE          run
//   ternd --check-config FILE    validate and exit (0 valid, 1 with the error on stderr)
//
// SIGHUP reloads the file and applies what changed to the peers; SIGINT/SIGTERM end every
// session with Cease / Administrative Shutdown.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <iostream>

#include "common/log.hpp"
#include "controller/admin/admin_server.hpp"
#include "controller/ternd/admin_api.hpp"
#include "controller/ternd/cni_service.hpp"
#include "controller/ternd/config.hpp"
#include "controller/ternd/ipam_service.hpp"
#include "controller/ternd/link_reaper.hpp"
#include "controller/ternd/metrics.hpp"
#include "controller/ternd/node.hpp"

int main(int argc, char** argv) {
  CLI::App app{"ternd — the tern node controller"};
  std::string config_path, check_path;
  auto* run = app.add_option("--config", config_path, "the node's YAML configuration");
  auto* check = app.add_option("--check-config", check_path, "validate a configuration and exit");
  run->excludes(check);
  CLI11_PARSE(app, argc, argv);
  if (config_path.empty() && check_path.empty()) {
    std::cerr << app.help();
    return 2;
  }

  auto config = tern::ternd::load_config(check_path.empty() ? config_path : check_path);
  if (!config) {
    std::cerr << "ternd: " << config.error().message << '\n';
    return 1;
  }
  if (!check_path.empty()) {
    std::cout << check_path << ": valid (" << config->peers.size() << " peers, "
              << config->dynamic_neighbors.size() << " dynamic neighbour ranges)\n";
    return 0;
  }
  if (auto st = tern::log::init("ternd", config->log_level); !st) {
    std::cerr << "ternd: " << st.error().message << '\n';
    return 1;
  }

  namespace asio = boost::asio;
  asio::io_context io;
  // The node installs best paths in the kernel itself; here they are logged at debug.
  tern::ternd::Node node(io, *config, [](const tern::bgp::rib::BestChange& c) {
    if (spdlog::should_log(spdlog::level::debug)) {
      std::string via;
      for (const auto& nh : c.next_hops) via += " " + nh.to_string();
      spdlog::debug("best path {}: {}", c.prefix.to_string(),
                    c.local ? "local" : (via.empty() ? "gone" : "via" + via));
    }
  });
  // IPAM before the admin socket: tern-ipam's first request finds every allocation the
  // last run made (and the releases spooled meanwhile) in place.
  auto ipam = tern::ternd::IpamService::open(*config, io.get_executor());
  if (!ipam) {
    spdlog::critical("ipam: {}", ipam.error().message);
    return 1;
  }
  auto reaper = tern::ternd::LinkReaper::start();
  if (!reaper) {
    spdlog::critical("netlink: {}", reaper.error().message);
    return 1;
  }
  auto started = std::chrono::steady_clock::now();
  auto answer = [&](const tern::admin::Request& request) {
    tern::admin::Response response;
    auto now = std::chrono::steady_clock::now();
    switch (request.what_case()) {
      case tern::admin::Request::kIpamRelease: return (*ipam)->release(request.ipam_release());
      case tern::admin::Request::kIpamGc: return (*ipam)->gc(request.ipam_gc());
      case tern::admin::Request::kIpam:
        (*ipam)->apply_spool();
        *response.mutable_ipam() = (*ipam)->show();
        break;
      case tern::admin::Request::kDeleteLink:
        (*reaper)->delete_link(static_cast<int>(request.delete_link().ifindex()), request.delete_link().name());
        response.mutable_delete_link();
        break;
      case tern::admin::Request::kRoutes:
        *response.mutable_routes() = tern::ternd::routes_reply(node, request.routes());
        break;
      case tern::admin::Request::kStatus:
        *response.mutable_status() = tern::ternd::status_reply(node, **ipam, now - started);
        break;
      case tern::admin::Request::kPeers:
        *response.mutable_peers() = tern::ternd::peers_reply(node, now);
        break;
      case tern::admin::Request::kRib:
        *response.mutable_rib() = tern::ternd::rib_reply(node.rib(), request.rib());
        break;
      default:
        response.mutable_error()->set_message("this ternd does not know the request (a newer ternctl?)");
    }
    return response;
  };
  tern::ternd::CniService cni(io.get_executor(), config->admin_socket);
  // An allocation is answered once its batch is durable, a CNI call once a worker has
  // run it; everything else at once.
  tern::admin::AdminServer admin(
      io, config->admin_socket,
      [&](const tern::admin::Request& request, tern::UniqueFd passed, tern::admin::AdminServer::Reply reply) {
        if (request.has_ipam_allocate()) {
          (*reaper)->busy();  // a Pod is being added: its ADD first
          (*ipam)->allocate(request.ipam_allocate(), std::move(reply));
        } else if (request.has_cni()) {
          cni.call(request.cni(), std::move(passed), std::move(reply));
        } else {
          reply(answer(request));
        }
      });
  if (auto st = admin.start(); !st) {
    spdlog::critical("{}", st.error().message);
    return 1;
  }
  // The spool fills only while ternd is down, and was applied at open; once more now the
  // socket listens (a DEL that found it closed a moment ago), then now and then, so an
  // ADD never scans a directory.
  asio::steady_timer spool_timer(io);
  std::function<void()> apply_spool = [&] {
    (*ipam)->apply_spool();
    spool_timer.expires_after(std::chrono::seconds(10));
    spool_timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) apply_spool();
    });
  };
  apply_spool();
  std::optional<tern::http::Server> http;
  if (!config->http_listen.empty()) {
    http.emplace(io, *tern::http::parse_endpoint(config->http_listen), [&](const std::string& path) {
      if (path == "/metrics") {
        return tern::http::Reply{200, "text/plain; version=0.0.4; charset=utf-8",
                                 tern::ternd::render_metrics(node, std::chrono::steady_clock::now()) +
                                     tern::ternd::render_ipam_metrics(**ipam) + tern::ternd::render_cni_metrics(cni)};
      }
      if (path == "/healthz") return tern::http::Reply{200, "text/plain; charset=utf-8", "ok\n"};
      if (path == "/readyz") return tern::ternd::readiness(node);
      return tern::http::Reply{404, "text/plain; charset=utf-8", "/metrics, /healthz, /readyz\n"};
    });
    if (auto st = http->start(); !st) {
      spdlog::critical("{}", st.error().message);
      return 1;
    }
  }
  if (auto st = node.start(); !st) {
    spdlog::critical("{}", st.error().message);
    return 1;
  }
  spdlog::info("ternd {} AS {} router-id {}: {} peers, {} blocks announced", config->node_name, config->asn,
               config->router_id.to_string(), config->peers.size(), config->blocks.size());

  // SIGHUP: read the file again and apply what changed to the peers; a file with a
  // mistake is refused whole and the running configuration stays.
  asio::signal_set hangup(io, SIGHUP);
  std::function<void()> wait_for_hangup = [&] {
    hangup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      auto fresh = tern::ternd::load_config(config_path);
      if (!fresh) {
        spdlog::error("SIGHUP: {}: the running configuration stays", fresh.error().message);
      } else {
        if (fresh->asn != config->asn || fresh->router_id != config->router_id ||
            fresh->listen_port != config->listen_port || fresh->listen_addresses != config->listen_addresses ||
            fresh->admin_socket != config->admin_socket) {
          spdlog::warn("SIGHUP: the node's AS, router ID, listening addresses and admin socket change only on a "
                       "restart; the peers are reloaded");
        }
        if (auto st = node.reload(*fresh); !st) spdlog::error("SIGHUP: {}", st.error().message);
        spdlog::info("SIGHUP: configuration reloaded: {} peers, {} dynamic neighbour ranges", fresh->peers.size(),
                     fresh->dynamic_neighbors.size());
      }
      wait_for_hangup();
    });
  };
  wait_for_hangup();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    spdlog::info("signal {}: shutting down", sig);
    hangup.cancel();
    spool_timer.cancel();
    if (http) http->stop();
    node.stop("ternd shutting down");
    admin.stop();
    // Give the NOTIFICATIONs a moment to leave (the sockets linger until the peers close).
    auto deadline = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(200));
    deadline->async_wait([&io, deadline](const boost::system::error_code&) { io.stop(); });
  });
  io.run();
  return 0;
}
