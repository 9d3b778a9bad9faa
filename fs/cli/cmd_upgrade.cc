// ciuicfs upgrade STORE: converts a store written by an older ciuicfs to
// this build's format in place (store/FORMAT.md, "Format versions"): one
// index transaction, so a kill leaves the old format or the new one.
#include <cstdio>
#include <fstream>

#include "fs/cli/common.h"
#include "fs/cli/progress.h"

namespace ciuicfs::cli {

int RunUpgrade(const std::vector<std::string>& args) {
  po::options_description opts("upgrade options");
  opts.add_options()("store", po::value<std::string>()->default_value(""), "the store directory (not a mountpoint)");
  po::variables_map vm;
  int code;
  if (!ParseArgs("upgrade", args, opts, "ciuicfs upgrade /data/ckpt-store", &vm, &code, &StorePositional()))
    return code;
  const std::string where = vm["store"].as<std::string>();
  const std::string dir = AbsolutePath(where.empty() ? DefaultStoreDir() : where);
  if (CiuicfsMountSource(dir)) {
    Fail("upgrade: " + dir + " is a mountpoint; unmount it and name the store directory");
    return kExitUsage;
  }
  std::ifstream marker(dir + "/CIUICFS-STORE");
  std::string line;
  if (!marker || !std::getline(marker, line)) {
    Fail("upgrade: " + dir + " is not a ciuicfs store");
    return kExitUsage;
  }
  StoreOptions options;
  options.create_if_missing = false;
  options.upgrade = true;
  ProgressLine progress("upgrade", "converted", ProgressLine::Unit::kSnapshots);
  options.upgrade_progress = progress.Callback();
  auto store = Store::Open(dir, options);
  progress.Done();
  if (!store.ok()) {
    if (store.status().code() == Status::Code::kBusy) {
      Fail("upgrade: " + dir + " is in use by a mount; unmount it first");
      return kExitFailed;
    }
    return FailStatus("upgrade", store.status());
  }
  auto snaps = (*store)->ListSnapshots();
  if (!snaps.ok()) return FailStatus("upgrade", snaps.status());
  if (line == "ciuicfs store v2") std::fprintf(Out(), "%s is already format 2; nothing to do\n", dir.c_str());
  else
    std::fprintf(Out(), "%s: converted %zu snapshots from format 1 to format 2\n", dir.c_str(), snaps->size());
  return kExitOk;
}

}  // namespace ciuicfs::cli
