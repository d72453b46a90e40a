// A small HTTP/1.1 server on Boost.Beast for ternd's /metrics, /healthz and /readyz:
// GET only, one request per connection, bounded in size and time, on the io_context
// thread (handlers read live state without locks).
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio.hpp>

#include <functional>
#include <string>

#include "common/result.hpp"

namespace tern::http {

struct Reply {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class Server {
 public:
  using Handler = std::function<Reply(const std::string& path)>;

  Server(boost::asio::io_context& io, boost::asio::ip::tcp::endpoint endpoint, Handler handler);
  Status start();
  void stop();

 private:
  void accept();

  boost::asio::ip::tcp::endpoint endpoint_;
  Handler handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

// "127.0.0.1:9479", "[::1]:9479".
Result<boost::asio::ip::tcp::endpoint> parse_endpoint(const std::string& text);

}  // namespace tern::http
