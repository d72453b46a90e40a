#include "proto/admin_client.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tern::admin {

std::string frame(const google::protobuf::MessageLite& message) {
  std::string body = message.SerializeAsString();
  std::string out;
  size_t n = body.size();
  do {
    uint8_t byte = n & 0x7f;
    n >>= 7;
    out.push_back(static_cast<char>(n ? byte | 0x80 : byte));
  } while (n);
  return out + body;
}

Result<std::optional<Unframed>> unframe(std::string_view buffer) {
  size_t length = 0;
  for (size_t i = 0; i < buffer.size(); ++i) {
    if (i == 5) return make_error(Errc::kMalformed, "admin message: length varint longer than 5 bytes");
    auto byte = static_cast<uint8_t>(buffer[i]);
    length |= static_cast<size_t>(byte & 0x7f) << (7 * i);
    if (byte & 0x80) continue;
    if (length > kMaxMessageSize) {
      return make_error(Errc::kMalformed, "admin message of " + std::to_string(length) + " bytes: over the limit");
    }
    if (buffer.size() - i - 1 < length) return std::optional<Unframed>();
    return std::optional<Unframed>(Unframed{buffer.substr(i + 1, length), i + 1 + length});
  }
  return std::optional<Unframed>();
}

Result<Client> Client::connect(const std::string& path, std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return make_error(Errc::kInvalidArgument, "admin socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return io_error("socket", errno);
  Client client(fd);
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
    return io_error("setsockopt(SO_RCVTIMEO)", errno);
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    if (err == ENOENT || err == ECONNREFUSED) {
      return make_error(Errc::kUnavailable, "ternd is not running (nothing listens on " + path + ")", err);
    }
    return io_error("connect to " + path, err);
  }
  return client;
}

Client::Client(Client&& other) noexcept : fd_(std::exchange(other.fd_, -1)), buffer_(std::move(other.buffer_)) {}

Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

Result<Response> Client::call(const Request& request) {
  if (auto st = send(request); !st) return st.error();
  return receive();
}

Status Client::send(const Request& request) {
  std::string out = frame(request);
  for (size_t sent = 0; sent < out.size();) {
    ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("admin socket: send", errno);
    sent += static_cast<size_t>(n);
  }
  return {};
}

Result<Response> Client::receive() {
  while (true) {
    auto unframed = unframe(buffer_);
    if (!unframed) return unframed.error();
    if (*unframed) {
      Response response;
      if (!response.ParseFromArray((*unframed)->body.data(), static_cast<int>((*unframed)->body.size()))) {
        return make_error(Errc::kMalformed, "admin socket: a response that does not parse");
      }
      buffer_.erase(0, (*unframed)->consumed);
      return response;
    }
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return make_error(Errc::kTimeout, "admin socket: ternd did not answer in time");
    }
    if (n < 0) return io_error("admin socket: recv", errno);
    if (n == 0) return make_error(Errc::kUnavailable, "admin socket: ternd closed the connection");
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace tern::admin
