// ciuicfs prune: drop snapshots from the retained set. The policy applies
// to each branch's line on its own (keep-last N keeps each branch's newest
// N); every branch head is kept, and a snapshot is kept when any branch
// keeps it. Bytes are freed by 'ciuicfs gc'. --json: one object, the
// dropped snapshots and the counts.
#include <cstdio>
#include <map>
#include <set>

#include "fs/cli/common.h"

namespace ciuicfs::cli {

int RunPrune(const std::vector<std::string>& args) {
  po::options_description opts("prune options");
  AddStoreOption(&opts);
  opts.add_options()("keep-last", po::value<size_t>(), "keep the newest N snapshots of each branch")(
      "keep-every-steps", po::value<int64_t>(), "keep each branch's newest snapshot of every step divisible by K")(
      "keep-tagged", po::value<bool>()->default_value(true), "keep tagged snapshots (true|false)")(
      "dry-run", po::bool_switch(), "list what would go, change nothing")(
      "json", po::bool_switch(), "one JSON object: the snapshots dropped (or that would be) and the counts");
  po::variables_map vm;
  int code;
  if (!ParseArgs("prune", args, opts, "ciuicfs prune /data/ckpt-store --keep-last 5 --keep-every-steps 1000", &vm,
                 &code, &StorePositional()))
    return code;
  if (!vm.count("keep-last") && !vm.count("keep-every-steps")) {
    Fail("prune: say what to keep: --keep-last N and/or --keep-every-steps K");
    return kExitUsage;
  }
  if (vm.count("keep-every-steps") && vm["keep-every-steps"].as<int64_t>() <= 0) {
    Fail("prune: --keep-every-steps must be positive");
    return kExitUsage;
  }
  const bool dry = vm["dry-run"].as<bool>();
  auto t = OpenTarget(vm["store"].as<std::string>(), !dry);
  if (!t) return kExitFailed;
  std::vector<Snapshot> chain;
  TagsBySeq tags;
  if (!LoadChain(t->store, &chain, &tags)) return kExitFailed;
  auto branches = t->store->Branches();
  if (!branches.ok()) return FailStatus("prune", branches.status());
  std::set<uint64_t> keep;
  for (auto& [name, head] : *branches) {
    auto line = t->store->BranchLine(name);
    if (!line.ok()) return FailStatus("prune", line.status());
    if (head != 0) keep.insert(head);  // every branch's head
    if (vm.count("keep-last")) {
      size_t n = vm["keep-last"].as<size_t>();
      for (size_t i = 0; i < n && i < line->size(); ++i) keep.insert((*line)[line->size() - 1 - i].seq);
    }
    if (vm.count("keep-every-steps")) {
      int64_t k = vm["keep-every-steps"].as<int64_t>();
      std::map<int64_t, uint64_t> newest_of_step;
      for (const Snapshot& s : *line)
        if (s.step % k == 0) newest_of_step[s.step] = s.seq;
      for (auto& [step, seq] : newest_of_step) keep.insert(seq);
    }
  }
  const bool json = vm["json"].as<bool>();
  std::vector<uint64_t> drop;
  std::string dropped = "[";  // with --json
  for (const Snapshot& s : chain) {
    if (keep.count(s.seq)) continue;
    if (tags.count(s.seq) && vm["keep-tagged"].as<bool>()) continue;
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
