// The client side of ternd's admin socket, and the framing both sides share.
//
// Messages are protobuf's "delimited" format: a varint length, then the message. A
// client sends a Request and reads one Response; a connection may carry many in order.
// Blocking and bounded by a timeout: ternctl and the CNI plugins are short-lived callers.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "proto/admin.pb.h"

namespace tern::admin {

inline constexpr const char* kDefaultSocketPath = "/run/tern/ternd.sock";
inline constexpr size_t kMaxMessageSize = 16 << 20;  // far above any reply; bounds a bad peer

// A message with its varint length in front.
std::string frame(const google::protobuf::MessageLite& message);

// The first framed message of `buffer`: its body and how many bytes it took, nullopt if
// the buffer does not hold all of it yet, or an error for a length over kMaxMessageSize.
struct Unframed {
  std::string_view body;
  size_t consumed = 0;
};
Result<std::optional<Unframed>> unframe(std::string_view buffer);

class Client {
 public:
  // Fails with kUnavailable when nothing listens (ternd is not running), with kIo and
  // errno otherwise (EACCES: only root may open the socket).
  static Result<Client> connect(const std::string& path, std::chrono::milliseconds timeout);
  Client(Client&& other) noexcept;
  Client& operator=(Client&& other) noexcept;
  ~Client();

  Result<Response> call(const Request& request);
  // call() in two halves, so a caller can work while ternd answers (a CNI ADD sets up the
  // veth while ternd's journal syncs the allocation).
  Status send(const Request& request);
  Result<Response> receive();

 private:
  explicit Client(int fd) : fd_(fd) {}
  int fd_ = -1;
  std::string buffer_;  // bytes read past the last response
};

}  // namespace tern::admin
