// tern: the CNI plugin the runtime starts for every Pod operation. It does no network
// work itself. It hands the call to ternd over the admin socket: its CNI_* variables,
// the configuration, and the Pod's network namespace as a descriptor (opened here, so
// ternd need not see the runtime's mounts). Then it prints ternd's answer and exits with
// ternd's status. ternd runs the call with the plugin's own code (cni/tern_plugin.cpp).
// When ternd cannot take the call (not running, an IPAM that is not tern-ipam, died on
// the way), this program becomes tern-standalone, which does the work in-process.
//
// Why no C library: this starts for every Pod ADD and DEL, fifty at once when a node
// fills. On a VM, glibc's start-up alone (its CPU feature and cache probing, CPUID after
// CPUID, each a trap to the hypervisor) costs more than everything this program does.
// So it is freestanding: its own _start, raw system calls (x86-64 and arm64), static
// buffers, and protobuf's wire format written and read by hand (admin.proto's Request.cni
// and Response.cni).
#include <asm/unistd.h>

#include <stddef.h>
#include <stdint.h>

// ---- system calls

#if defined(__x86_64__)
__asm__(
    ".text\n.global _start\n_start:\n"
    "  xor %ebp, %ebp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call tern_start\n  hlt\n");

static long sys6(long n, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
__asm__(
    ".text\n.global _start\n_start:\n"
    "  mov x29, #0\n  mov x30, #0\n  mov x0, sp\n  bl tern_start\n");

static long sys6(long n, long a, long b, long c, long d, long e, long f) {
  register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b, x2 __asm__("x2") = c,
                x3 __asm__("x3") = d, x4 __asm__("x4") = e, x5 __asm__("x5") = f;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
}
#else
#error "tern's CNI front is written for x86-64 and arm64"
#endif

#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys5(n, a, b, c, d, e) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

enum {
  kEintr = 4,
  kEagain = 11,
  kAtFdcwd = -100,
  kOCloexec = 02000000,
  kAfUnix = 1,
  kSockStream = 1,
  kSolSocket = 1,
  kScmRights = 1,
  kSoRcvtimeo = 20,
  kSoSndtimeo = 21,
  kMsgNosignal = 0x4000,
  kMfdCloexec = 1,
  kFSetfd = 2,
};

// The kernel's own layouts (64-bit).
struct iovec_k {
  const void* base;
  size_t len;
};
struct msghdr_k {
  void* name;
  int namelen;
  struct iovec_k* iov;
  size_t iovlen;
  void* control;
  size_t controllen;
  unsigned flags;
};
struct one_fd_cmsg {  // CMSG_SPACE(sizeof(int)); its cmsg_len is CMSG_LEN(sizeof(int)), 20
  size_t len;
  int level, type;
  int fd, pad;
};
struct sockaddr_un_k {
  uint16_t family;
  char path[108];
};
struct timeval_k {
  long sec, usec;
};

__attribute__((noreturn)) static void exit_group(int status) {
  for (;;) sys3(__NR_exit_group, status, 0, 0);
}

// The compiler may call these for copies and zeroing.
void* memcpy(void* dst, const void* src, size_t n) {
  char* d = dst;
  const char* s = src;
  while (n--) *d++ = *s++;
  return dst;
}
void* memset(void* dst, int c, size_t n) {
  char* d = dst;
  while (n--) *d++ = (char)c;
  return dst;
}

static size_t length(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  return n;
}

static int starts_with(const char* s, const char* prefix) {
  while (*prefix) {
    if (*s++ != *prefix++) return 0;
  }
  return 1;
}

static void write_all(int fd, const char* p, size_t n) {
  while (n) {
    long w = sys3(__NR_write, fd, p, n);
    if (w == -kEintr) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

// ---- the call

enum { kMaxConfig = 1 << 20, kMaxReply = 1 << 20, kMaxPath = 4096 };
static char config[kMaxConfig];
static size_t config_size;
static int config_whole;  // stdin read to its end
static char request[kMaxConfig + 65536];
static char reply[kMaxReply];

// The string value of the first "key": "value" in the configuration (no escapes), or
// `fallback`. A guess: ternd checks the configuration itself and declines a call meant
// for another socket, which then runs here in tern-standalone.
static const char* config_string(const char* key, const char* fallback, char* out, size_t out_size) {
  size_t k = length(key);
  for (size_t i = 0; i + k + 2 < config_size; ++i) {
    if (config[i] != '"' || config[i + k + 1] != '"') continue;
    size_t j = 0;
    while (j < k && config[i + 1 + j] == key[j]) ++j;
    if (j < k) continue;
    size_t p = i + k + 2;
    while (p < config_size && (config[p] == ' ' || config[p] == '\t' || config[p] == '\n' || config[p] == '\r')) ++p;
    if (p >= config_size || config[p] != ':') continue;
    ++p;
    while (p < config_size && (config[p] == ' ' || config[p] == '\t' || config[p] == '\n' || config[p] == '\r')) ++p;
    if (p >= config_size || config[p] != '"') continue;
    size_t n = 0;
    for (++p; p < config_size && config[p] != '"'; ++p) {
      if (config[p] == '\\' || n + 1 >= out_size) return fallback;
      out[n++] = config[p];
    }
    if (p >= config_size || n == 0) return fallback;
    out[n] = 0;
    return out;
  }
  return fallback;
}

// The spec's error object on stdout, in the configuration's version; exit status 1.
__attribute__((noreturn)) static void fail(int code, const char* message) {
  char version[32];
  const char* v = config_string("cniVersion", "1.1.0", version, sizeof version);
  char digits[4] = {(char)('0' + code / 10), (char)('0' + code % 10), 0};
  const char* parts[] = {"{\"cniVersion\":\"", v, "\",\"code\":", code < 10 ? digits + 1 : digits, ",\"msg\":\"",
                         message, "\"}\n"};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; ++i) write_all(1, parts[i], length(parts[i]));
  exit_group(1);
}

// Becomes tern-standalone, from this program's directory, with the configuration on a
// fresh stdin.
__attribute__((noreturn)) static void run_standalone(char** envp) {
  static char path[kMaxPath];
  long n = sys6(__NR_readlinkat, kAtFdcwd, (long)"/proc/self/exe", (long)path, kMaxPath - 32, 0, 0);
  if (n <= 0) fail(5, "tern: cannot find its own directory");
  while (n > 0 && path[n - 1] != '/') --n;
  const char* name = "tern-standalone";
  for (size_t i = 0; name[i]; ++i) path[n++] = name[i];
  path[n] = 0;

  long memfd = sys3(__NR_memfd_create, "tern-config", kMfdCloexec, 0);
  if (memfd < 0) fail(5, "tern: memfd_create failed");
  write_all((int)memfd, config, config_size);
  while (!config_whole) {  // a configuration larger than the buffer: the rest as it comes
    long r = sys3(__NR_read, 0, config, kMaxConfig);
    if (r == -kEintr) continue;
    if (r <= 0) break;
    write_all((int)memfd, config, (size_t)r);
  }
  sys3(__NR_lseek, memfd, 0, 0);
  if (memfd == 0) {
    sys3(__NR_fcntl, 0, kFSetfd, 0);  // the runtime gave no stdin: the memfd is fd 0, kept open
  } else if (sys3(__NR_dup3, memfd, 0, 0) < 0) {
    fail(5, "tern: dup3 failed");
  }
  char* standalone_argv[] = {path, 0};
  sys3(__NR_execve, path, standalone_argv, envp);
  fail(5, "tern: cannot run tern-standalone next to it");
}

static size_t put_varint(char* out, uint64_t v) {
  size_t n = 0;
  do {
    out[n] = (char)(v & 0x7f);
    v >>= 7;
    if (v) out[n] |= (char)0x80;
    ++n;
  } while (v);
  return n;
}
static size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >>= 7) ++n;
  return n;
}
static size_t field_size(size_t len) { return 1 + varint_size(len) + len; }
static size_t put_field(char* out, int number, const char* data, size_t len) {
  size_t n = 0;
  out[n++] = (char)(number << 3 | 2);  // length-delimited
  n += put_varint(out + n, len);
  memcpy(out + n, data, len);
  return n + len;
}

// Request{cni = 10: CniRequest{env = 1 (each CNI_* variable), config = 2}}, framed with
// its length as a varint.
static size_t build_request(char** envp) {
  size_t inner = field_size(config_size);
  for (char** e = envp; *e; ++e) {
    if (starts_with(*e, "CNI_")) inner += field_size(length(*e));
  }
  size_t outer = field_size(inner);
  if (varint_size(outer) + outer > sizeof request) return 0;
  size_t n = put_varint(request, outer);
  request[n++] = (char)(10 << 3 | 2);
  n += put_varint(request + n, inner);
  for (char** e = envp; *e; ++e) {
    if (starts_with(*e, "CNI_")) n += put_field(request + n, 1, *e, length(*e));
  }
  n += put_field(request + n, 2, config, config_size);
  return n;
}

static int get_varint(const char** p, const char* end, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p >= end) return 0;
    uint8_t byte = (uint8_t)*(*p)++;
    *v |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return 1;
  }
  return 0;
}

// Skips a field of wire type `type`; 0 for a type this reader does not take.
static int skip_field(const char** p, const char* end, int type) {
  uint64_t v;
  if (type == 0) return get_varint(p, end, &v);
  if (type == 2) {
    if (!get_varint(p, end, &v) || v > (uint64_t)(end - *p)) return 0;
    *p += v;
    return 1;
  }
  if (type == 1 || type == 5) {
    size_t n = type == 1 ? 8 : 4;
    if ((size_t)(end - *p) < n) return 0;
    *p += n;
    return 1;
  }
  return 0;
}

struct answer {
  int served;
  int status;
  const char* output;
  size_t output_size;
};

// Response.cni (field 10) of a whole response body; 0 when it has none (an Error, or a
// ternd too old to know the request) or does not parse.
static int parse_reply(const char* p, const char* end, struct answer* a) {
  while (p < end) {
    uint64_t key, len;
    if (!get_varint(&p, end, &key)) return 0;
    if (key != (10 << 3 | 2)) {
      if (!skip_field(&p, end, (int)(key & 7))) return 0;
      continue;
    }
    if (!get_varint(&p, end, &len) || len > (uint64_t)(end - p)) return 0;
    const char* q = p;
    const char* cni_end = p + len;
    while (q < cni_end) {
      uint64_t k, v;
      if (!get_varint(&q, cni_end, &k)) return 0;
      if (k == (1 << 3 | 0) || k == (2 << 3 | 0)) {
        if (!get_varint(&q, cni_end, &v)) return 0;
        if (k >> 3 == 1) a->served = v != 0;
        if (k >> 3 == 2) a->status = (int)v;
      } else if (k == (3 << 3 | 2)) {
        if (!get_varint(&q, cni_end, &v) || v > (uint64_t)(cni_end - q)) return 0;
        a->output = q;
        a->output_size = (size_t)v;
        q += v;
      } else if (!skip_field(&q, cni_end, (int)(k & 7))) {
        return 0;
      }
    }
    return 1;
  }
  return 0;
}

__attribute__((noreturn, used)) void tern_start(long* sp) {
  int argc = (int)sp[0];
  char** argv = (char**)(sp + 1);
  char** envp = argv + argc + 1;

  while (config_size < kMaxConfig) {
    long r = sys3(__NR_read, 0, config + config_size, kMaxConfig - config_size);
    if (r == -kEintr) continue;
    if (r <= 0) {
      config_whole = 1;
      break;
    }
    config_size += (size_t)r;
  }
  if (!config_whole) run_standalone(envp);

  const char* netns = "";
  for (char** e = envp; *e; ++e) {
    if (starts_with(*e, "CNI_NETNS=")) netns = *e + 10;
  }
  long netns_fd = -1;
  if (*netns) {
    netns_fd = sys6(__NR_openat, kAtFdcwd, (long)netns, kOCloexec, 0, 0, 0);
    if (netns_fd < 0) run_standalone(envp);  // which tells the runtime why
  }

  static char socket_path[sizeof(((struct sockaddr_un_k*)0)->path)];
  const char* socket_at = config_string("socket", "/run/tern/ternd.sock", socket_path, sizeof socket_path);
  struct sockaddr_un_k addr = {1, {0}};
  size_t path_len = length(socket_at);
  if (path_len >= sizeof addr.path) run_standalone(envp);
  memcpy(addr.path, socket_at, path_len);
  long sock = sys3(__NR_socket, kAfUnix, kSockStream | kOCloexec, 0);
  if (sock < 0) run_standalone(envp);
  // An ADD waits in ternd for the allocation's fdatasync and the kernel's rtnl lock; a
  // ternd that has not answered in a minute is stuck, and the runtime retries.
  struct timeval_k timeout = {60, 0};
  sys5(__NR_setsockopt, sock, kSolSocket, kSoRcvtimeo, &timeout, sizeof timeout);
  sys5(__NR_setsockopt, sock, kSolSocket, kSoSndtimeo, &timeout, sizeof timeout);
  if (sys3(__NR_connect, sock, &addr, sizeof addr) < 0) run_standalone(envp);  // ternd is not running

  size_t request_size = build_request(envp);
  if (!request_size) run_standalone(envp);
  struct iovec_k iov = {request, request_size};
  struct one_fd_cmsg control = {offsetof(struct one_fd_cmsg, fd) + sizeof(int), kSolSocket, kScmRights, (int)netns_fd, 0};
  struct msghdr_k msg = {0, 0, &iov, 1, netns_fd >= 0 ? &control : 0, netns_fd >= 0 ? sizeof control : 0, 0};
  long sent;
  do sent = sys3(__NR_sendmsg, sock, &msg, kMsgNosignal);
  while (sent == -kEintr);
  if (sent < 0) run_standalone(envp);
  while ((size_t)sent < request_size) {
    long w = sys3(__NR_write, sock, request + sent, request_size - (size_t)sent);
    if (w == -kEintr) continue;
    if (w <= 0) run_standalone(envp);
    sent += w;
  }

  // Nothing has happened yet when ternd closes without a word (it stopped, or is older
  // and dropped the request), or it died in the middle: either way tern-standalone's ADD
  // and DEL pick up from whatever state the node is in.
  size_t got = 0;
  uint64_t body = 0;
  const char* start = 0;
  while (1) {
    const char* p = reply;
    if (got && get_varint(&p, reply + got, &body)) {
      if (body > kMaxReply - (size_t)(p - reply)) run_standalone(envp);
      if (got - (size_t)(p - reply) >= body) {
        start = p;
        break;
      }
    }
    if (got == kMaxReply) run_standalone(envp);
    long r = sys3(__NR_read, sock, reply + got, kMaxReply - got);
    if (r == -kEintr) continue;
    if (r == -kEagain) fail(11, "tern: ternd did not answer in 60 s");
    if (r <= 0) run_standalone(envp);
    got += (size_t)r;
  }
  struct answer a = {0, 0, 0, 0};  // proto3 leaves out fields at their defaults (status 0)
  if (!parse_reply(start, start + body, &a) || !a.served) run_standalone(envp);
  write_all(1, a.output, a.output_size);
  exit_group(a.status);
}
