#include "controller/http/http_server.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <charconv>
#include <memory>

namespace tern::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, const Server::Handler& handler) : stream_(std::move(socket)), handler_(handler) {}

  void start() {
    parser_.body_limit(0);          // GET has no body
    parser_.header_limit(8 * 1024);
    stream_.expires_after(std::chrono::seconds(10));  // a client that dawdles is dropped
    beast::http::async_read(stream_, buffer_, parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (!ec) self->answer();
    });
  }

 private:
  void answer() {
    const auto& request = parser_.get();
    Reply reply;
    if (request.method() != beast::http::verb::get && request.method() != beast::http::verb::head) {
      reply = {405, "text/plain; charset=utf-8", "only GET\n"};
    } else {
      std::string target(request.target());
      reply = handler_(target.substr(0, target.find('?')));
    }
    response_.version(request.version());
    response_.result(reply.status);
    response_.set(beast::http::field::server, "ternd");
    response_.set(beast::http::field::content_type, reply.content_type);
    response_.keep_alive(false);
    if (request.method() != beast::http::verb::head) response_.body() = std::move(reply.body);
    response_.prepare_payload();
    beast::http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code, size_t) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  beast::tcp_stream stream_;
  const Server::Handler& handler_;
  beast::flat_buffer buffer_;
  beast::http::request_parser<beast::http::empty_body> parser_;
  beast::http::response<beast::http::string_body> response_;
};

}  // namespace

Server::Server(asio::io_context& io, tcp::endpoint endpoint, Handler handler)
    : endpoint_(std::move(endpoint)), handler_(std::move(handler)), acceptor_(io) {}

Status Server::start() {
  boost::system::error_code ec;
  acceptor_.open(endpoint_.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint_, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(Errc::kIo, "HTTP on [" + endpoint_.address().to_string() + "]:" +
                                     std::to_string(endpoint_.port()) + ": " + ec.message(), ec.value());
  }
  accept();
  return {};
}

void Server::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

void Server::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) std::make_shared<Connection>(std::move(socket), handler_)->start();
    accept();
  });
}

Result<tcp::endpoint> parse_endpoint(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return make_error(Errc::kInvalidArgument, "'" + text + "' is not ADDRESS:PORT");
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  uint16_t port = 0;
  auto port_text = std::string_view(text).substr(colon + 1);
  auto [end, perr] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (perr != std::errc() || end != port_text.data() + port_text.size() || port == 0) {
    return make_error(Errc::kInvalidArgument, "'" + text + "': bad port");
  }
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return make_error(Errc::kInvalidArgument, "'" + text + "': '" + host + "' is not an IP address");
  return tcp::endpoint(address, port);
}

}  // namespace tern::http
