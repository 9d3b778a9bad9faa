// A real ciuicfs mount for end-to-end tests: the ciuicfs binary runs in the
// foreground in a child process, so a test can kill -9 it and mount again.
#ifndef CIUICFS_TESTS_FS_MOUNT_UTIL_H_
#define CIUICFS_TESTS_FS_MOUNT_UTIL_H_

#include <sys/types.h>

#include <optional>
#include <string>

namespace ciuicfs::testing {

// Why FUSE cannot run here, or "" when it can.
std::string FuseUnavailableReason();

class Mount {
 public:
  Mount(std::string mountpoint, std::string store, std::string extra_args = "");
  ~Mount();  // unmounts if still mounted
  bool Start();
  void Unmount();    // clean: fusermount3 -u, wait for the daemon to exit
  void KillHard();   // SIGKILL the daemon, then detach the dead mount
  // True when the daemon exits (by itself, e.g. at a crash point) within
  // `ms`; the dead mount is detached then.
  bool ExitsWithin(int ms);
  const std::string& path() const { return mountpoint_; }
  pid_t pid() const { return pid_; }  // the daemon's
  std::string At(const std::string& rel) const { return mountpoint_ + "/" + rel; }

 private:
  std::string mountpoint_, store_, extra_;
  pid_t pid_ = -1;
};

bool IsMounted(const std::string& path);
// The mount's options as /proc/self/mountinfo lists them; nullopt when
// nothing is mounted at `path`.
std::optional<std::string> MountOptions(const std::string& path);
std::string ReadFile(const std::string& path);   // "<missing>" when it cannot be opened
bool WriteFile(const std::string& path, const std::string& data);
// Number of regular files plus directories directly in `dir` (-1 on error).
int CountEntries(const std::string& dir);
bool PathExists(const std::string& path);  // stat() succeeds
int CountLines(const std::string& text);   // newlines in a command's output
uint64_t DirBytes(const std::string& dir);       // sum of regular file sizes

struct CommandResult {
  int code = -1;
  std::string out, err;
};
// Runs `ciuicfs ARGS` (a shell fragment), capturing stdout and stderr.
// `env` is an optional "NAME=value ..." prefix.
// What `sh -c cmd` writes to stdout (add 2>&1 for stderr too); its exit
// status in *code (-1 when it did not exit normally).
std::string ShellOutput(const std::string& cmd, int* code = nullptr);
// Python expression `expr` (no single quotes) printed over `json`, parsed
// as `d`, or with `lines` as the list `L` of its JSON lines; the file goes
// into `scratch_dir`. The error Python raised, when it does.
std::string PythonOverJson(const std::string& json, const std::string& expr, const std::string& scratch_dir,
                           bool lines = false);
CommandResult RunCiuicfs(const std::string& args, const std::string& scratch_dir, const std::string& env = "");

// Waits (up to 60 s) until the background ingest of the store mounted at
// `mountpoint` has no backlog (`ciuicfs stats --json` beside the mount);
// false when it still has one.
bool WaitForIngest(const std::string& mountpoint, const std::string& scratch_dir);

// "same" or a short description of how two byte strings differ (never the
// bytes themselves, which may be megabytes).
std::string Diff(const std::string& got, const std::string& want);

}  // namespace ciuicfs::testing

#endif  // CIUICFS_TESTS_FS_MOUNT_UTIL_H_
