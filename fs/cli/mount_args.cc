#include "fs/cli/mount_args.h"

#include <algorithm>
#include <set>

#include "fs/cli/common.h"

namespace ciuicfs::cli {
namespace {

// The flags libfuse passes on to mount(2) (its lib/mount.c), so the
// kernel applies them to the mount as to any other filesystem.
const std::set<std::string>& KernelFlags() {
  static const std::set<std::string> flags = {"rw",    "ro",     "suid",  "nosuid",     "dev",        "nodev",
                                              "exec",  "noexec", "async", "sync",       "dirsync",    "noatime",
                                              "nodiratime", "norelatime", "nostrictatime"};
  return flags;
}

// What mount(8), mount.fuse3 or systemd mean and ciuicfs has nothing to do
// with (fstab's `defaults`, boot ordering, notes).
bool IsForTheMountTool(const std::string& opt) {
  static const std::set<std::string> words = {"defaults", "auto", "noauto", "user",  "nouser",
                                              "users",    "owner", "group", "_netdev", "nofail"};
  return words.count(opt) || opt.rfind("x-", 0) == 0 || opt.rfind("comment=", 0) == 0;
}

Status ExpandOne(const std::string& list, const po::options_description& opts, ExpandedMountArgs* out) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    const std::string opt = list.substr(start, comma - start);
    start = comma + 1;
    if (opt.empty() || IsForTheMountTool(opt)) continue;
    if (KernelFlags().count(opt)) {
      out->kernel_flags += (out->kernel_flags.empty() ? "" : ",") + opt;
      continue;
    }
    const size_t eq = opt.find('=');
    std::string key = opt.substr(0, eq);
    std::replace(key.begin(), key.end(), '_', '-');
    const po::option_description* d = opts.find_nothrow(key, false);
    if (!d || key == "mountpoint" || key == "help")
      return Status::InvalidArgument("unknown mount option -o " + opt + " (see 'ciuicfs mount --help')");
    const bool takes_value = d->semantic()->max_tokens() > 0;
    if (takes_value && eq == std::string::npos)
      return Status::InvalidArgument("mount option -o " + opt + " needs a value (" + opt + "=...)");
    if (!takes_value && eq != std::string::npos)
      return Status::InvalidArgument("mount option -o " + key + " takes no value");
    out->args.push_back("--" + key);
    if (takes_value) out->args.push_back(opt.substr(eq + 1));
  }
  return Status::Ok();
}

}  // namespace

Result<ExpandedMountArgs> ExpandMountArgs(const std::vector<std::string>& args, const po::options_description& opts) {
  ExpandedMountArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-o") {
      if (i + 1 == args.size()) return Status::InvalidArgument("-o needs options (-o branch=NAME,allow_other)");
      CIUIC_RETURN_IF_ERROR(ExpandOne(args[++i], opts, &out));
    } else if (a.rfind("-o", 0) == 0 && a.size() > 2) {
      CIUIC_RETURN_IF_ERROR(ExpandOne(a.substr(2), opts, &out));
    } else {
      out.args.push_back(a);
    }
  }
  return out;
}

bool IsMountHelperCall(const std::vector<std::string>& args) {
  if (args.size() < 2 || args[0].empty() || args[0][0] == '-' || args[1].empty() || args[1][0] == '-') return false;
  for (const auto& c : Commands())
    if (args[0] == c.name) return false;
  return args[0] != "help";
}

}  // namespace ciuicfs::cli
