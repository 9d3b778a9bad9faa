#include "fs/cli/control.h"
#include "fs/cli/mounts.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fs/cli/common.h"

namespace ciuicfs::cli {
namespace {

// The socket never leaves this machine: integers travel in host order.
template <typename T>
void PutInt(char* dst, T v) { std::memcpy(dst, &v, sizeof(v)); }
template <typename T>
T GetInt(const char* src) {
  T v;
  std::memcpy(&v, src, sizeof(v));
  return v;
}

bool WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}

bool ReadAll(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

bool WriteString(int fd, const std::string& s) {
  char len[4];
  PutInt<uint32_t>(len, uint32_t(s.size()));
  return WriteAll(fd, len, 4) && WriteAll(fd, s.data(), s.size());
}

bool ReadString(int fd, std::string* s, uint32_t limit) {
  char len[4];
  if (!ReadAll(fd, len, 4)) return false;
  uint32_t n = GetInt<uint32_t>(len);
  if (n > limit) return false;
  s->resize(n);
  return ReadAll(fd, s->data(), n);
}

std::string SocketPath(const std::string& store_dir) { return MountSocketPath(store_dir, getpid()); }

bool FillAddress(const std::string& path, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr->sun_path)) return false;
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  return true;
}

}  // namespace

ControlServer::ControlServer(Store* store, std::string store_dir, MountHooks hooks)
    : store_(store), store_dir_(std::move(store_dir)), path_(SocketPath(store_dir_)), hooks_(std::move(hooks)) {}

Status ControlServer::Start() {
  sockaddr_un addr;
  if (!FillAddress(path_, &addr)) return Status::InvalidArgument("store path too long for a control socket: " + path_);
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return Status::FromErrno(errno, "socket");
  unlink(path_.c_str());  // a stale socket of a killed daemon (we hold the store lock)
  mode_t old = umask(0077);
  int rc = bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  umask(old);
  if (rc != 0 || listen(listen_fd_, 8) != 0) return Status::FromErrno(errno, "listen on " + path_);
  thread_ = std::thread([this] { Serve(); });
  return Status::Ok();
}

ControlServer::~ControlServer() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(path_.c_str());
  }
}

void ControlServer::Serve() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Handle(fd);
    close(fd);
  }
}

void ControlServer::Handle(int fd) {
  char count_le[4];
  if (!ReadAll(fd, count_le, 4)) return;
  uint32_t count = GetInt<uint32_t>(count_le);
  if (count == 0 || count > 256) return;
  std::vector<std::string> args(count);
  for (auto& a : args)
    if (!ReadString(fd, &a, 1 << 16)) return;
  CommandContext ctx;
  ctx.store = store_;
  ctx.store_dir = store_dir_;
  ctx.mount = hooks_;
  std::string out, err;
  int code = RunCaptured(ctx, args, &out, &err);
  char code_le[4];
  PutInt<int32_t>(code_le, code);
  WriteAll(fd, code_le, 4) && WriteString(fd, out) && WriteString(fd, err);
}

int RunCaptured(const CommandContext& base, const std::vector<std::string>& args, std::string* out,
                std::string* err) {
  char* out_buf = nullptr;
  char* err_buf = nullptr;
  size_t out_len = 0, err_len = 0;
  CommandContext ctx = base;
  ctx.out = open_memstream(&out_buf, &out_len);
  ctx.err = open_memstream(&err_buf, &err_len);
  const CommandContext* outer = CurrentContext();
  SetCommandContext(&ctx);
  int code = kExitUsage;
  bool found = false;
  for (const Command& c : Commands()) {
    if (args.empty() || args[0] != c.name) continue;
    found = true;
    code = c.run(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  if (!found) Fail("the mount does not run '" + (args.empty() ? std::string() : args[0]) + "'");
  SetCommandContext(outer);
  std::fclose(ctx.out);
  std::fclose(ctx.err);
  out->assign(out_buf, out_len);
  err->assign(err_buf, err_len);
  std::free(out_buf);
  std::free(err_buf);
  return code;
}

int CallDaemon(const std::string& socket_path, const std::vector<std::string>& args, std::string* out,
               std::string* err) {
  sockaddr_un addr;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || !FillAddress(socket_path, &addr) ||
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    *err = "ciuicfs: cannot reach the mount's daemon at " + socket_path + ": " + std::strerror(errno) + "\n";
    if (fd >= 0) close(fd);
    return kExitFailed;
  }
  char count_le[4];
  PutInt<uint32_t>(count_le, uint32_t(args.size()));
  bool ok = WriteAll(fd, count_le, 4);
  for (const std::string& a : args) ok = ok && WriteString(fd, a);
  char code_le[4];
  ok = ok && ReadAll(fd, code_le, 4) && ReadString(fd, out, 1u << 30) && ReadString(fd, err, 1u << 30);
  close(fd);
  if (!ok) {
    out->clear();
    *err = "ciuicfs: the mount's daemon closed the control connection without an answer\n";
    return kExitFailed;
  }
  return GetInt<int32_t>(code_le);
}

int ForwardToDaemon(const std::string& socket_path, const std::vector<std::string>& args) {
  std::string out, err;
  int code = CallDaemon(socket_path, args, &out, &err);
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fwrite(err.data(), 1, err.size(), stderr);
  return code;
}

}  // namespace ciuicfs::cli
