#include "fs/cli/common.h"
#include "fs/cli/control.h"
#include "fs/cli/mounts.h"
#include "store/pack/backend.h"

#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace ciuicfs::cli {

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      {"mount", "serve a store at a mountpoint (daemonizes; -f stays in front)", RunMount},
      {"umount", "unmount a ciuicfs mountpoint", RunUmount},
      {"branch", "list, create (at any snapshot, copying nothing) or delete branches", RunBranch},
      {"switch", "make a running mount's live tree another branch's head", RunSwitch},
      {"log", "the mount's branch, newest first (--all: every branch)", RunLog},
      {"show", "one snapshot: its tree, parent, step, bytes new vs shared", RunShow},
      {"diff", "what changed between two snapshots, in bytes and chunks", RunDiff},
      {"rollback", "make the whole tree equal an older snapshot, as a new snapshot", RunRollback},
      {"tag", "name a snapshot (and pin it against prune)", RunTag},
      {"prune", "drop snapshots from the retained set", RunPrune},
      {"policy", "a mount's retention policy, shown or changed live (applied after commits, gc in the background)", RunPolicy},
      {"gc", "free chunks no kept snapshot references and compact packs", RunGc},
      {"compact", "re-encode stored chunks (deltas, compression), then compact packs", RunCompact},
      {"graph", "the chain as Graphviz DOT (PNG with --png)", RunGraph},
      {"stats", "raw vs stored bytes and the dedup ratio", RunStats},
      {"verify", "check every chunk of every snapshot against its id", RunVerify},
      {"upgrade", "convert a store written by an older ciuicfs to this format", RunUpgrade},
      {"ui", "the chain, metrics and bytes as a local web page (loopback, token in the URL)", RunUi},
  };
  return commands;
}

namespace {
thread_local const CommandContext* current_context = nullptr;
std::vector<std::string> invocation;
}  // namespace

void SetCommandContext(const CommandContext* context) { current_context = context; }
const CommandContext* CurrentContext() { return current_context; }
FILE* Out() { return current_context ? current_context->out : stdout; }
FILE* Err() { return current_context ? current_context->err : stderr; }
void SetInvocation(int argc, char** argv) { invocation.assign(argv + 1, argv + argc); }

void Fail(const std::string& line) { std::fprintf(Err(), "ciuicfs: %s\n", line.c_str()); }

int FailStatus(const std::string& command, const Status& s) {
  Fail(command + ": " + s.message());
  return s.code() == Status::Code::kInvalidArgument ? kExitUsage : kExitFailed;
}

bool ParseArgs(const std::string& name, const std::vector<std::string>& args, const po::options_description& opts,
               const char* example, po::variables_map* vm, int* exit_code,
               const po::positional_options_description* positional) {
  po::options_description all(opts);
  all.add_options()("help,h", "show this help");
  try {
    po::command_line_parser parser(args);
    parser.options(all);
    if (positional) parser.positional(*positional);
    po::store(parser.run(), *vm);
    if (vm->count("help")) {
      std::ostringstream help;
      help << "usage: ciuicfs " << name << " [options]\n\n" << all << "\nexample:\n  " << example << "\n";
      std::fputs(help.str().c_str(), Out());
      *exit_code = kExitOk;
      return false;
    }
    po::notify(*vm);
  } catch (const po::error& e) {
    Fail(name + ": " + e.what() + " (see 'ciuicfs " + name + " --help')");
    *exit_code = kExitUsage;
    return false;
  }
  return true;
}

std::string DefaultStoreDir() {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  if (xdg && *xdg) return std::string(xdg) + "/ciuicfs/store";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/root") + "/.local/share/ciuicfs/store";
}

std::string DefaultRadosCacheDir(const std::string& uri) {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const std::string base = xdg && *xdg ? std::string(xdg) : std::string(home && *home ? home : "/root") + "/.cache";
  std::string rest = uri.substr(uri.find(':') + 1);  // POOL/NAME
  return base + "/ciuicfs/rados/" + rest;
}

// The store directory of the ciuicfs mount at `path` (its fsname), or
// nullopt when `path` is not a ciuicfs mount.
std::optional<std::string> CiuicfsMountSource(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // "<id> <parent> <dev> <root> <mount point> <opts> ... - <fstype> <source> <super opts>"
    std::istringstream ss(line);
    std::string id, parent, dev, root, mnt;
    ss >> id >> parent >> dev >> root >> mnt;
    size_t dash = line.find(" - ");
    if (mnt != path || dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype, source;
    tail >> fstype >> source;
    if (fstype == "fuse.ciuicfs") return source;
  }
  return std::nullopt;
}

std::optional<std::string> MountAroundCwd() {
  char buf[PATH_MAX];
  if (!getcwd(buf, sizeof(buf))) return std::nullopt;  // e.g. inside a mount whose daemon died
  std::filesystem::path p = std::filesystem::path(buf).lexically_normal();
  for (;;) {
    std::string s = p.string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    if (CiuicfsMountSource(s)) return s;
    if (!p.has_relative_path()) return std::nullopt;  // reached /
    p = p.parent_path();
  }
}

std::string AbsolutePath(const std::string& path) {
  std::error_code ec;
  std::string p = std::filesystem::absolute(path, ec).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (char* real = realpath(p.c_str(), nullptr)) {  // as mountinfo lists a mount: symlinks resolved
    p = real;
    free(real);
  }
  return p;
}

namespace {
const char* const kRetentionRules[] = {"keep-last", "keep-every-steps", "keep-within", "keep-hourly", "keep-daily"};
}  // namespace

void AddRetentionOptions(po::options_description* opts, const std::string& prefix) {
  const char* what[] = {"keep the newest N snapshots of each branch",
                        "keep each branch's newest snapshot of every step divisible by K",
                        "keep every snapshot within D of the branch's newest (90s, 30m, 12h, 7d, 2w)",
                        "keep the newest snapshot of each of the last N hours with any",
                        "keep the newest snapshot of each of the last N days with any"};
  for (size_t i = 0; i < std::size(kRetentionRules); ++i)
    opts->add_options()(kRetentionRules[i], po::value<std::string>(), (prefix + what[i]).c_str());
}

Result<RetentionPolicy> RetentionFromOptions(const po::variables_map& vm) {
  std::string text;
  for (const char* rule : kRetentionRules)
    if (vm.count(rule)) text += std::string(text.empty() ? "" : ",") + rule + "=" + vm[rule].as<std::string>();
  return ParseRetentionPolicy(text);
}

void AddStoreOption(po::options_description* opts) {
  opts->add_options()("store", po::value<std::string>()->default_value(""),
                      "a store directory or a ciuicfs mountpoint (default: the mount the current directory is in, else the default store)");
}

const po::positional_options_description& StorePositional() {
  static const po::positional_options_description pos = [] {
    po::positional_options_description p;
    p.add("store", 1);
    return p;
  }();
  return pos;
}

std::optional<Target> ParseAndOpen(const std::string& name, const std::vector<std::string>& args,
                                   po::options_description opts, const char* example,
                                   const po::positional_options_description& positional, bool mutate,
                                   po::variables_map* vm, int* exit_code) {
  AddStoreOption(&opts);
  if (!ParseArgs(name, args, opts, example, vm, exit_code, &positional)) return std::nullopt;
  auto t = OpenTarget((*vm)["store"].as<std::string>(), mutate);
  if (!t) *exit_code = kExitFailed;
  return t;
}

namespace {

// A store on RADOS named by its URI: through this node's default cache,
// caught up first (CEPH_CONF names the Ceph configuration where it is not
// in librados' default places). Beside a mount that holds the cache, a read
// goes through the mount's index and a change is refused.
std::optional<Target> OpenRadosTarget(const std::string& uri, bool mutate) {
  if (auto parsed = ParseStoreUri(uri); !parsed.ok()) {
    Fail(parsed.status().message());
    return std::nullopt;
  }
  Target t;
  t.store_dir = DefaultRadosCacheDir(uri);
  std::error_code ec;
  std::filesystem::create_directories(t.store_dir, ec);
  StoreOptions options;
  options.cache_dir = t.store_dir;
  auto store = Store::Open(uri, options);
  if (!store.ok() && store.status().code() == Status::Code::kBusy && !mutate) {
    options.read_only = true;
    store = Store::Open(t.store_dir, options);
  }
  if (!store.ok()) {
    if (store.status().code() == Status::Code::kBusy)
      Fail(uri + ": its cache " + t.store_dir + " is in use by a mount; run the command on the mountpoint");
    else
      Fail(store.status().message());
    return std::nullopt;
  }
  t.owned = std::move(store.value());
  t.store = t.owned.get();
  return t;
}

}  // namespace

std::optional<Target> OpenTarget(const std::string& where, bool mutate) {
  Target t;
  const CommandContext* ctx = CurrentContext();
  if (ctx && ctx->store) {  // inside the daemon (or the ui): its own store
    t.store = ctx->store;
    t.store_dir = ctx->store_dir;
    if (ctx->mount.branch) t.branch = ctx->mount.branch();
    return t;
  }
  if (where.rfind("rados:", 0) == 0) return OpenRadosTarget(where, mutate);
  // No store named: the mount the current directory is in, else the
  // default store.
  std::optional<std::string> around = where.empty() ? MountAroundCwd() : std::nullopt;
  std::string path = AbsolutePath(!where.empty() ? where : around ? *around : DefaultStoreDir());
  if (auto source = CiuicfsMountSource(path)) {
    t.mountpoint = path;
    t.store_dir = *source;
  } else {
    t.store_dir = path;
  }
  std::optional<MountEntry> mount;
  if (!t.mountpoint.empty()) mount = FindMount(t.store_dir, t.mountpoint);
  if (mutate && !t.mountpoint.empty()) {
    if (!mount) {
      Fail(t.mountpoint + " is a ciuicfs mount whose daemon is not answering (no entry under " + MountsDir(t.store_dir) + ")");
      return std::nullopt;
    }
    std::exit(ForwardToDaemon(MountSocketPath(t.store_dir, mount->pid), invocation));
  }
  StoreOptions options;
  options.create_if_missing = false;
  options.read_only = !mutate;
  if (access((t.store_dir + "/CIUICFS-STORE").c_str(), F_OK) != 0) {
    if (errno == EACCES) {  // not "not a store": the user may not look
      Fail(t.store_dir + ": " + std::strerror(EACCES));
      return std::nullopt;
    }
    Fail(t.store_dir + " is not a ciuicfs store or mount");
    return std::nullopt;
  }
  auto store = Store::Open(t.store_dir, options);
  if (!store.ok()) {
    if (store.status().code() == Status::Code::kBusy)
      Fail(t.store_dir + " is in use by a mount; unmount it first to change it");
    else
      Fail(store.status().message());
    return std::nullopt;
  }
  t.owned = std::move(store.value());
  t.store = t.owned.get();
  if (mount) t.branch = mount->branch;  // read beside a mount: its live branch
  return t;
}

std::string ChangesJson(const std::vector<Change>& changes) {
  std::string out = "[";
  for (const Change& c : changes)
    out += std::string(out.size() > 1 ? "," : "") + "{\"path\":" + JsonString(c.path) + ",\"kind\":\"" +
           ChangeKindName(c.kind) + "\",\"size\":" + std::to_string(c.size) + "}";
  return out + "]";
}

bool LoadChain(Store* store, std::vector<Snapshot>* snaps, TagsBySeq* tags_by_seq, const std::string* branch) {
  auto list = branch ? store->BranchLine(*branch) : store->ListSnapshots();
  auto tags = store->Tags();
  if (!list.ok() || !tags.ok()) {
    Fail((list.ok() ? tags.status() : list.status()).message());
    return false;
  }
  *snaps = std::move(list.value());
  for (auto& [name, seq] : *tags) (*tags_by_seq)[seq].push_back(name);
  return true;
}

std::string TagText(const TagsBySeq& tags, uint64_t seq) {
  auto it = tags.find(seq);
  std::string out;
  if (it != tags.end())
    for (const std::string& name : it->second) out += (out.empty() ? "" : ",") + name;
  return out;
}

std::string FormatTime(int64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000);
  struct tm tm;
  localtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof(buf), "%llu B", (unsigned long long)bytes);
  else std::snprintf(buf, sizeof(buf), "%.1f %s", v, units[u]);
  return buf;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

}  // namespace ciuicfs::cli
