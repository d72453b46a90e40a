#include "controller/admin/admin_server.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "proto/admin_client.hpp"

namespace tern::admin {

namespace asio = boost::asio;
using stream = asio::local::stream_protocol;

namespace {

// One client connection: reads requests, answers each in turn.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(stream::socket socket, const AdminServer::AsyncHandler& handler)
      : socket_(std::move(socket)), handler_(handler) {}

  void start() { read(); }

 private:
  // recvmsg, not a plain read: a request may bring a descriptor (SCM_RIGHTS). It goes
  // with the request being read; more than one is closed.
  void read() {
    socket_.async_wait(stream::socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;  // closed
      self->receive();
    });
  }

  void receive() {
    iovec iov{chunk_.data(), chunk_.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(socket_.native_handle(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return read();
    if (n <= 0) return;  // the client went away (or the socket failed): dropping the last reference closes it
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (passed_.valid()) {
          ::close(fd);
        } else {
          passed_.reset(fd);
        }
      }
    }
    buffer_.append(chunk_.data(), static_cast<size_t>(n));
    serve();
  }

  void serve() {
    auto unframed = unframe(buffer_);
    if (!unframed) {
      spdlog::warn("admin socket: {}; connection closed", unframed.error().message);
      return;  // dropping the last reference closes the socket
    }
    if (!*unframed) {
      read();
      return;
    }
    Request request;
    bool parsed = request.ParseFromArray((*unframed)->body.data(), static_cast<int>((*unframed)->body.size()));
    buffer_.erase(0, (*unframed)->consumed);
    if (!parsed) {
      Response response;
      response.mutable_error()->set_message("a request that does not parse");
      send(std::move(response));
      return;
    }
    handler_(request, std::move(passed_),
             [self = shared_from_this()](Response response) { self->send(std::move(response)); });
  }

  void send(Response response) {
    out_ = frame(response);
    asio::async_write(socket_, asio::buffer(out_), [self = shared_from_this()](boost::system::error_code ec, size_t) {
      if (!ec) self->serve();  // the next request may already be buffered
    });
  }

  stream::socket socket_;
  const AdminServer::AsyncHandler& handler_;
  std::array<char, 16384> chunk_;
  std::string buffer_;
  std::string out_;
  UniqueFd passed_;
};

bool root_peer(stream::socket& socket) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  return cred.uid == 0;
}

}  // namespace

AdminServer::AdminServer(asio::io_context& io, std::string path, Handler handler)
    : AdminServer(io, std::move(path),
                  AsyncHandler([h = std::move(handler)](const Request& request, UniqueFd, Reply reply) {
                    reply(h(request));
                  })) {}

AdminServer::AdminServer(asio::io_context& io, std::string path, AsyncHandler handler)
    : io_(io), path_(std::move(path)), handler_(std::move(handler)), acceptor_(io) {}

AdminServer::~AdminServer() { stop(); }

Status AdminServer::start() {
  namespace fs = std::filesystem;
  std::error_code fs_ec;
  fs::path dir = fs::path(path_).parent_path();
  if (!dir.empty()) fs::create_directories(dir, fs_ec);
  if (fs_ec) return make_error(Errc::kIo, "admin socket directory " + dir.string() + ": " + fs_ec.message());

  if (fs::exists(fs::symlink_status(path_))) {
    if (!fs::is_socket(fs::symlink_status(path_))) {
      return make_error(Errc::kAlreadyExists, "admin socket " + path_ + ": exists and is not a socket");
    }
    if (Client::connect(path_, std::chrono::milliseconds(500))) {
      return make_error(Errc::kAlreadyExists, "admin socket " + path_ + ": another ternd is running on it");
    }
    fs::remove(path_, fs_ec);  // left by a ternd that did not stop cleanly
  }

  boost::system::error_code ec;
  acceptor_.open(stream(), ec);
  // The socket file is created with the umask applied to 0777: make it 0600 from birth,
  // so there is no moment where others may connect.
  mode_t old_umask = ::umask(0177);
  if (!ec) acceptor_.bind(stream::endpoint(path_), ec);
  ::umask(old_umask);
  if (ec) return make_error(Errc::kIo, "admin socket " + path_ + ": " + ec.message(), ec.value());
  bound_ = true;
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return make_error(Errc::kIo, "admin socket " + path_ + ": listen: " + ec.message(), ec.value());
  accept();
  return {};
}

void AdminServer::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  if (bound_) {
    std::error_code fs_ec;
    std::filesystem::remove(path_, fs_ec);
    bound_ = false;
  }
}

void AdminServer::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, stream::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      if (root_peer(socket)) {
        std::make_shared<Connection>(std::move(socket), handler_)->start();
      } else {
        spdlog::warn("admin socket: a connection from a non-root user refused");
      }
    }
    accept();
  });
}

}  // namespace tern::admin
