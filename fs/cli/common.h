// Shared pieces of the ciuicfs subcommands: the registry, option parsing
// that turns bad input into one line and exit code 2, and store location.
#ifndef CIUICFS_FS_CLI_COMMON_H_
#define CIUICFS_FS_CLI_COMMON_H_

#include <boost/program_options.hpp>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/retention/keeper.h"
#include "store/store.h"

namespace ciuicfs::cli {

namespace po = boost::program_options;

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};
const std::vector<Command>& Commands();

int RunMount(const std::vector<std::string>& args);
int RunUmount(const std::vector<std::string>& args);
int RunLog(const std::vector<std::string>& args);
int RunShow(const std::vector<std::string>& args);
int RunDiff(const std::vector<std::string>& args);
int RunTag(const std::vector<std::string>& args);
int RunPrune(const std::vector<std::string>& args);
int RunPolicy(const std::vector<std::string>& args);
int RunGc(const std::vector<std::string>& args);
int RunCompact(const std::vector<std::string>& args);
int RunRollback(const std::vector<std::string>& args);
int RunGraph(const std::vector<std::string>& args);
int RunStats(const std::vector<std::string>& args);
int RunVerify(const std::vector<std::string>& args);
int RunUpgrade(const std::vector<std::string>& args);
int RunBranch(const std::vector<std::string>& args);
int RunSwitch(const std::vector<std::string>& args);
int RunUi(const std::vector<std::string>& args);

// Exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;   // the command ran and found a problem
inline constexpr int kExitUsage = 2;    // bad input: nothing was changed

// Parses `args` for subcommand `name`; on --help prints usage and example
// and returns kExitOk through *exit_code; on bad input prints one line and
// returns kExitUsage. Returns true when the command should run.
bool ParseArgs(const std::string& name, const std::vector<std::string>& args, const po::options_description& opts,
               const char* example, po::variables_map* vm, int* exit_code,
               const po::positional_options_description* positional = nullptr);

// $XDG_DATA_HOME/ciuicfs/store, else $HOME/.local/share/ciuicfs/store.
std::string DefaultStoreDir();
// A node's cache of the store on RADOS `uri` ("rados:POOL/NAME"):
// $XDG_CACHE_HOME/ciuicfs/rados/POOL/NAME, else ~/.cache/ciuicfs/rados/POOL/NAME.
std::string DefaultRadosCacheDir(const std::string& uri);


void Fail(const std::string& line);  // "ciuicfs: <line>" on Err()
// Fails with "<command>: <message>"; returns kExitUsage for bad input
// (InvalidArgument), kExitFailed otherwise.
int FailStatus(const std::string& command, const Status& s);

// Where a command runs: on the terminal (the default), or inside a mount's
// daemon for a client of its control socket, with the daemon's store and
// output captured. Thread-local.
// What a mount offers the commands it runs for clients.
struct MountHooks {
  // Runs a rollback's commit and makes its snapshot the live tree, in one
  // step (refused while a file is open for writing).
  std::function<Result<Snapshot>(const std::function<Result<Snapshot>()>&)> commit_and_reload;
  std::function<std::string()> branch;                         // the live branch
  std::function<Status(const std::string&)> switch_branch;     // `ciuicfs switch`
  RetentionKeeper* retention = nullptr;                        // `ciuicfs policy`
};

struct CommandContext {
  // The daemon's store; null: OpenTarget opens the store named as usual
  // (the output is still captured; `ciuicfs ui` opening a store).
  Store* store = nullptr;
  std::string store_dir;
  MountHooks mount;
  FILE* out = nullptr;
  FILE* err = nullptr;
};
void SetCommandContext(const CommandContext* context);
const CommandContext* CurrentContext();
FILE* Out();
FILE* Err();
// main() records its arguments so a command can be forwarded to a daemon.
void SetInvocation(int argc, char** argv);

// The store directory of the ciuicfs mount at `path` (its fsname), or
// nullopt when `path` is not a ciuicfs mount.
std::optional<std::string> CiuicfsMountSource(const std::string& path);
std::string AbsolutePath(const std::string& path);
// The ciuicfs mount the current directory is in (its mountpoint), or nullopt.
std::optional<std::string> MountAroundCwd();

// What an admin command works on: a store, reached through its mountpoint
// or its directory.
struct Target {
  std::unique_ptr<Store> owned;
  Store* store = nullptr;
  std::string store_dir;
  std::string mountpoint;  // empty when not mounted
  std::string branch = "main";  // a mount's live branch; else main
};

// `where` is a ciuicfs mountpoint or a store directory ("" = the mount
// the current directory is in, else the default store). Read commands open the store read-only, beside a running mount;
// `mutate` commands on a mounted store are sent to its daemon (this call
// then relays the daemon's answer and exits). Prints one line and returns
// nullopt on failure.
std::optional<Target> OpenTarget(const std::string& where, bool mutate);

// The retention rules as options (--keep-last N, --keep-every-steps K,
// --keep-within D, --keep-hourly N, --keep-daily N; store/retention/), each
// description after `prefix`; and the policy they give (empty when none is
// set; InvalidArgument, one line, for a bad value).
void AddRetentionOptions(po::options_description* opts, const std::string& prefix = "");
Result<RetentionPolicy> RetentionFromOptions(const po::variables_map& vm);

// Adds the --store option (a store directory or a mountpoint).
void AddStoreOption(po::options_description* opts);
// The positional layout of commands whose one argument is the store.
const po::positional_options_description& StorePositional();

// The shape of most admin commands: adds --store, parses (ParseArgs), then
// opens the target (OpenTarget). Returns nullopt with *exit_code set when
// the command should not go on (help shown, bad input, no store).
std::optional<Target> ParseAndOpen(const std::string& name, const std::vector<std::string>& args,
                                   po::options_description opts, const char* example,
                                   const po::positional_options_description& positional, bool mutate,
                                   po::variables_map* vm, int* exit_code);

// Tag names per snapshot sequence.
using TagsBySeq = std::map<uint64_t, std::vector<std::string>>;
// The retained snapshots (oldest first; with `branch`, only that branch's
// line) and the tags of each. Prints one line and returns false on failure.
bool LoadChain(Store* store, std::vector<Snapshot>* snaps, TagsBySeq* tags, const std::string* branch = nullptr);
// The tags of `seq` joined by ',' ("" when it has none).
std::string TagText(const TagsBySeq& tags, uint64_t seq);

std::string FormatTime(int64_t ns);      // local "YYYY-MM-DD HH:MM:SS"
std::string HumanBytes(uint64_t bytes);  // "1.5 MiB"
std::string JsonString(const std::string& s);
// A snapshot's changes as a JSON array of {"path","kind","size"}.
std::string ChangesJson(const std::vector<Change>& changes);

}  // namespace ciuicfs::cli

#endif  // CIUICFS_FS_CLI_COMMON_H_
