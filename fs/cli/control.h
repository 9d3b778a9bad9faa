// The control socket of a mount: `<store>/mounts/<pid>.sock` (mode 0600;
// mounts.h). A
// command that changes a mounted store (tag, prune, gc, rollback) is sent
// there and run inside the daemon, with the daemon's store, so it is safe
// while a trainer writes (the daemon's pins protect in-flight saves from
// gc). Wire format: the request is a u32 argument count and each argument
// as u32 length + bytes; the answer is an i32 exit code and stdout and
// stderr, each as u32 length + bytes. Integers in host byte order (the socket is local).
#ifndef CIUICFS_FS_CLI_CONTROL_H_
#define CIUICFS_FS_CLI_CONTROL_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "fs/cli/common.h"
#include "store/store.h"

namespace ciuicfs::cli {

class ControlServer {
 public:
  ControlServer(Store* store, std::string store_dir, MountHooks hooks);
  ~ControlServer();  // stops serving and removes the socket
  Status Start();

 private:
  void Serve();
  void Handle(int fd);

  Store* store_;
  std::string store_dir_, path_;
  MountHooks hooks_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Sends `args` (a subcommand and its arguments) to the daemon listening at
// `socket_path`, relays its output, and returns its exit code.
int ForwardToDaemon(const std::string& socket_path, const std::vector<std::string>& args);
// The same, with the daemon's stdout and stderr returned instead of relayed
// (an unreachable daemon: kExitFailed and one line in *err).
int CallDaemon(const std::string& socket_path, const std::vector<std::string>& args, std::string* out,
               std::string* err);

// Runs subcommand args[0] (with its arguments) in a context like `base`
// (its store and hooks), its stdout and stderr captured into *out and
// *err; returns its exit code. What the daemon does for each client, and
// what `ciuicfs ui` does with its own store.
int RunCaptured(const CommandContext& base, const std::vector<std::string>& args, std::string* out,
                std::string* err);

}  // namespace ciuicfs::cli

#endif  // CIUICFS_FS_CLI_CONTROL_H_
