// ciuicfs mount: serve a store at a mountpoint. Daemonizes once the mount
// is live (the parent waits for the child's word, so every error reaches
// the terminal as one line and a non-zero exit); -f stays in front.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "fs/cli/common.h"
#include "fs/cli/control.h"
#include "fs/cli/mount_args.h"
#include "fs/cli/mounts.h"
#include "fs/filesystem.h"
#include "store/pack/backend.h"

namespace ciuicfs::cli {
namespace {

void Tell(int fd, const std::string& msg) {
  if (fd >= 0) {
    ssize_t n = write(fd, msg.data(), msg.size());
    (void)n;
    close(fd);
  }
}

std::string EscapeOption(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ',' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// Runs the daemon; reports "OK <store>" or "ERR <line>" on `notify_fd`.
// The mount's branch exists, or is created at main's head (`create`).
Status PrepareBranch(Store* store, const std::string& name, bool create) {
  auto head = store->Head(name);
  if (head.ok()) return Status::Ok();
  if (!head.status().IsNotFound()) return head.status();
  CIUIC_RETURN_IF_ERROR(ValidateBranchName(name));
  if (!create)
    return Status::NotFound("no branch '" + name + "' (create it with `ciuicfs branch " + name +
                            "`, or mount with --branch " + name + " --create)");
  auto main = store->Head("main");
  if (!main.ok()) return main.status();
  return store->CreateBranch(name, *main ? (*main)->seq : 0);
}

// What the daemon serves, beyond MountOptions.
struct ServeRequest {
  MountOptions options;
  bool create_branch = false;
  bool foreground = false;
  std::string kernel_flags;  // the generic mount flags given with -o (ro, nosuid, ...)
  RetentionPolicy retention;  // applied after commits (store/retention/)
};

int Serve(ServeRequest request, int notify_fd) {
  MountOptions& options = request.options;
  const bool create_branch = request.create_branch, foreground = request.foreground;
  const std::string& kernel_flags = request.kernel_flags;
  StoreOptions store_options;
  store_options.shared = true;  // other mounts of this store may write other branches
  store_options.background_reencode = options.reencode;  // deltas and compression after each ingest
  const bool rados = options.store_location != options.store_dir;
  if (rados) {
    store_options.cache_dir = options.store_dir;
    store_options.ceph_conf = options.ceph_conf;
  }
  auto store = Store::Open(options.store_location, store_options);
  if (!store.ok()) {
    Tell(notify_fd, "ERR " + store.status().message());
    return kExitFailed;
  }
  Status branch = PrepareBranch(store->get(), options.branch, create_branch);
  Result<std::unique_ptr<MountRegistration>> registration = branch;
  if (branch.ok()) registration = MountRegistration::Register(options.store_dir, options.mountpoint, options.branch);
  if (!registration.ok()) {
    Tell(notify_fd, "ERR " + registration.status().message());
    return kExitFailed;
  }
  MountRegistration* reg = registration->get();
  Filesystem fs(store->get(), options);
  Status loaded = fs.Load();
  if (!loaded.ok()) {
    Tell(notify_fd, "ERR " + loaded.message());
    return kExitFailed;
  }
  std::string opts = "fsname=" + EscapeOption(options.store_dir) + ",subtype=ciuicfs,default_permissions";
  if (options.allow_other) opts += ",allow_other";
  if (!kernel_flags.empty()) opts += "," + kernel_flags;
  const char* argv[] = {"ciuicfs", "-o", opts.c_str()};
  fuse_args args = FUSE_ARGS_INIT(3, const_cast<char**>(argv));
  fuse_session* se = fuse_session_new(&args, &Filesystem::Ops(), sizeof(fuse_lowlevel_ops), &fs);
  fuse_opt_free_args(&args);  // the session keeps its own copy of what it needs
  if (!se) {
    Tell(notify_fd, "ERR could not start a FUSE session");
    return kExitFailed;
  }
  if (fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, options.mountpoint.c_str()) != 0) {
    fuse_session_destroy(se);
    Tell(notify_fd, "ERR could not mount " + options.mountpoint + " (is /dev/fuse available?)");
    return kExitFailed;
  }
  if (!foreground) {  // from here on, diagnostics go to the store's log
    int log = open((options.store_dir + "/daemon.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log >= 0) {
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
      close(log);
    }
  }
  fs.SetSession(se);
  // Retention runs beside the saves; it stops before the last ingest.
  auto keeper = std::make_unique<RetentionKeeper>(store->get(), request.retention);
  if (!request.retention.empty()) LogLine("mount: retention " + FormatRetentionPolicy(request.retention));
  MountHooks hooks;
  hooks.retention = keeper.get();
  hooks.commit_and_reload = [&fs](const std::function<Result<Snapshot>()>& commit) {
    return fs.CommitAndReload(commit);
  };
  hooks.branch = [&fs] { return fs.branch(); };
  hooks.switch_branch = [&fs, reg, s = store->get()](const std::string& name) {
    // A branch that exists (before a lock file is made for it), its lock (no
    // other mount has it live), then the tree (no file is open for
    // writing); the old lock goes on success.
    auto head = s->Head(name);
    if (!head.ok()) return head.status();
    return reg->Switch(name, [&] { return fs.SwitchBranch(name); });
  };
  ControlServer control(store->get(), options.store_dir, hooks);
  Status listening = control.Start();
  if (!listening.ok()) {
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    Tell(notify_fd, "ERR " + listening.message());
    return kExitFailed;
  }
  Tell(notify_fd, "OK " + options.store_location + (rados ? " (cache " + options.store_dir + ")" : ""));
  fuse_loop_config cfg = {};
  cfg.clone_fd = 0;
  cfg.max_idle_threads = 16;
  int rc = fuse_session_loop_mt(se, &cfg);
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  keeper.reset();
  // The saves' extents not ingested yet: done now, so the store is left
  // with its chunks in packs (a kill here leaves them for the next open).
  Status drained = store->get()->DrainIngest();
  if (!drained.ok()) LogLine("umount: the background ingest stopped: " + drained.message());
  return rc == 0 ? kExitOk : kExitFailed;
}

bool IsCiuicfsMount(const std::string& path) { return CiuicfsMountSource(path).has_value(); }

}  // namespace


int RunMount(const std::vector<std::string>& args) {
  po::options_description opts("mount options");
  opts.add_options()("mountpoint", po::value<std::string>()->required(), "an empty directory")(
      "store", po::value<std::string>()->default_value(DefaultStoreDir()),
      "store directory (created if missing), or rados:POOL/NAME for a store on Ceph RADOS")(
      "cache", po::value<std::string>()->default_value(""),
      "with a rados: store, this node's cache of it (default: ~/.cache/ciuicfs/rados/POOL/NAME)")(
      "ceph-conf", po::value<std::string>()->default_value(""),
      "with a rados: store, the Ceph configuration file (default: $CEPH_CONF, /etc/ceph/ceph.conf)")(
      "foreground,f", po::bool_switch(), "stay in the foreground")(
      "step-pattern", po::value<std::string>()->default_value(""),
      "regex with one capture group for the step number in a path component")(
      "allow-other", po::bool_switch(), "let other users see the mount")(
      "branch", po::value<std::string>()->default_value("main"), "the branch whose head the live tree is")(
      "create", po::bool_switch(), "with --branch: create the branch at main's head when it does not exist")(
      "no-passthrough", po::bool_switch(),
      "write files through the daemon even where the kernel could write them straight into the store")(
      "no-reencode", po::bool_switch(),
      "keep stored chunks as saved (no background deltas or compression; `ciuicfs compact` still does it)")(
      ",o", po::value<std::string>(),
      "KEY[=VALUE],...: any option above (store=DIR, branch=NAME, allow_other, no_passthrough), and the kernel's mount "
      "flags (ro, nosuid, nodev, noexec, noatime, sync, ...); values cannot hold commas");
  AddRetentionOptions(&opts, "retention (gc in the background): ");
  po::positional_options_description pos;
  pos.add("mountpoint", 1);
  // -o KEY[=VALUE],... spells the same options (as mount(8) and fstab give them).
  auto expanded = ExpandMountArgs(args, opts);
  if (!expanded.ok()) return FailStatus("mount", expanded.status());
  po::variables_map vm;
  int code;
  if (!ParseArgs("mount", expanded->args, opts,
                 "ciuicfs mount /ckpt --store /data/ckpt-store\n"
                 "  ciuicfs mount /ckpt -o store=/data/ckpt-store,branch=main,allow_other\n"
                 "  mount -t fuse.ciuicfs /data/ckpt-store /ckpt -o branch=main   (fstab: /data/ckpt-store /ckpt fuse.ciuicfs branch=main 0 0)",
                 &vm, &code, &pos))
    return code;
  MountOptions options;
  std::error_code ec;
  options.mountpoint = std::filesystem::absolute(vm["mountpoint"].as<std::string>(), ec).lexically_normal().string();
  while (options.mountpoint.size() > 1 && options.mountpoint.back() == '/') options.mountpoint.pop_back();
  const std::string store = vm["store"].as<std::string>();
  const bool rados = store.rfind("rados:", 0) == 0;
  if (!rados && (!vm["cache"].as<std::string>().empty() || !vm["ceph-conf"].as<std::string>().empty())) {
    Fail("mount: --cache and --ceph-conf go with a rados:POOL/NAME store");
    return kExitUsage;
  }
  if (rados) {
    if (auto uri = ParseStoreUri(store); !uri.ok()) {
      Fail("mount: " + uri.status().message());
      return kExitUsage;
    }
    const std::string cache = vm["cache"].as<std::string>();
    options.store_dir = std::filesystem::absolute(cache.empty() ? DefaultRadosCacheDir(store) : cache, ec)
                            .lexically_normal()
                            .string();
    const std::string conf = vm["ceph-conf"].as<std::string>();
    if (!conf.empty()) options.ceph_conf = std::filesystem::absolute(conf, ec).lexically_normal().string();
  } else {
    options.store_dir = std::filesystem::absolute(store, ec).lexically_normal().string();
  }
  while (options.store_dir.size() > 1 && options.store_dir.back() == '/') options.store_dir.pop_back();
  options.store_location = rados ? store : options.store_dir;
  options.allow_other = vm["allow-other"].as<bool>();
  options.branch = vm["branch"].as<std::string>();
  options.passthrough = !vm["no-passthrough"].as<bool>();
  options.reencode = !vm["no-reencode"].as<bool>();
  const bool create_branch = vm["create"].as<bool>();
  // Retention (store/retention/README.md): without a rule, nothing is dropped.
  auto policy = RetentionFromOptions(vm);
  if (!policy.ok()) return FailStatus("mount", policy.status());
  ServeRequest request;
  request.retention = *policy;
  request.create_branch = create_branch;
  request.kernel_flags = expanded->kernel_flags;
  if (Status bad = ValidateBranchName(options.branch); !bad.ok()) {
    Fail("mount: " + bad.message());
    return kExitUsage;
  }
  std::string err;
  options.step_parser = StepParser::Create(vm["step-pattern"].as<std::string>(), &err);
  if (!options.step_parser) {
    Fail("mount: " + err);
    return kExitUsage;
  }
  struct stat st;
  if (stat(options.mountpoint.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    Fail("mount: " + options.mountpoint + " is not a directory");
    return kExitUsage;
  }
  // The path the kernel will list the mount under (mountinfo), symlinks resolved.
  if (char* real = realpath(options.mountpoint.c_str(), nullptr)) {
    options.mountpoint = real;
    free(real);
  }
  if (IsCiuicfsMount(options.mountpoint)) {
    Fail("mount: " + options.mountpoint + " is already a ciuicfs mount");
    return kExitFailed;
  }
  if (!std::filesystem::is_empty(options.mountpoint, ec)) {
    Fail("mount: " + options.mountpoint + " is not empty");
    return kExitUsage;
  }
  if (options.store_dir == options.mountpoint ||
      options.store_dir.rfind(options.mountpoint + "/", 0) == 0) {
    Fail("mount: the store cannot live inside the mountpoint");
    return kExitUsage;
  }
  // The default store lives under the data directory, which may not exist
  // (a cache, under the cache directory).
  std::filesystem::create_directories(std::filesystem::path(options.store_dir).parent_path(), ec);
  if (vm["foreground"].as<bool>()) {
    std::cerr << "ciuicfs: serving " << options.mountpoint << " from store " << options.store_location << "\n";
    request.options = options;
    request.foreground = true;
    return Serve(std::move(request), -1);
  }
  int fds[2];
  if (pipe(fds) != 0) {
    Fail("mount: pipe failed");
    return kExitFailed;
  }
  pid_t pid = fork();
  if (pid < 0) {
    Fail("mount: fork failed");
    return kExitFailed;
  }
  if (pid == 0) {
    close(fds[0]);
    setsid();
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) dup2(null, STDIN_FILENO);
    if (fork() > 0) _exit(0);  // the daemon is not a session leader
    request.options = options;
    _exit(Serve(std::move(request), fds[1]));
  }
  close(fds[1]);
  std::string reply;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) reply.append(buf, size_t(n));
  close(fds[0]);
  waitpid(pid, nullptr, 0);
  if (reply.rfind("OK ", 0) == 0) {
    std::cout << "ciuicfs: mounted " << options.mountpoint << " (store " << reply.substr(3) << ")\n";
    return kExitOk;
  }
  Fail("mount: " + (reply.size() > 4 ? reply.substr(4) : std::string("the daemon exited before mounting")));
  return kExitFailed;
}

int RunUmount(const std::vector<std::string>& args) {
  po::options_description opts("umount options");
  opts.add_options()("mountpoint", po::value<std::string>()->required(), "a ciuicfs mountpoint");
  po::positional_options_description pos;
  pos.add("mountpoint", 1);
  po::variables_map vm;
  int code;
  if (!ParseArgs("umount", args, opts, "ciuicfs umount /ckpt", &vm, &code, &pos)) return code;
  std::error_code ec;
  std::string mnt = std::filesystem::absolute(vm["mountpoint"].as<std::string>(), ec).lexically_normal().string();
  while (mnt.size() > 1 && mnt.back() == '/') mnt.pop_back();
  auto store_dir = CiuicfsMountSource(mnt);
  if (!store_dir) {
    Fail("umount: " + mnt + " is not a ciuicfs mount");
    return kExitFailed;
  }
  auto entry = FindMount(*store_dir, mnt);  // the daemon, before it goes
  std::string cmd = "fusermount3 -u '" + mnt + "' 2>/dev/null";
  const bool have_fusermount = system("command -v fusermount3 >/dev/null 2>&1") == 0;
  if (!have_fusermount && geteuid() == 0) {  // root on a machine without fuse3's tools (a carried ciuicfs)
    if (umount2(mnt.c_str(), 0) != 0) {
      Fail("umount: " + mnt + ": " + strerror(errno) + " (files still open?)");
      return kExitFailed;
    }
  } else if (system(cmd.c_str()) != 0) {
    Fail("umount: fusermount3 -u " + mnt + " failed (files still open?)");
    return kExitFailed;
  }
  // Return once the daemon is gone (it removes its entry as it exits, after
  // ingesting the saves' extents), so the store can be opened again right away.
  for (int i = 0; entry && i < 20 * 60 * 20; ++i) {
    if (kill(entry->pid, 0) != 0 && errno == ESRCH) break;
    if (i == 40 && isatty(STDERR_FILENO)) std::cerr << "ciuicfs: umount: waiting for the background ingest to finish\n";
    usleep(50000);
  }
  return kExitOk;
}

}  // namespace ciuicfs::cli
