#include "tests/fs/mount_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <fstream>
#include <sstream>
#include <thread>

namespace ciuicfs::testing {

std::string FuseUnavailableReason() {
  if (access("/dev/fuse", R_OK | W_OK) != 0) return "/dev/fuse is not available";
  if (system("command -v fusermount3 >/dev/null 2>&1") != 0) return "fusermount3 is not installed";
  return "";
}

// The super options of the mount at `path` from /proc/self/mountinfo
// (fields: id parent dev root mountpoint ... " - " type source options).
std::optional<std::string> MountOptions(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string a, b, c, d, mnt;
    ss >> a >> b >> c >> d >> mnt;
    if (mnt != path) continue;
    size_t dash = line.find(" - ");
    std::istringstream tail(dash == std::string::npos ? "" : line.substr(dash + 3));
    std::string type, source, opts;
    tail >> type >> source >> opts;
    return opts;
  }
  return std::nullopt;
}

bool IsMounted(const std::string& path) { return MountOptions(path).has_value(); }

Mount::Mount(std::string mountpoint, std::string store, std::string extra_args)
    : mountpoint_(std::move(mountpoint)), store_(std::move(store)), extra_(std::move(extra_args)) {
  mkdir(mountpoint_.c_str(), 0755);
}

Mount::~Mount() {
  if (pid_ > 0) Unmount();
}

bool Mount::Start() {
  pid_ = fork();
  if (pid_ == 0) {
    // CIUICFS_TEST_MOUNT_ARGS: the same tests over another write path
    // (tests/CMakeLists.txt runs them again with --no-passthrough).
    const char* more = getenv("CIUICFS_TEST_MOUNT_ARGS");
    std::string store = "'" + store_ + "'";
    // A store given as rados:POOL/NAME (its --cache among the extra args)
    // logs beside the mountpoint.
    const bool named = store_.rfind("rados:", 0) == 0;
    const std::string log = named ? mountpoint_ + ".log" : store_ + ".log";
    // CIUICFS_TEST_CEPH_CONF (scripts/ceph-cluster.sh with): the store is
    // on RADOS, named after the directory, which is the node's cache.
    const char* ceph = getenv("CIUICFS_TEST_CEPH_CONF");
    if (ceph && *ceph && !named) {
      char name[32];
      snprintf(name, sizeof(name), "t%016zx", std::hash<std::string>{}(store_));
      store = std::string("rados:ciuicfs/") + name + " --cache " + store + " --ceph-conf '" + ceph + "'";
    }
    std::string cmd = std::string("exec ") + CIUICFS_BIN + " mount -f '" + mountpoint_ + "' --store " + store + " " +
                      extra_ + " " + (more ? more : "") + " 2>>'" + log + "'";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
    _exit(127);
  }
  for (int i = 0; i < 200; ++i) {
    if (IsMounted(mountpoint_)) return true;
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

void Mount::Unmount() {
  if (pid_ <= 0) return;
  std::string cmd = "fusermount3 -u '" + mountpoint_ + "' 2>/dev/null";
  for (int i = 0; i < 100 && system(cmd.c_str()) != 0; ++i)  // EBUSY while files close
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  int status;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool Mount::ExitsWithin(int ms) {
  for (int waited = 0; pid_ > 0 && waited <= ms; waited += 10) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      std::string cmd = "fusermount3 -u -z '" + mountpoint_ + "' 2>/dev/null";
      (void)!system(cmd.c_str());
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void Mount::KillHard() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  std::string cmd = "fusermount3 -u -z '" + mountpoint_ + "' 2>/dev/null";
  if (system(cmd.c_str()) != 0) {
    // Already gone: nothing to detach.
  }
}

std::string ReadFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return "<missing>";
  std::string out;
  char buf[1 << 16];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, size_t(n));
  close(fd);
  return n < 0 ? "<read error " + std::string(strerror(errno)) + ">" : out;
}

bool WriteFile(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return false;
  bool ok = write(fd, data.data(), data.size()) == ssize_t(data.size());
  return close(fd) == 0 && ok;
}

bool PathExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

int CountLines(const std::string& text) { return int(std::count(text.begin(), text.end(), '\n')); }

int CountEntries(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return -1;
  int n = 0;
  while (struct dirent* e = readdir(d))
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) ++n;
  closedir(d);
  return n;
}

uint64_t DirBytes(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return 0;
  uint64_t total = 0;
  while (struct dirent* e = readdir(d)) {
    struct stat st;
    if (stat((dir + "/" + e->d_name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) total += uint64_t(st.st_size);
  }
  closedir(d);
  return total;
}

CommandResult RunCiuicfs(const std::string& args, const std::string& scratch_dir, const std::string& env) {
  CommandResult r;
  const std::string out = scratch_dir + "/cmd.out", err = scratch_dir + "/cmd.err";
  int status = system((env + " " + std::string(CIUICFS_BIN) + " " + args + " >" + out + " 2>" + err + " </dev/null").c_str());
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

std::string Diff(const std::string& got, const std::string& want) {
  if (got == want) return "same";
  if (got.size() < 64 && got.rfind("<", 0) == 0) return "got " + got + ", want " + std::to_string(want.size()) + " bytes";
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return "got " + std::to_string(got.size()) + " bytes, want " + std::to_string(want.size()) +
         ", first difference at " + std::to_string(i);
}

bool WaitForIngest(const std::string& mountpoint, const std::string& scratch_dir) {
  for (int i = 0; i < 600; ++i) {
    CommandResult st = RunCiuicfs("stats --json '" + mountpoint + "'", scratch_dir);
    if (st.code == 0 && st.out.find("\"backlog_versions\":0,") != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::string ShellOutput(const std::string& cmd, int* code) {
  std::string out;
  if (code) *code = -1;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  const int status = pclose(p);
  if (code) *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::string PythonOverJson(const std::string& json, const std::string& expr, const std::string& scratch_dir,
                           bool lines) {
  const std::string file = scratch_dir + "/answer.json";
  if (!WriteFile(file, json)) return "cannot write " + file;
  const std::string load = lines ? "L=[json.loads(l) for l in open(sys.argv[1])]" : "d=json.load(open(sys.argv[1]))";
  return ShellOutput("/usr/bin/python3 -c 'import json,sys; " + load + "; print(" + expr + ")' '" + file + "' 2>&1");
}

}  // namespace ciuicfs::testing
