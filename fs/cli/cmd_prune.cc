// ciuicfs prune: drop snapshots from the retained set, once, by the rules
// of store/retention/README.md (a mount applies them continuously). They
// apply to each branch's line on its own (keep-last N keeps each branch's
// newest N); every branch head is kept, and a snapshot is kept when any
// branch keeps it. Bytes are freed by 'ciuicfs gc'. --json: one object, the
// dropped snapshots and the counts.
#include <cstdio>
#include <set>

#include "fs/cli/common.h"

namespace ciuicfs::cli {

int RunPrune(const std::vector<std::string>& args) {
  po::options_description opts("prune options");
  AddStoreOption(&opts);
  AddRetentionOptions(&opts);
  opts.add_options()(
      "keep-tagged", po::value<bool>()->default_value(true), "keep tagged snapshots (true|false)")(
      "dry-run", po::bool_switch(), "list what would go, change nothing")(
      "json", po::bool_switch(), "one JSON object: the snapshots dropped (or that would be) and the counts");
  po::variables_map vm;
  int code;
  if (!ParseArgs("prune", args, opts, "ciuicfs prune /data/ckpt-store --keep-last 5 --keep-every-steps 1000", &vm,
                 &code, &StorePositional()))
    return code;
  // The rules of store/retention/ (a mount applies the same continuously).
  auto policy = RetentionFromOptions(vm);
  if (!policy.ok()) return FailStatus("prune", policy.status());
  if (policy->empty()) {
    Fail("prune: say what to keep: --keep-last, --keep-every-steps, --keep-within, --keep-hourly or --keep-daily");
    return kExitUsage;
  }
  policy->keep_tagged = vm["keep-tagged"].as<bool>();
  const bool dry = vm["dry-run"].as<bool>();
  auto t = OpenTarget(vm["store"].as<std::string>(), !dry);
  if (!t) return kExitFailed;
  std::vector<Snapshot> chain;
  TagsBySeq tags;
  if (!LoadChain(t->store, &chain, &tags)) return kExitFailed;
  auto input = LoadRetentionInput(t->store);
  if (!input.ok()) return FailStatus("prune", input.status());
  const std::vector<uint64_t> chosen = SelectDrops(*policy, *input);
  const std::set<uint64_t> drops(chosen.begin(), chosen.end());
  const bool json = vm["json"].as<bool>();
  std::vector<uint64_t> drop;
  std::string dropped = "[";  // with --json
  for (const Snapshot& s : chain) {
    if (!drops.count(s.seq)) continue;
    drop.push_back(s.seq);
    if (json)
      dropped += std::string(dropped.size() > 1 ? "," : "") + "{\"seq\":" + std::to_string(s.seq) + ",\"step\":" +
                 std::to_string(s.step) + ",\"id\":\"" + s.id.Hex() + "\",\"tags\":" + JsonString(TagText(tags, s.seq)) + "}";
    else
      std::fprintf(Out(), "%s %llu  step %lld  %s\n", dry ? "would drop" : "drop", (unsigned long long)s.seq,
                   (long long)s.step, s.id.ShortHex().c_str());
  }
  if (!dry) {
    for (uint64_t seq : drop) {  // only with --keep-tagged=false can a dropped one be tagged
      auto it = tags.find(seq);
      if (it == tags.end()) continue;
      for (const std::string& name : it->second) {
        Status s = t->store->DeleteTag(name);
        if (!s.ok()) {
          Fail("prune: " + s.message());
          return kExitFailed;
        }
      }
    }
    Status s = t->store->DropSnapshots(drop);
    if (!s.ok()) {
      Fail("prune: " + s.message());
      return kExitFailed;
    }
  }
  if (json) {
    std::fprintf(Out(), "{\"dry_run\":%s,\"dropped\":%s],\"snapshots\":%zu,\"kept\":%zu}\n", dry ? "true" : "false",
                 dropped.c_str(), chain.size(), chain.size() - drop.size());
    return kExitOk;
  }
  std::fprintf(Out(), "%s %zu of %zu snapshots; %zu kept\n", dry ? "would drop" : "dropped", drop.size(), chain.size(),
              chain.size() - drop.size());
  return kExitOk;
}

}  // namespace ciuicfs::cli
