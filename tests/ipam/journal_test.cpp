#include "ipam/journal.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

namespace tern::ipam {
namespace {

Prefix P(const char* text) { return *Prefix::parse(text); }
IpAddress A(const char* text) { return *IpAddress::parse(text); }
AttachmentKey K(int i) { return {"c" + std::to_string(i), "eth0"}; }
Allocation Alloc(int i, std::vector<IpAddress> addrs) {
  return {K(i), "default", "pod-" + std::to_string(i), std::move(addrs), 1700000000u + i};
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream s(text);
  for (std::string line; std::getline(s, line);) out.push_back(line);
  return out;
}

bool mentions(const std::vector<std::string>& repairs, const std::string& what) {
  for (const auto& r : repairs) {
    if (r.find(what) != std::string::npos) return true;
  }
  return false;
}

std::string joined(const std::vector<std::string>& repairs) {
  std::string out;
  for (const auto& r : repairs) out += r + "\n";
  return out;
}

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tern-ipam-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/ipam.journal";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Opens, expecting success.
  std::pair<Journal, Journal::Recovered> open_ok() {
    auto j = Journal::open(path_);
    EXPECT_TRUE(j.ok()) << j.error().message;
    return std::move(j).value();
  }

  std::string dir_, path_;
};

TEST_F(JournalTest, FormatIsOneCheckedRecordPerLine) {
  {
    auto [j, rec] = open_ok();
    EXPECT_TRUE(rec.allocations.empty());
    EXPECT_TRUE(rec.repairs.empty());
    Allocation a{
        {"c0ffee", "eth0"}, "default", "web-1", {A("2001:db8::1"), A("198.18.0.1")}, 1700000000};
    ASSERT_TRUE(j.append_allocate(a).ok());
    ASSERT_TRUE(j.append_release({"c0ffee", "eth0"}).ok());
    EXPECT_EQ(j.records(), 2u);
  }
  // The CRC is zlib's crc32 of everything before the last tab (values from python3 zlib).
  EXPECT_EQ(slurp(path_),
            "tern-ipam-journal 1\n"
            "A\tc0ffee\teth0\tdefault\tweb-1\t1700000000\t198.18.0.1,2001:db8::1\ted78f1d9\n"
            "R\tc0ffee\teth0\t3b69545e\n");
}

TEST_F(JournalTest, RoundTripAcrossReopen) {
  const Prefix v4 = P("198.18.0.0/24"), v6 = P("2001:db8::/64");
  {
    auto [j, rec] = open_ok();
    ASSERT_TRUE(j.append_allocate(Alloc(1, {A("198.18.0.1"), A("2001:db8::1")})).ok());
    ASSERT_TRUE(j.append_allocate(Alloc(2, {A("198.18.0.2")})).ok());
    ASSERT_TRUE(j.append_allocate(Alloc(3, {A("2001:db8::3")})).ok());
    ASSERT_TRUE(j.append_release(K(2)).ok());
    ASSERT_TRUE(j.append_release(K(9)).ok());  // releasing nothing is fine (DEL is idempotent)
    ASSERT_TRUE(
        j.compact({Alloc(1, {A("198.18.0.1"), A("2001:db8::1")}), Alloc(3, {A("2001:db8::3")})},
                  {{v4, A("198.18.0.2")}, {v6, A("2001:db8::3")}})
            .ok());
    EXPECT_EQ(j.records(), 0u);
    // After the compaction: a new hand-out in a known block moves that block's cursor.
    ASSERT_TRUE(j.append_allocate(Alloc(4, {A("198.18.0.3")})).ok());
  }
  auto [j, rec] = open_ok();
  EXPECT_TRUE(rec.repairs.empty()) << joined(rec.repairs);
  ASSERT_EQ(rec.allocations.size(), 3u);
  EXPECT_EQ(rec.allocations[0], Alloc(1, {A("198.18.0.1"), A("2001:db8::1")}));
  EXPECT_EQ(rec.allocations[1], Alloc(3, {A("2001:db8::3")}));
  EXPECT_EQ(rec.allocations[2], Alloc(4, {A("198.18.0.3")}));
  EXPECT_EQ(rec.cursors, (std::vector<std::pair<Prefix, IpAddress>>{{v4, A("198.18.0.3")},
                                                                    {v6, A("2001:db8::3")}}));
  // Counted at open as what a compaction would drop: nothing here, c4 is live.
  EXPECT_EQ(j.records(), 0u);

  // Restoring an Allocator as ternd does: commit each, then set each cursor.
  Allocator alloc({v4, v6}, {});
  for (const auto& a : rec.allocations) ASSERT_TRUE(alloc.commit(a).ok());
  for (const auto& [block, last] : rec.cursors) alloc.set_cursor(block, last);
  auto next = alloc.plan(K(5), {Family::kIpv4, Family::kIpv6}, "", "", 0);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->addresses, (std::vector{A("198.18.0.4"), A("2001:db8::4")}));
}

// Group commit: records written without a sync count as unsynced until one sync() makes
// them all durable; they replay like appended ones.
TEST_F(JournalTest, WrittenRecordsAreDurableAfterOneSync) {
  {
    auto [j, rec] = open_ok();
    ASSERT_TRUE(j.write_allocate(Alloc(1, {A("198.18.0.1")})).ok());
    ASSERT_TRUE(j.write_allocate(Alloc(2, {A("198.18.0.2")})).ok());
    ASSERT_TRUE(j.append_release(K(1)).ok());
    ASSERT_TRUE(j.write_allocate(Alloc(3, {A("198.18.0.3")})).ok());
    EXPECT_EQ(j.unsynced(), 4u);
    ASSERT_TRUE(j.sync().ok());
    EXPECT_EQ(j.unsynced(), 0u);
    ASSERT_TRUE(j.append_allocate(Alloc(4, {A("198.18.0.4")})).ok());
    EXPECT_EQ(j.unsynced(), 0u) << "append_allocate syncs";
    Allocation bad = Alloc(5, {A("198.18.0.5")});
    bad.pod_name = "a\tb";
    EXPECT_FALSE(j.write_allocate(bad).ok()) << "fields are checked as for appends";
  }
  auto [j, rec] = open_ok();
  ASSERT_EQ(rec.allocations.size(), 3u);
  EXPECT_EQ(rec.allocations[0], Alloc(2, {A("198.18.0.2")}));
  EXPECT_EQ(rec.allocations[1], Alloc(3, {A("198.18.0.3")}));
  EXPECT_EQ(rec.allocations[2], Alloc(4, {A("198.18.0.4")}));
}

TEST_F(JournalTest, TornLastLineIsDroppedAndReported) {
  {
    auto [j, rec] = open_ok();
    ASSERT_TRUE(j.append_allocate(Alloc(1, {A("198.18.0.1")})).ok());
    ASSERT_TRUE(j.append_allocate(Alloc(2, {A("198.18.0.2")})).ok());
  }
  std::string text = slurp(path_);
  spit(path_, text.substr(0, text.size() - 7));  // the last write cut short
  {
    auto [j, rec] = open_ok();
    EXPECT_TRUE(mentions(rec.repairs, "line 3: torn tail dropped")) << joined(rec.repairs);
    ASSERT_EQ(rec.allocations.size(), 1u);
    EXPECT_EQ(rec.allocations[0].key, K(1));
    // Left compacted: appending now cannot glue a record to the torn bytes.
    ASSERT_TRUE(j.append_allocate(Alloc(3, {A("198.18.0.3")})).ok());
  }
  auto [j, rec] = open_ok();
  EXPECT_TRUE(rec.repairs.empty()) << joined(rec.repairs);
  ASSERT_EQ(rec.allocations.size(), 2u);
  EXPECT_EQ(rec.allocations[1].key, K(3));
}

TEST_F(JournalTest, BadChecksumOnTheLastLineIsATornWrite) {
  {
    auto [j, rec] = open_ok();
    ASSERT_TRUE(j.append_allocate(Alloc(1, {A("198.18.0.1")})).ok());
    ASSERT_TRUE(j.append_allocate(Alloc(2, {A("198.18.0.2")})).ok());
  }
  std::string text = slurp(path_);
  text[text.rfind("pod-2")] = 'X';
  spit(path_, text);
  auto [j, rec] = open_ok();
  EXPECT_TRUE(mentions(rec.repairs, "line 3: torn tail dropped (checksum mismatch)"))
      << joined(rec.repairs);
  ASSERT_EQ(rec.allocations.size(), 1u);
  EXPECT_EQ(lines_of(slurp(path_)).size(), 2u);  // header + the one good record
}

TEST_F(JournalTest, CorruptMiddleLineIsSkippedWithItsNumber) {
  {
    auto [j, rec] = open_ok();
    for (int i = 1; i <= 4; ++i)
      ASSERT_TRUE(j.append_allocate(Alloc(i, {IpAddress::v4(0xC6120000u + i)})).ok());
  }
  auto lines = lines_of(slurp(path_));
  ASSERT_EQ(lines.size(), 5u);
  lines[2][lines[2].find("198.18.0.2")] = '7';  // line 3: a flipped byte, CRC now wrong
  lines[3] = "garbage";                         // line 4: not a record at all
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  spit(path_, text);
  {
    auto [j, rec] = open_ok();
    EXPECT_TRUE(mentions(rec.repairs, "line 3: bad record skipped")) << joined(rec.repairs);
    EXPECT_TRUE(mentions(rec.repairs, "line 4: bad record skipped")) << joined(rec.repairs);
    ASSERT_EQ(rec.allocations.size(), 2u);
    EXPECT_EQ(rec.allocations[0].key, K(1));
    EXPECT_EQ(rec.allocations[1].key, K(4));
  }
  auto [j, rec] = open_ok();  // rewritten clean
  EXPECT_TRUE(rec.repairs.empty()) << joined(rec.repairs);
  EXPECT_EQ(rec.allocations.size(), 2u);
}

TEST_F(JournalTest, AddressOwnedTwiceKeepsTheFirstOwner) {
  {
    auto [j, rec] = open_ok();
    // The journal logs what it is told; ownership is checked on replay.
    ASSERT_TRUE(j.append_allocate(Alloc(1, {A("198.18.0.1")})).ok());
    ASSERT_TRUE(j.append_allocate(Alloc(2, {A("198.18.0.2"), A("2001:db8::2")})).ok());
    ASSERT_TRUE(j.append_allocate(Alloc(3, {A("198.18.0.1"), A("2001:db8::3")})).ok());
  }
  auto [j, rec] = open_ok();
  EXPECT_TRUE(mentions(rec.repairs, "line 4: 198.18.0.1 owned by both c1/eth0 and c3/eth0"))
      << joined(rec.repairs);
  ASSERT_EQ(rec.allocations.size(), 2u);
  EXPECT_EQ(rec.allocations[0], Alloc(1, {A("198.18.0.1")}));
  EXPECT_EQ(rec.allocations[1].key, K(2));
}

TEST_F(JournalTest, CompactionKeepsStateAndShrinksTheFile) {
  const Prefix v4 = P("198.18.0.0/24");
  Allocator alloc({v4}, {});
  auto [j, rec] = open_ok();
  for (int i = 0; i < 60; ++i) {
    auto p = alloc.plan(K(i), {Family::kIpv4}, "ns", "pod", 7);
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(j.append_allocate(*p).ok());
    ASSERT_TRUE(alloc.commit(*p).ok());
    if (i % 4 != 0) {
      ASSERT_TRUE(j.append_release(K(i)).ok());
      alloc.release(K(i));
    }
  }
  EXPECT_EQ(j.records(), 60u + 45u);
  auto before = std::filesystem::file_size(path_);
  ASSERT_TRUE(j.compact(alloc.allocations(), {{v4, *alloc.cursor(v4)}}).ok());
  EXPECT_LT(std::filesystem::file_size(path_), before / 2);
  EXPECT_EQ(j.records(), 0u);
  EXPECT_FALSE(std::filesystem::exists(path_ + ".tmp"));
  ASSERT_TRUE(j.append_release(K(0)).ok());  // appends go to the new file
  alloc.release(K(0));
  {
    Journal moved = std::move(j);  // the lock moves with it
    EXPECT_EQ(Journal::open(path_).error().code, Errc::kUnavailable);
  }
  auto [j2, rec2] = open_ok();
  EXPECT_TRUE(rec2.repairs.empty()) << joined(rec2.repairs);
  EXPECT_EQ(rec2.allocations, alloc.allocations());
  ASSERT_EQ(rec2.cursors.size(), 1u);
  EXPECT_EQ(rec2.cursors[0].second, A("198.18.0.60"));
}

TEST_F(JournalTest, CompactionRefusesAnInconsistentState) {
  auto [j, rec] = open_ok();
  ASSERT_TRUE(j.append_allocate(Alloc(1, {A("198.18.0.1")})).ok());
  std::string before = slurp(path_);
  EXPECT_EQ(j.compact({Alloc(1, {A("198.18.0.1")}), Alloc(2, {A("198.18.0.1")})}, {}).error().code,
            Errc::kInvalidArgument);
  EXPECT_EQ(j.compact({}, {{P("198.18.0.0/24"), A("198.19.0.1")}}).error().code,
            Errc::kInvalidArgument);
  EXPECT_EQ(slurp(path_), before);
}

TEST_F(JournalTest, SecondOpenIsRefusedByTheLock) {
  auto first = Journal::open(path_);
  ASSERT_TRUE(first.ok());
  auto second = Journal::open(path_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, Errc::kUnavailable);
  EXPECT_NE(second.error().message.find(path_ + " is locked by another process"), std::string::npos)
      << second.error().message;
  // Still locked across a compaction (the lock is not on the renamed file).
  ASSERT_TRUE(first->first.compact({}, {}).ok());
  EXPECT_FALSE(Journal::open(path_).ok());
  { auto gone = std::move(first); }
  EXPECT_TRUE(Journal::open(path_).ok());
}

TEST_F(JournalTest, InvalidFieldsAreRefusedAndNothingIsWritten) {
  auto opened = open_ok();  // not a structured binding: clang 14 cannot capture one
  Journal& j = opened.first;
  std::string before = slurp(path_);
  auto refused = [&](Allocation a) {
    auto s = j.append_allocate(a);
    return !s.ok() && s.error().code == Errc::kInvalidArgument;
  };
  Allocation good = Alloc(1, {A("198.18.0.1")});
  auto with = [&](auto change) {
    Allocation a = good;
    change(a);
    return a;
  };
  EXPECT_TRUE(refused(with([](Allocation& a) { a.pod_name = "we\tb"; })));
  EXPECT_TRUE(refused(with([](Allocation& a) { a.pod_namespace = "de\nfault"; })));
  EXPECT_TRUE(refused(with([](Allocation& a) { a.key.container_id = ""; })));
  EXPECT_TRUE(refused(with([](Allocation& a) { a.key.container_id = "abc/def"; })));
  EXPECT_TRUE(refused(with([](Allocation& a) { a.key.container_id = "abc\tdef"; })));
  EXPECT_TRUE(refused(with([](Allocation& a) { a.key.ifname = ""; })));
  EXPECT_TRUE(refused(with([](Allocation& a) { a.key.ifname = "eth0123456789012"; })));  // 16
  EXPECT_TRUE(refused(with([](Allocation& a) { a.key.ifname = "."; })));
  EXPECT_TRUE(refused(with([](Allocation& a) { a.key.ifname = ".."; })));
  EXPECT_TRUE(refused(with([](Allocation& a) { a.key.ifname = "a/b"; })));
  EXPECT_TRUE(refused(with([](Allocation& a) { a.key.ifname = "a:b"; })));
  EXPECT_TRUE(refused(with([](Allocation& a) { a.key.ifname = "a b"; })));
  EXPECT_TRUE(refused(with([](Allocation& a) { a.key.ifname = "a\nb"; })));
  EXPECT_TRUE(refused(with([](Allocation& a) { a.addresses.clear(); })));
  EXPECT_TRUE(refused(with([](Allocation& a) { a.addresses.push_back(A("198.18.0.2")); })));
  EXPECT_EQ(j.append_release({"ok", "eth\t0"}).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(slurp(path_), before);
  EXPECT_EQ(j.records(), 0u);
  // The edges that are allowed.
  EXPECT_TRUE(j.append_allocate(with([](Allocation& a) {
                 a.key = {"A-z_0.9", "eth01234567890"};  // 15 characters
                 a.pod_namespace = a.pod_name = "";
               })).ok());
}

TEST_F(JournalTest, UnusableFilesAreErrorsNamingThePath) {
  auto missing = Journal::open(dir_ + "/no/such/dir/ipam.journal");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find(dir_ + "/no/such/dir/ipam.journal"), std::string::npos);

  spit(path_, "some other file\nwith content\n");
  auto foreign = Journal::open(path_);
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code, Errc::kMalformed);
  EXPECT_NE(foreign.error().message.find(path_), std::string::npos);
  EXPECT_EQ(slurp(path_), "some other file\nwith content\n");  // never overwritten

  std::filesystem::remove(path_);
  std::filesystem::create_directory(path_);  // a directory where the file should be
  auto dir = Journal::open(path_);
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().message.find(path_), std::string::npos);
}

TEST_F(JournalTest, TornHeaderIsRewritten) {
  spit(path_, "tern-ipam-jou");
  auto [j, rec] = open_ok();
  EXPECT_TRUE(mentions(rec.repairs, "torn header")) << joined(rec.repairs);
  EXPECT_EQ(slurp(path_), "tern-ipam-journal 1\n");
}

// The child appends and reports each key on a pipe once append returned; SIGKILL at a
// random moment; whatever was reported must be there after recovery. Three rounds on one
// journal, so recovery after a kill is itself followed by appends and another kill.
TEST_F(JournalTest, SigkillNeverLosesAnAcknowledgedRecord) {
  std::random_device rd;
  const unsigned seed = rd();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::map<AttachmentKey, IpAddress> expected;  // reported allocated and not reported released
  std::set<AttachmentKey> released;
  int next = 0;
  for (int round = 0; round < 3; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    const int first = next;
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(fds[0]);
      auto opened = Journal::open(path_);
      if (!opened) ::_exit(2);
      Journal& j = opened->first;
      // Round 1 commits in groups of 4, as ternd does under load: reported after the sync.
      const bool grouped = round == 1;
      std::string msg;
      for (int i = first; i < first + 30000; ++i) {  // 3 rounds stay inside 198.18.0.0/15
        // Addresses are a pure function of i, so the parent knows them.
        Allocation a = Alloc(i, {IpAddress::v4(0xC6120000u + static_cast<uint32_t>(i))});
        if (!(grouped ? j.write_allocate(a) : j.append_allocate(a)).ok()) ::_exit(3);
        msg += "A " + std::to_string(i) + "\n";
        if (i % 3 == 0) {
          if (!j.append_release(a.key).ok()) ::_exit(3);
          msg += "R " + std::to_string(i) + "\n";
        }
        if (grouped && i % 4 != 3) continue;
        if (grouped && !j.sync().ok()) ::_exit(3);
        if (::write(fds[1], msg.data(), msg.size()) != static_cast<ssize_t>(msg.size())) ::_exit(4);
        msg.clear();
      }
      ::_exit(0);
    }
    ::close(fds[1]);
    auto kill_at = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(5 + static_cast<int>(rng() % 195));
    std::string reported;
    bool killed = false;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      kill_at - std::chrono::steady_clock::now())
                      .count();
      if (!killed && left <= 0) {
        ::kill(child, SIGKILL);
        killed = true;
      }
      pollfd p{fds[0], POLLIN, 0};
      ::poll(&p, 1, killed ? 1000 : static_cast<int>(std::max<long>(left, 1)));
      char buf[4096];
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n > 0) {
        reported.append(buf, static_cast<size_t>(n));
      } else if (n == 0) {
        break;  // the child is gone and the pipe drained
      }
    }
    ::close(fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0))
        << "child exit " << WEXITSTATUS(status);

    std::istringstream in(reported);
    std::string op;
    int i = 0;
    while (in >> op >> i) {
      if (op == "A") expected[K(i)] = IpAddress::v4(0xC6120000u + static_cast<uint32_t>(i));
      if (op == "R") {
        expected.erase(K(i));
        released.insert(K(i));
      }
      next = std::max(next, i + 1);
    }
    next += 4;  // the records in flight at the kill (a group) may have landed: never reuse their keys

    auto opened = Journal::open(path_);  // the dead child's lock is gone with it
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    const auto& rec = opened->second;
    std::map<AttachmentKey, IpAddress> got;
    std::set<IpAddress> owned;
    for (const Allocation& a : rec.allocations) {
      ASSERT_EQ(a.addresses.size(), 1u);
      EXPECT_TRUE(owned.insert(a.addresses[0]).second) << a.addresses[0].to_string() << " twice";
      got[a.key] = a.addresses[0];
    }
    for (const auto& [key, addr] : expected) {
      auto it = got.find(key);
      ASSERT_NE(it, got.end()) << key.container_id << " reported but lost (round " << round << ")";
      EXPECT_EQ(it->second, addr);
    }
    for (const auto& key : released) EXPECT_FALSE(got.contains(key)) << key.container_id;
    for (const std::string& r : rec.repairs) {  // only a torn tail is acceptable
      EXPECT_NE(r.find("torn tail"), std::string::npos) << r;
    }
  }
  EXPECT_GT(expected.size() + released.size(), 0u);
}

}  // namespace
}  // namespace tern::ipam
