// ciuicfs policy [MNT] [RULES | --clear]: a running mount's retention
// policy (store/retention/README.md), shown or changed live. It runs in the
// mount's daemon; a store that is not mounted has no policy (prune applies
// one once).
#include <cstdio>

#include "fs/cli/common.h"

namespace ciuicfs::cli {

int RunPolicy(const std::vector<std::string>& args) {
  po::options_description opts("policy options");
  opts.add_options()("keep-last", po::value<std::string>(), "keep the newest N snapshots of each branch")(
      "keep-every-steps", po::value<std::string>(), "keep the newest snapshot of every step divisible by K")(
      "keep-within", po::value<std::string>(), "keep every snapshot within D of the newest (90s, 30m, 12h, 7d, 2w)")(
      "keep-hourly", po::value<std::string>(), "keep the newest snapshot of each of the last N hours with any")(
      "keep-daily", po::value<std::string>(), "keep the newest snapshot of each of the last N days with any")(
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
  std::string text;
  for (const char* rule : {"keep-last", "keep-every-steps", "keep-within", "keep-hourly", "keep-daily"})
    if (vm.count(rule)) text += std::string(text.empty() ? "" : ",") + rule + "=" + vm[rule].as<std::string>();
  const bool clear = vm["clear"].as<bool>();
  if (clear && !text.empty()) {
    Fail("policy: --clear goes alone");
    return kExitUsage;
  }
  if (clear || !text.empty()) {
    auto p = ParseRetentionPolicy(text);
    if (!p.ok()) return FailStatus("policy", p.status());
    keeper->SetPolicy(*p);
  }
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
