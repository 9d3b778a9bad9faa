// ciuicfs policy [MNT] [RULES | --clear]: a running mount's retention
// policy (store/retention/README.md), shown or changed live. It runs in the
// mount's daemon; a store that is not mounted has no policy (prune applies
// one once).
#include <cstdio>

#include "fs/cli/common.h"

namespace ciuicfs::cli {

int RunPolicy(const std::vector<std::string>& args) {
  po::options_description opts("policy options");
  AddRetentionOptions(&opts);
  opts.add_options()(
      "clear", po::bool_switch(), "no policy: keep every snapshot from now on")(
      "json", po::bool_switch(), "one JSON object: the policy and what the mount's keeper has done");
  po::variables_map vm;
  int code;
  auto t = ParseAndOpen("policy", args, opts, "ciuicfs policy /ckpt --keep-last 5 --keep-every-steps 1000",
                        StorePositional(), true, &vm, &code);
  if (!t) return code;
  const CommandContext* ctx = CurrentContext();
  RetentionKeeper* keeper = ctx ? ctx->mount.retention : nullptr;
  if (!keeper) {
    Fail("policy: " + t->store_dir +
         " is not mounted; a policy is a mount's (ciuicfs mount --keep-last N ...), `ciuicfs prune` applies one once");
    return kExitFailed;
  }
  auto asked = RetentionFromOptions(vm);
  if (!asked.ok()) return FailStatus("policy", asked.status());
  const bool clear = vm["clear"].as<bool>();
  if (clear && !asked->empty()) {
    Fail("policy: --clear goes alone");
    return kExitUsage;
  }
  if (clear || !asked->empty()) keeper->SetPolicy(*asked);
  const RetentionPolicy p = keeper->policy();
  const KeeperStats st = keeper->stats();
  const std::string rules = FormatRetentionPolicy(p);
  if (vm["json"].as<bool>()) {
    std::fprintf(Out(),
                 "{\"policy\":%s,\"passes\":%llu,\"dropped\":%llu,\"gc_runs\":%llu,\"bytes_freed\":%llu,\"last_error\":%s}\n",
                 JsonString(rules).c_str(), (unsigned long long)st.passes, (unsigned long long)st.dropped,
                 (unsigned long long)st.gc_runs, (unsigned long long)st.bytes_freed, JsonString(st.last_error).c_str());
    return kExitOk;
  }
  std::fprintf(Out(), "policy %s\n", rules.empty() ? "(none: every snapshot is kept)" : rules.c_str());
  std::fprintf(Out(), "applied %llu times: %llu snapshots dropped; gc ran %llu times, %s freed in packs\n",
               (unsigned long long)st.passes, (unsigned long long)st.dropped, (unsigned long long)st.gc_runs,
               HumanBytes(st.bytes_freed).c_str());
  if (!st.last_error.empty()) std::fprintf(Out(), "last error: %s\n", st.last_error.c_str());
  return kExitOk;
}

}  // namespace ciuicfs::cli
