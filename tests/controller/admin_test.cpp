// The admin socket: framing, a round trip, a passed descriptor, root-only access, a second
// ternd refused, a stale socket file replaced, and a malformed request costing only its own
// connection.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include "controller/admin/admin_server.hpp"
#include "proto/admin_client.hpp"

namespace tern::admin {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

TEST(Framing, RoundTripsAndWaitsForWholeMessages) {
  Response r;
  r.mutable_error()->set_message(std::string(300, 'x'));  // a two-byte varint length
  std::string framed = frame(r);
  EXPECT_EQ(static_cast<uint8_t>(framed[0]) & 0x80, 0x80);
  for (size_t cut = 0; cut < framed.size(); ++cut) {
    auto partial = unframe(std::string_view(framed).substr(0, cut));
    ASSERT_TRUE(partial);
    EXPECT_FALSE(*partial) << "cut at " << cut;
  }
  std::string stream = framed + "next";
  auto whole = unframe(stream);
  ASSERT_TRUE(whole && *whole);
  EXPECT_EQ((*whole)->consumed, framed.size());
  Response back;
  ASSERT_TRUE(back.ParseFromArray((*whole)->body.data(), static_cast<int>((*whole)->body.size())));
  EXPECT_EQ(back.error().message(), r.error().message());
}

TEST(Framing, RefusesOversizeAndOverlongLengths) {
  EXPECT_FALSE(unframe("\xff\xff\xff\xff\x0f"));        // 4 GiB
  EXPECT_FALSE(unframe("\x80\x80\x80\x80\x80\x01"));    // a sixth varint byte
  EXPECT_TRUE(unframe(std::string_view("\x80\x80\x80", 3)));  // merely incomplete
}

class AdminSocket : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tern-admin-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "run" / "ternd.sock").string();
  }
  void TearDown() override {
    stop();
    std::filesystem::remove_all(dir_);
  }

  // A server whose handler echoes the number of peers asked for as peers in the reply.
  Status start() {
    server_ = std::make_unique<AdminServer>(io_, path_, [](const Request& request) {
      Response response;
      if (request.has_peers()) {
        response.mutable_peers()->set_node_name("node-test");
      } else {
        response.mutable_error()->set_message("unknown request");
      }
      return response;
    });
    auto st = server_->start();
    if (st) {
      work_.emplace(asio::make_work_guard(io_));
      thread_ = std::thread([this] { io_.run(); });
    }
    return st;
  }

  void stop() {
    if (thread_.joinable()) {
      asio::post(io_, [this] { server_->stop(); });
      work_.reset();
      io_.stop();
      thread_.join();
    }
    server_.reset();
  }

  Result<Response> ask_peers() {
    auto client = Client::connect(path_, 5s);
    if (!client) return client.error();
    Request request;
    request.mutable_peers();
    return client->call(request);
  }

  std::filesystem::path dir_;
  std::string path_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::unique_ptr<AdminServer> server_;
  std::thread thread_;
};

TEST_F(AdminSocket, AnswersRequestsInOrderOnOneConnection) {
  ASSERT_TRUE(start());
  auto client = Client::connect(path_, 5s);
  ASSERT_TRUE(client) << client.error().message;
  for (int i = 0; i < 3; ++i) {
    Request request;
    request.mutable_peers();
    auto response = client->call(request);
    ASSERT_TRUE(response) << response.error().message;
    EXPECT_EQ(response->peers().node_name(), "node-test");
  }
  auto response = client->call(Request{});  // nothing set: the handler's error
  ASSERT_TRUE(response);
  EXPECT_EQ(response->error().message(), "unknown request");
}

// A handler may answer later (ternd's IPAM after its batch's fdatasync): the reply goes
// out when given, and the connection's next request is read only after it.
TEST_F(AdminSocket, AnswersGivenLaterKeepTheirOrder) {
  std::vector<AdminServer::Reply> held;
  server_ = std::make_unique<AdminServer>(io_, path_, [&](const Request& request, UniqueFd, AdminServer::Reply reply) {
    if (request.has_peers()) {
      held.push_back(std::move(reply));  // answered by the timer below
      return;
    }
    Response response;
    response.mutable_error()->set_message("at once");
    reply(std::move(response));
  });
  ASSERT_TRUE(server_->start());
  asio::steady_timer later(io_);
  std::function<void()> answer_held = [&] {
    later.expires_after(20ms);
    later.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      for (auto& reply : held) {
        Response response;
        response.mutable_peers()->set_node_name("later");
        reply(std::move(response));
      }
      held.clear();
      answer_held();
    });
  };
  answer_held();
  work_.emplace(asio::make_work_guard(io_));
  thread_ = std::thread([this] { io_.run(); });

  auto client = Client::connect(path_, 5s);
  ASSERT_TRUE(client) << client.error().message;
  Request peers;
  peers.mutable_peers();
  ASSERT_TRUE(client->send(peers));
  ASSERT_TRUE(client->send(Request{}));  // pipelined behind the held one
  auto first = client->receive();
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->peers().node_name(), "later");
  auto second = client->receive();
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->error().message(), "at once");
  stop();  // before the timer and `held` go
}

// A descriptor sent with a request's bytes (tern passes the Pod's namespace so) reaches
// that request's handler, open; a request without one gets none.
TEST_F(AdminSocket, ADescriptorPassedWithARequestReachesItsHandler) {
  std::vector<std::string> seen;  // what each request's descriptor read as
  server_ = std::make_unique<AdminServer>(io_, path_, [&](const Request&, UniqueFd passed, AdminServer::Reply reply) {
    char text[16] = {};
    seen.push_back(passed.valid() && ::read(passed.get(), text, sizeof text - 1) > 0 ? text : "none");
    reply(Response{});
  });
  ASSERT_TRUE(server_->start());
  work_.emplace(asio::make_work_guard(io_));
  thread_ = std::thread([this] { io_.run(); });

  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path_.data(), path_.size());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  ASSERT_EQ(::write(pipe_fds[1], "namespace", 9), 9);
  ::close(pipe_fds[1]);
  Request request;
  request.mutable_cni()->set_config("{}");
  std::string framed = frame(request);
  iovec iov{framed.data(), framed.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &pipe_fds[0], sizeof(int));
  ASSERT_EQ(::sendmsg(fd, &msg, 0), static_cast<ssize_t>(framed.size()));
  ::close(pipe_fds[0]);  // the server holds its own copy now
  char buffer[64];
  ASSERT_GT(::read(fd, buffer, sizeof buffer), 0);
  ASSERT_EQ(::write(fd, framed.data(), framed.size()), static_cast<ssize_t>(framed.size()));  // no descriptor
  ASSERT_GT(::read(fd, buffer, sizeof buffer), 0);
  ::close(fd);
  stop();
  EXPECT_EQ(seen, (std::vector<std::string>{"namespace", "none"}));
}

TEST_F(AdminSocket, SocketIsRootOnly) {
  ASSERT_TRUE(start());
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  if (geteuid() != 0) GTEST_SKIP() << "needs root to try as another user";

  // A child that becomes nobody: the file mode stops it; with the mode opened up, the
  // server's credential check still does.
  auto try_as_nobody = [&] {
    pid_t pid = fork();
    if (pid == 0) {
      if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
      Request request;
      request.mutable_peers();
      auto client = Client::connect(path_, 2s);
      if (!client) _exit(client.error().sys_errno == EACCES ? 1 : 4);
      auto response = client->call(request);
      _exit(response ? 0 : 2);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  chmod(dir_.c_str(), 0755);
  chmod((dir_ / "run").c_str(), 0755);
  EXPECT_EQ(try_as_nobody(), 1) << "connect refused by the file mode (EACCES)";
  chmod(path_.c_str(), 0666);
  EXPECT_EQ(try_as_nobody(), 2) << "connected, then closed by the server without an answer";
  auto response = ask_peers();
  EXPECT_TRUE(response) << "root is still served";
}

TEST_F(AdminSocket, SecondServerOnTheSamePathIsRefused) {
  ASSERT_TRUE(start());
  asio::io_context other_io;
  AdminServer other(other_io, path_, [](const Request&) { return Response{}; });
  auto st = other.start();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("another ternd is running"), std::string::npos) << st.error().message;
  EXPECT_TRUE(ask_peers()) << "the first one still answers";
}

TEST_F(AdminSocket, StaleSocketFileIsReplaced) {
  // A socket file that nothing listens on, as a killed ternd leaves it.
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path());
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  close(fd);
  ASSERT_TRUE(std::filesystem::is_socket(path_));
  auto before = Client::connect(path_, 1s);
  ASSERT_FALSE(before);
  EXPECT_EQ(before.error().code, Errc::kUnavailable) << before.error().message;

  ASSERT_TRUE(start());
  EXPECT_TRUE(ask_peers());
}

TEST_F(AdminSocket, MalformedRequestCostsOnlyItsConnection) {
  ASSERT_TRUE(start());
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const char garbage[] = "\xff\xff\xff\xff\x0f garbage";  // a 4 GiB length
  ASSERT_GT(send(fd, garbage, sizeof garbage, MSG_NOSIGNAL), 0);
  char buf[16];
  EXPECT_EQ(recv(fd, buf, sizeof buf, 0), 0) << "the server closes it without an answer";
  close(fd);
  EXPECT_TRUE(ask_peers()) << "and serves the next one";
}

TEST(AdminClient, SaysWhenTerndIsNotRunning) {
  auto client = Client::connect("/nonexistent-tern-dir/ternd.sock", 1s);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, Errc::kUnavailable);
  EXPECT_NE(client.error().message.find("ternd is not running"), std::string::npos);
}

}  // namespace
}  // namespace tern::admin
