#include "ipam/journal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <variant>

namespace tern::ipam {
namespace {

constexpr std::string_view kHeader = "tern-ipam-journal 1\n";

// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320): the same value zlib's crc32() and
// `python3 -c 'import zlib'` give, so a journal can be checked by hand.
constexpr std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kCrcTable = make_crc_table();

uint32_t crc32(std::string_view s) {
  uint32_t c = 0xFFFFFFFFu;
  for (char ch : s) c = kCrcTable[(c ^ static_cast<uint8_t>(ch)) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string hex8(uint32_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(8, '0');
  for (int i = 7; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = kDigits[v & 0xF];
  return s;
}

std::string key_text(const AttachmentKey& k) { return k.container_id + "/" + k.ifname; }

// CNI spec (libcni ValidateContainerID / ValidateInterfaceName): the key must be something
// the runtime could have sent, and it can then never break the line format either.
Status validate_key(const AttachmentKey& k) {
  if (k.container_id.empty()) return make_error(Errc::kInvalidArgument, "empty container ID");
  for (char c : k.container_id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) {
      return make_error(Errc::kInvalidArgument,
                        "container ID may hold only [A-Za-z0-9_.-]: '" + k.container_id + "'");
    }
  }
  const std::string& n = k.ifname;
  if (n.empty() || n.size() > 15) {  // IFNAMSIZ - 1
    return make_error(Errc::kInvalidArgument,
                      "interface name must be 1..15 characters: '" + n + "'");
  }
  if (n == "." || n == "..") {
    return make_error(Errc::kInvalidArgument, "interface name may not be '" + n + "'");
  }
  for (char c : n) {
    if (c == '/' || c == ':' || c == ' ' || (c >= '\t' && c <= '\r')) {
      return make_error(Errc::kInvalidArgument,
                        "interface name may not hold '/', ':' or whitespace: '" + n + "'");
    }
  }
  return {};
}

Status validate_field(const std::string& what, const std::string& value) {
  if (value.find_first_of("\t\n") != std::string::npos) {
    return make_error(Errc::kInvalidArgument, what + " may not hold a tab or newline");
  }
  return {};
}

Status validate_addresses(const std::vector<IpAddress>& addresses) {
  if (addresses.empty()) return make_error(Errc::kInvalidArgument, "allocation without address");
  int v4 = 0, v6 = 0;
  for (const IpAddress& a : addresses) ++(a.is_v4() ? v4 : v6);
  if (v4 > 1 || v6 > 1) {
    return make_error(Errc::kInvalidArgument, "allocation with two addresses of one family");
  }
  return {};
}

Status validate_allocation(const Allocation& a) {
  if (auto s = validate_key(a.key); !s) return s;
  if (auto s = validate_field("pod namespace", a.pod_namespace); !s) return s;
  if (auto s = validate_field("pod name", a.pod_name); !s) return s;
  return validate_addresses(a.addresses);
}

std::string seal(std::string body) {
  uint32_t c = crc32(body);
  body += '\t';
  body += hex8(c);
  body += '\n';
  return body;
}

std::string encode_allocate(const Allocation& a) {
  std::string addrs;
  for (bool v4 : {true, false}) {  // IPv4 first, as the Allocator stores them
    for (const IpAddress& ip : a.addresses) {
      if (ip.is_v4() != v4) continue;
      if (!addrs.empty()) addrs += ',';
      addrs += ip.to_string();
    }
  }
  return seal("A\t" + a.key.container_id + "\t" + a.key.ifname + "\t" + a.pod_namespace + "\t" +
              a.pod_name + "\t" + std::to_string(a.created_unix) + "\t" + addrs);
}

std::string encode_release(const AttachmentKey& k) {
  return seal("R\t" + k.container_id + "\t" + k.ifname);
}

std::string encode_cursor(const Prefix& block, const IpAddress& last) {
  return seal("C\t" + block.to_string() + "\t" + last.to_string());
}

struct CursorRecord {
  Prefix block;
  IpAddress last;
};
using Record = std::variant<Allocation, AttachmentKey, CursorRecord>;

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t at = s.find(sep, start);
    out.push_back(
        s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

// One line (without its '\n') to a record, or why not.
Result<Record> decode(std::string_view line) {
  size_t tab = line.rfind('\t');
  if (tab == std::string_view::npos) return make_error(Errc::kMalformed, "no checksum");
  std::string_view body = line.substr(0, tab), sum = line.substr(tab + 1);
  uint32_t want = 0;
  auto [end, ec] = std::from_chars(sum.data(), sum.data() + sum.size(), want, 16);
  if (sum.size() != 8 || ec != std::errc() || end != sum.data() + sum.size()) {
    return make_error(Errc::kMalformed, "bad checksum field");
  }
  if (crc32(body) != want) return make_error(Errc::kMalformed, "checksum mismatch");

  auto f = split(body, '\t');
  auto bad = [](const std::string& why) { return make_error(Errc::kMalformed, why); };
  if (f[0] == "A" && f.size() == 7) {
    Allocation a;
    a.key = {std::string(f[1]), std::string(f[2])};
    a.pod_namespace = f[3];
    a.pod_name = f[4];
    auto [e, err] = std::from_chars(f[5].data(), f[5].data() + f[5].size(), a.created_unix);
    if (f[5].empty() || err != std::errc() || e != f[5].data() + f[5].size()) {
      return bad("bad creation time");
    }
    for (std::string_view text : split(f[6], ',')) {
      auto ip = IpAddress::parse(text);
      if (!ip) return ip.error();
      a.addresses.push_back(*ip);
    }
    std::stable_sort(
        a.addresses.begin(), a.addresses.end(),
        [](const IpAddress& x, const IpAddress& y) { return x.is_v4() && !y.is_v4(); });
    if (auto s = validate_allocation(a); !s) return s.error();
    return Record{std::move(a)};
  }
  if (f[0] == "R" && f.size() == 3) {
    AttachmentKey k{std::string(f[1]), std::string(f[2])};
    if (auto s = validate_key(k); !s) return s.error();
    return Record{std::move(k)};
  }
  if (f[0] == "C" && f.size() == 3) {
    auto block = Prefix::parse(f[1]);
    if (!block) return block.error();
    auto last = IpAddress::parse(f[2]);
    if (!last) return last.error();
    if (!block->contains(*last)) return bad("cursor outside its block");
    return Record{CursorRecord{*block, *last}};
  }
  return bad("unknown record");
}

// The state replay builds: the same ownership rule as Allocator::commit(), without blocks.
struct Replay {
  std::map<AttachmentKey, Allocation> live;
  std::map<IpAddress, AttachmentKey> owner;
  std::map<Prefix, IpAddress> cursors;
  std::vector<IpAddress> handed_out;  // since the last C record
  size_t records = 0;
  std::vector<std::string> repairs;

  void apply(Record&& r, size_t line_no) {
    ++records;
    if (auto* c = std::get_if<CursorRecord>(&r)) {
      cursors[c->block] = c->last;
      handed_out.clear();
    } else if (auto* k = std::get_if<AttachmentKey>(&r)) {
      if (auto it = live.find(*k); it != live.end()) {
        for (const IpAddress& a : it->second.addresses) owner.erase(a);
        live.erase(it);
      }
    } else {
      allocate(std::move(std::get<Allocation>(r)), line_no);
    }
  }

  void allocate(Allocation&& a, size_t line_no) {
    for (const IpAddress& ip : a.addresses) {
      auto o = owner.find(ip);
      if (o != owner.end() && o->second != a.key) {
        repairs.push_back("line " + std::to_string(line_no) + ": " + ip.to_string() +
                          " owned by both " + key_text(o->second) + " and " + key_text(a.key) +
                          "; kept the first owner, dropped the record for " + key_text(a.key));
        return;
      }
    }
    std::vector<IpAddress> previous;
    if (auto it = live.find(a.key); it != live.end()) {
      previous = it->second.addresses;
      for (const IpAddress& ip : previous) owner.erase(ip);
    }
    for (const IpAddress& ip : a.addresses) {
      owner[ip] = a.key;
      // Records after a compaction are in hand-out order, so the newest address in a block
      // is its cursor. Blocks come from C records: the journal knows no configuration.
      if (std::find(previous.begin(), previous.end(), ip) != previous.end()) continue;
      handed_out.push_back(ip);
      for (auto& [block, last] : cursors) {
        if (block.contains(ip)) last = ip;
      }
    }
    live[a.key] = std::move(a);
  }
};

int write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

Result<std::string> read_all(int fd, const std::string& path) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(out.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("read " + path, errno);
    }
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

// A rename or a new file is durable only once its directory is synced.
Status fsync_dir(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("open directory " + dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return io_error("fsync directory " + dir, err);
  return {};
}

}  // namespace

Journal::Journal(Journal&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      lock_fd_(std::exchange(other.lock_fd_, -1)),
      records_(other.records_),
      unsynced_(other.unsynced_),
      size_(other.size_),
      broken_(other.broken_) {}

Journal& Journal::operator=(Journal&& other) noexcept {
  if (this != &other) {
    close_fds();
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    lock_fd_ = std::exchange(other.lock_fd_, -1);
    records_ = other.records_;
    unsynced_ = other.unsynced_;
    size_ = other.size_;
    broken_ = other.broken_;
  }
  return *this;
}

Journal::~Journal() { close_fds(); }

void Journal::close_fds() {
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // closing the last descriptor drops the flock
  fd_ = lock_fd_ = -1;
}

Result<std::pair<Journal, Journal::Recovered>> Journal::open(const std::string& path) {
  Journal j;
  j.path_ = path;
  // The lock is on a separate file because compaction renames a new inode over PATH: a
  // flock on PATH itself would let a second process lock the old inode it had just opened.
  const std::string lock_path = path + ".lock";
  j.lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (j.lock_fd_ < 0) return io_error("open " + lock_path, errno);
  if (::flock(j.lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return make_error(Errc::kUnavailable,
                        path + " is locked by another process (another ternd on this state dir?)");
    }
    return io_error("flock " + lock_path, errno);
  }
  j.fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (j.fd_ < 0) return io_error("open " + path, errno);
  auto content = read_all(j.fd_, path);
  if (!content) return content.error();
  ::unlink((path + ".tmp").c_str());  // a compaction that crashed before its rename

  Recovered rec;
  if (content->empty()) {  // new (or created by a run that died before the header)
    if (int err = write_all(j.fd_, kHeader)) return io_error("write " + path, err);
    if (::fdatasync(j.fd_) != 0) return io_error("fdatasync " + path, errno);
    if (auto s = fsync_dir(path); !s) return s.error();
    j.size_ = kHeader.size();
    return std::pair<Journal, Recovered>(std::move(j), std::move(rec));
  }

  std::string_view text = *content;
  Replay replay;
  if (!text.starts_with(kHeader)) {
    if (kHeader.starts_with(text)) {
      replay.repairs.push_back("torn header rewritten");
      text = {};
    } else {
      std::string first(text.substr(0, std::min(text.find('\n'), size_t{64})));
      return make_error(Errc::kMalformed,
                        path + ": not a tern IPAM journal (first line '" + first + "')");
    }
  } else {
    text.remove_prefix(kHeader.size());
  }

  size_t line_no = 1;
  while (!text.empty()) {
    ++line_no;
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
      // A write cut short by a crash: never acknowledged, since fdatasync had not returned.
      replay.repairs.push_back("line " + std::to_string(line_no) + ": torn tail dropped (" +
                               std::to_string(text.size()) + " bytes without newline)");
      break;
    }
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    auto record = decode(line);
    if (record) {
      replay.apply(std::move(*record), line_no);
    } else if (text.empty()) {
      replay.repairs.push_back("line " + std::to_string(line_no) + ": torn tail dropped (" +
                               record.error().message + ")");
    } else {
      replay.repairs.push_back("line " + std::to_string(line_no) + ": bad record skipped (" +
                               record.error().message + ")");
    }
  }

  for (auto& [key, a] : replay.live) rec.allocations.push_back(std::move(a));
  for (const auto& [block, last] : replay.cursors) rec.cursors.emplace_back(block, last);
  rec.repairs = std::move(replay.repairs);
  rec.handed_out = std::move(replay.handed_out);
  j.size_ = content->size();
  size_t base = rec.allocations.size() + rec.cursors.size();
  j.records_ = replay.records > base ? replay.records - base : 0;
  // Never append after a torn or bad line: the next record would be glued to it.
  if (!rec.repairs.empty()) {
    if (auto s = j.compact(rec.allocations, rec.cursors); !s) return s.error();
  }
  return std::pair<Journal, Recovered>(std::move(j), std::move(rec));
}

Status Journal::append_line(const std::string& line, bool sync) {
  if (broken_) {
    return make_error(Errc::kIo,
                      path_ + ": an earlier write failed and could not be undone; reopen");
  }
  if (int err = write_all(fd_, line)) {
    // Cut the partial line off, or the next record would be glued to it.
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) broken_ = true;
    return io_error("write " + path_, err);
  }
  if (sync && ::fdatasync(fd_) != 0) {
    // After a failed fdatasync the kernel may have dropped the dirty pages: the state on
    // disk is unknown until the file is read again.
    int err = errno;
    broken_ = true;
    return io_error("fdatasync " + path_, err);
  }
  size_ += line.size();
  ++records_;
  unsynced_ = sync ? 0 : unsynced_ + 1;
  return {};
}

Status Journal::append_allocate(const Allocation& allocation) {
  if (auto s = validate_allocation(allocation); !s) return s.error().wrap(key_text(allocation.key));
  return append_line(encode_allocate(allocation), true);
}

Status Journal::write_allocate(const Allocation& allocation) {
  if (auto s = validate_allocation(allocation); !s) return s.error().wrap(key_text(allocation.key));
  return append_line(encode_allocate(allocation), false);
}

Status Journal::sync() {
  auto pending = begin_sync();
  if (!pending) return pending.error();
  return end_sync(*pending, ::fdatasync(pending->fd) == 0 ? 0 : errno);
}

Result<Journal::PendingSync> Journal::begin_sync() const {
  if (broken_) {
    return make_error(Errc::kIo, path_ + ": an earlier write failed and could not be undone; reopen");
  }
  return PendingSync{fd_, unsynced_};
}

Status Journal::end_sync(const PendingSync& sync, int err) {
  if (err) {
    // After a failed fdatasync the kernel may have dropped the dirty pages: the state on
    // disk is unknown until the file is read again.
    broken_ = true;
    return io_error("fdatasync " + path_, err);
  }
  // Records written since begin_sync() stay unsynced (an append_allocate() since may have
  // synced them already, and everything before).
  unsynced_ -= std::min(unsynced_, sync.records);
  return {};
}

Status Journal::append_release(const AttachmentKey& key) {
  if (auto s = validate_key(key); !s) return s;
  // In the page cache it survives any crash of ternd; only a power cut can lose it, and
  // that leaves an address held (freed by GC or the next DEL), never one given twice: the
  // next allocation's fdatasync writes this record out first.
  return append_line(encode_release(key), false);
}

Status Journal::compact(const std::vector<Allocation>& live,
                        const std::vector<std::pair<Prefix, IpAddress>>& cursors) {
  std::vector<const Allocation*> sorted;
  std::set<AttachmentKey> keys;
  std::set<IpAddress> owned;
  for (const Allocation& a : live) {
    if (auto s = validate_allocation(a); !s) return s.error().wrap(key_text(a.key));
    if (!keys.insert(a.key).second) {
      return make_error(Errc::kInvalidArgument, key_text(a.key) + " listed twice");
    }
    for (const IpAddress& ip : a.addresses) {
      if (!owned.insert(ip).second) {
        return make_error(Errc::kInvalidArgument, ip.to_string() + " owned twice");
      }
    }
    sorted.push_back(&a);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const Allocation* x, const Allocation* y) { return x->key < y->key; });

  // Allocations before cursors: replay moves a known block's cursor with each A record, and
  // these are in key order, not hand-out order, so the C records must come after them.
  std::string out(kHeader);
  for (const Allocation* a : sorted) out += encode_allocate(*a);
  for (const auto& [block, last] : cursors) {
    if (!block.contains(last)) {
      return make_error(Errc::kInvalidArgument,
                        "cursor " + last.to_string() + " outside block " + block.to_string());
    }
    out += encode_cursor(block, last);
  }

  const std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("open " + tmp, errno);
  auto fail = [&](const std::string& what, int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return io_error(what, err);
  };
  if (int err = write_all(fd, out)) return fail("write " + tmp, err);
  if (::fsync(fd) != 0) return fail("fsync " + tmp, errno);
  if (::rename(tmp.c_str(), path_.c_str()) != 0)
    return fail("rename " + tmp + " to " + path_, errno);
  // PATH is now the new file whatever happens next: append there from now on.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  size_ = out.size();
  records_ = 0;
  unsynced_ = 0;
  broken_ = false;
  return fsync_dir(path_);
}

}  // namespace tern::ipam
