// ciuicfs: one command, one subcommand per job.
#include <iostream>
#include <string>
#include <vector>

#include "fs/cli/common.h"

namespace {

void Usage(std::ostream& out) {
  out << "usage: ciuicfs <command> [options]\n\n"
         "ciuicfs keeps every checkpoint a trainer saves as an immutable,\n"
         "deduplicated version in a snapshot chain.\n\ncommands:\n";
  for (const auto& c : ciuicfs::cli::Commands()) {
    std::string pad(10 - std::string(c.name).size(), ' ');
    out << "  " << c.name << pad << c.summary << "\n";
  }
  out << "\n'ciuicfs <command> --help' shows a command's options and an example.\n";
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
    std::cout << "ciuicfs 0.2 (store format 2)\n";
    return kExitOk;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& c : Commands())
    if (cmd == c.name) return c.run(args);
  Fail("unknown command '" + cmd + "' (see 'ciuicfs --help')");
  return kExitUsage;
}
