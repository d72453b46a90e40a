// ternd's side of the admin socket: a unix stream socket that only root may open (mode
// 0600 and the peer's credentials checked), serving length-delimited protobuf requests on
// the io_context thread. Requests are answered in order; a malformed one closes its
// connection and nothing else. A handler may answer later (an IPAM allocation waits for its
// batch's fdatasync): the connection reads its next request only once the reply is out.
// A request may bring a descriptor with its bytes (SCM_RIGHTS: tern's CNI call passes the
// Pod's network namespace); the handler gets it, and an unwanted one closes with it.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio.hpp>

#include <functional>
#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "proto/admin.pb.h"

namespace tern::admin {

class AdminServer {
 public:
  using Handler = std::function<Response(const Request&)>;
  // Called once, on the io_context thread, with the request's response.
  using Reply = std::function<void(Response)>;
  using AsyncHandler = std::function<void(const Request&, UniqueFd passed, Reply)>;

  AdminServer(boost::asio::io_context& io, std::string path, Handler handler);
  AdminServer(boost::asio::io_context& io, std::string path, AsyncHandler handler);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Creates the socket's directory, replaces a stale socket file (refuses when another
  // ternd answers on it), binds, restricts it to root and listens.
  Status start();
  void stop();

 private:
  void accept();

  boost::asio::io_context& io_;
  std::string path_;
  AsyncHandler handler_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  bool bound_ = false;
};

}  // namespace tern::admin
