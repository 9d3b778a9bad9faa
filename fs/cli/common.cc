#include "fs/cli/common.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace ciuicfs::cli {

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      {"mount", "serve a store at a mountpoint (daemonizes; -f stays in front)", RunMount},
      {"umount", "unmount a ciuicfs mountpoint", RunUmount},
      {"stats", "raw vs stored bytes and the dedup ratio", RunStats},
      {"verify", "check every chunk of every snapshot against its id", RunVerify},
  };
  return commands;
}

void Fail(const std::string& line) { std::cerr << "ciuicfs: " << line << "\n"; }

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
      std::cout << "usage: ciuicfs " << name << " [options]\n\n" << all << "\nexample:\n  " << example << "\n";
      *exit_code = kExitOk;
      return false;
    }
    po::notify(*vm);
  } catch (const po::error& e) {
    Fail(name + ": " + e.what() + " (see 'ciuicfs " + name + " --help')");
    *exit_code = kExitUsage;
    return false;
  }
  if (vm->count("help")) {
    std::cout << "usage: ciuicfs " << name << " [options]\n\n" << all << "\nexample:\n  " << example << "\n";
    *exit_code = kExitOk;
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

std::unique_ptr<Store> OpenExistingStore(const std::string& dir) {
  StoreOptions options;
  options.create_if_missing = false;
  auto store = Store::Open(dir, options);
  if (!store.ok()) {
    Fail(store.status().IsNotFound() ? dir + " is not a ciuicfs store (it does not exist)" : store.status().message());
    return nullptr;
  }
  return std::move(store.value());
}

}  // namespace ciuicfs::cli
