// Shared pieces of the ciuicfs subcommands: the registry, option parsing
// that turns bad input into one line and exit code 2, and store location.
#ifndef CIUICFS_FS_CLI_COMMON_H_
#define CIUICFS_FS_CLI_COMMON_H_

#include <boost/program_options.hpp>
#include <memory>
#include <string>
#include <vector>

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
int RunStats(const std::vector<std::string>& args);
int RunVerify(const std::vector<std::string>& args);

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

// Opens an existing store for an admin command; prints one line and returns
// null when it cannot.
std::unique_ptr<Store> OpenExistingStore(const std::string& dir);

void Fail(const std::string& line);  // "ciuicfs: <line>" on stderr

}  // namespace ciuicfs::cli

#endif  // CIUICFS_FS_CLI_COMMON_H_
