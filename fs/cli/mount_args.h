// The mount-helper spelling of `ciuicfs mount` (fs/README.md, "Mounting
// with mount(8) and fstab"): mount.fuse3 runs `ciuicfs STORE MNT -o OPTS`,
// and every `ciuicfs mount` option has an `-o` spelling.
#ifndef CIUICFS_FS_CLI_MOUNT_ARGS_H_
#define CIUICFS_FS_CLI_MOUNT_ARGS_H_

#include <boost/program_options.hpp>
#include <string>
#include <vector>

#include "store/base/status.h"

namespace ciuicfs::cli {

struct ExpandedMountArgs {
  std::vector<std::string> args;  // with every -o option as its --long spelling
  std::string kernel_flags;       // generic mount flags for the kernel ("nosuid,noatime"), may be empty
};

// Replaces each `-o A,B=C` (or `-oA,B=C`) in `args` by the options it names:
// an option of `opts` KEY[=VALUE] (dashes or underscores: allow_other,
// no-passthrough, branch=NAME) becomes --KEY[=VALUE]; a generic mount flag
// (ro, rw, nosuid, nodev, noexec, noatime, ...) is kept for the kernel;
// what only mount(8) and mount.fuse3 mean (defaults, noauto, _netdev,
// x-*, comment=...) is ignored. An unknown option is InvalidArgument, one
// line naming it.
Result<ExpandedMountArgs> ExpandMountArgs(const std::vector<std::string>& args,
                                          const boost::program_options::options_description& opts);

// True when argv[1..] has the mount helper's shape: `SOURCE MOUNTPOINT
// [-o OPTS]...` where SOURCE is not a command name and not an option.
bool IsMountHelperCall(const std::vector<std::string>& args);

}  // namespace ciuicfs::cli

#endif  // CIUICFS_FS_CLI_MOUNT_ARGS_H_
