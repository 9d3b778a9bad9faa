// ciuicfs: one command, one subcommand per job.
#include <iostream>
#include <string>
#include <vector>

#include "fs/cli/common.h"
#include "fs/cli/mount_args.h"

namespace {

void Usage(std::ostream& out) {
  out << "usage: ciuicfs <command> [options]\n\n"
         "ciuicfs keeps every checkpoint a trainer saves as an immutable,\n"
         "deduplicated version in a snapshot chain.\n\ncommands:\n";
  for (const auto& c : ciuicfs::cli::Commands()) {
    std::string pad(10 - std::string(c.name).size(), ' ');
    out << "  " << c.name << pad << c.summary << "\n";
  }
  out << "\n'ciuicfs <command> --help' shows a command's options and an example.\n"
         "As a mount helper (mount -t fuse.ciuicfs, fstab): ciuicfs STORE MOUNTPOINT [-o OPTIONS]\n";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ciuicfs::cli;
  if (argc < 2) {
    Usage(std::cerr);
    return kExitUsage;
  }
  SetInvocation(argc, argv);
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    Usage(std::cout);
    return kExitOk;
  }
  if (cmd == "--version") {
    std::cout << "ciuicfs " CIUICFS_VERSION " (store format 2)\n";
    return kExitOk;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& c : Commands())
    if (cmd == c.name) return c.run(args);
  // mount.fuse3 (mount -t fuse.ciuicfs, an fstab line) runs the program as
  // `ciuicfs STORE MOUNTPOINT -o OPTIONS`.
  if (std::vector<std::string> all(argv + 1, argv + argc); IsMountHelperCall(all)) {
    std::vector<std::string> mount_args = {"--store", all[0]};
    mount_args.insert(mount_args.end(), all.begin() + 1, all.end());
    return RunMount(mount_args);
  }
  Fail("unknown command '" + cmd + "' (see 'ciuicfs --help')");
  return kExitUsage;
}
