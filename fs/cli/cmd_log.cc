// ciuicfs log: the mount's branch (main for a store that is not mounted,
// or --branch B) back to the first snapshot through its forks, newest
// first, one line per snapshot; --all: every branch's snapshots, with the
// heads and the forks marked.
#include <cstdio>
#include <map>

#include "fs/cli/common.h"
#include "fs/cli/record_text.h"

namespace ciuicfs::cli {
namespace {

std::string ChangesText(const Snapshot& s) {
  std::string out;
  for (const Change& c : s.changes) {
    if (!out.empty()) out += ", ";
    out += ChangeKindMark(c.kind) + c.path;
  }
  return out;
}

}  // namespace

int RunLog(const std::vector<std::string>& args) {
  po::options_description opts("log options");
  opts.add_options()("by-step", po::bool_switch(), "group snapshots of one step")(
      "json", po::bool_switch(), "one JSON object per snapshot, newest first")(
      "max,n", po::value<size_t>()->default_value(0), "show at most N snapshots (0: all)")(
      "branch", po::value<std::string>(), "this branch's line (default: the mount's branch, else main)")(
      "all", po::bool_switch(), "every branch's snapshots, heads and forks marked");
  po::variables_map vm;
  int code;
  auto t = ParseAndOpen("log", args, opts, "ciuicfs log /ckpt --by-step", StorePositional(), false, &vm, &code);
  if (!t) return code;
  const bool all = vm["all"].as<bool>();
  const std::string branch = vm.count("branch") ? vm["branch"].as<std::string>() : t->branch;
  std::vector<Snapshot> chain;  // every snapshot with --all, else the branch's line
  TagsBySeq tags;
  if (!LoadChain(t->store, &chain, &tags, all ? nullptr : &branch)) return kExitFailed;
  // --all: which branch heads each snapshot is, and where the chain forks.
  std::map<uint64_t, std::string> heads;
  std::map<Hash128, uint64_t> seq_of;
  if (all) {
    auto branches = t->store->Branches();
    if (!branches.ok()) return FailStatus("log", branches.status());
    for (auto& [name, seq] : *branches) heads[seq] += (heads[seq].empty() ? "" : ", ") + name;
    for (const Snapshot& s : chain) seq_of[s.id] = s.seq;
  }
  size_t max = vm["max"].as<size_t>();
  size_t shown = 0;
  int64_t group_step = INT64_MIN;
  for (auto it = chain.rbegin(); it != chain.rend() && (max == 0 || shown < max); ++it, ++shown) {
    const Snapshot& s = *it;
    const SnapshotRecord record = RecordOrWarn(t->store, s, "log");
    if (vm["json"].as<bool>()) {
      std::fprintf(Out(), "{\"seq\":%llu,\"id\":\"%s\",\"parent\":\"%s\",\"step\":%lld,\"time_ns\":%lld,\"bytes_added\":%llu,"
                  "\"tags\":%s,\"changes\":%s,%s}\n",
                  (unsigned long long)s.seq, s.id.Hex().c_str(), s.parent.IsZero() ? "" : s.parent.Hex().c_str(),
                  (long long)s.step, (long long)s.time_ns, (unsigned long long)s.bytes_added,
                  JsonString(TagText(tags, s.seq)).c_str(), ChangesJson(s.changes).c_str(), RecordJson(record).c_str());
      continue;
    }
    if (vm["by-step"].as<bool>() && s.step != group_step) {
      size_t n = 0;
      for (const Snapshot& o : chain) n += o.step == s.step;
      std::fprintf(Out(), "%sstep %lld (%zu snapshot%s)\n", group_step == INT64_MIN ? "" : "\n", (long long)s.step, n,
                  n == 1 ? "" : "s");
      group_step = s.step;
    }
    std::string tag = tags.count(s.seq) ? " (tag: " + TagText(tags, s.seq) + ")" : "";
    if (all && heads.count(s.seq)) tag += " (head of " + heads[s.seq] + ")";
    if (all && it + 1 != chain.rend() && !s.parent.IsZero() && (it + 1)->id != s.parent) {
      auto p = seq_of.find(s.parent);
      tag += p == seq_of.end() ? " (parent dropped)" : " (forks from " + std::to_string(p->second) + ")";
    }
    std::fprintf(Out(), "%s%-6llu %s  step %-8lld %s  +%-10s %s%s%s\n", vm["by-step"].as<bool>() ? "  " : "",
                (unsigned long long)s.seq, s.id.ShortHex().c_str(), (long long)s.step, FormatTime(s.time_ns).c_str(),
                HumanBytes(s.bytes_added).c_str(), ChangesText(s).c_str(), tag.c_str(), RecordText(record).c_str());
  }
  return kExitOk;
}

}  // namespace ciuicfs::cli
