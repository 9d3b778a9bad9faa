// ciuicfs branch: list the branches | branch NAME [FROM] (create at FROM,
// default the current head) | branch -d NAME (delete, with the snapshots
// only it reached; never main, never a branch a mount has live). Creating copies nothing: a branch is a
// name for a snapshot (store/FORMAT.md, `branches`).
#include <cstdio>
#include <set>

#include "fs/cli/common.h"
#include "fs/cli/mounts.h"

namespace ciuicfs::cli {
namespace {

// Snapshots on `line` that are not on `base` (its line since the fork).
size_t SinceFork(const std::vector<Snapshot>& line, const std::vector<Snapshot>& base) {
  std::set<uint64_t> on_base;
  for (const Snapshot& s : base) on_base.insert(s.seq);
  size_t n = 0;
  for (const Snapshot& s : line) n += !on_base.count(s.seq);
  return n;
}

}  // namespace

int RunBranch(const std::vector<std::string>& args) {
  po::options_description opts("branch options");
  AddStoreOption(&opts);
  opts.add_options()("words", po::value<std::vector<std::string>>()->multitoken(), "NAME [FROM]")(
      "delete,d", po::value<std::string>(), "delete branch NAME")("json", po::bool_switch(), "list as JSON, one object per branch");
  po::positional_options_description pos;
  pos.add("words", 2);
  po::variables_map vm;
  int code;
  if (!ParseArgs("branch", args, opts, "ciuicfs branch lr-half step-100 --store /ckpt", &vm, &code, &pos)) return code;
  std::vector<std::string> words =
      vm.count("words") ? vm["words"].as<std::vector<std::string>>() : std::vector<std::string>();
  const bool del = vm.count("delete") > 0;
  const bool list = words.empty() && !del;
  if (del && !words.empty()) {
    Fail("branch: -d takes one NAME and nothing else");
    return kExitUsage;
  }
  if (!list) {  // bad names fail before anything is opened
    Status bad = ValidateBranchName(del ? vm["delete"].as<std::string>() : words[0]);
    if (!bad.ok()) return FailStatus("branch", bad);
  }
  auto t = OpenTarget(vm["store"].as<std::string>(), !list);
  if (!t) return kExitFailed;
  if (list) {
    auto branches = t->store->Branches();
    if (!branches.ok()) return FailStatus("branch", branches.status());
    auto main_line = t->store->BranchLine("main");
    if (!main_line.ok()) return FailStatus("branch", main_line.status());
    for (auto& [name, seq] : *branches) {
      auto line = t->store->BranchLine(name);
      if (!line.ok()) return FailStatus("branch", line.status());
      const Snapshot* head = line->empty() ? nullptr : &line->back();
      const size_t since = name == "main" ? line->size() : SinceFork(*line, *main_line);
      const bool live = name == t->branch && !t->mountpoint.empty();
      if (vm["json"].as<bool>()) {
        std::fprintf(Out(), "{\"name\":%s,\"head_seq\":%llu,\"head_id\":\"%s\",\"head_step\":%lld,\"since_fork\":%zu,\"mounted\":%s}\n",
                     JsonString(name).c_str(), (unsigned long long)seq, head ? head->id.Hex().c_str() : "",
                     head ? (long long)head->step : 0LL, since, live ? "true" : "false");
      } else {
        std::fprintf(Out(), "%s %-20s %-6llu %s  step %-8lld %zu snapshot%s%s\n", live ? "*" : " ", name.c_str(),
                     (unsigned long long)seq, head ? head->id.ShortHex().c_str() : "(none)      ",
                     head ? (long long)head->step : 0LL, since, since == 1 ? "" : "s",
                     name == "main" ? "" : " since the fork");
      }
    }
    return kExitOk;
  }
  if (del) {
    const std::string name = vm["delete"].as<std::string>();
    if (name == t->branch && name != "main" && CurrentContext())
      return FailStatus("branch", Status::InvalidArgument("branch '" + name + "' is live in this mount; switch away first"));
    // Held while it is deleted, so no mount starts on it meanwhile (never
    // this mount's own branch, refused above: its lock is this process's).
    std::unique_ptr<BranchLockHold> hold;
    if (name != "main") {
      auto taken = BranchLockHold::Take(t->store_dir, name);
      if (!taken.ok()) {
        if (taken.status().code() == Status::Code::kBusy)
          return FailStatus("branch", Status::InvalidArgument(taken.status().message() + "; unmount it or switch it away first"));
        return FailStatus("branch", taken.status());
      }
      hold = std::move(taken.value());
    }
    Status s = t->store->DeleteBranch(name);
    if (!s.ok()) return FailStatus("branch", s);
    std::fprintf(Out(), "deleted branch %s and the snapshots only it reached ('ciuicfs gc' frees their bytes)\n", name.c_str());
    return kExitOk;
  }
  auto from = t->store->ResolveRef(words.size() > 1 ? words[1] : "latest", t->branch);
  if (!from.ok()) return FailStatus("branch", from.status());
  Status s = t->store->CreateBranch(words[0], from->seq);
  if (!s.ok()) return FailStatus("branch", s);
  std::fprintf(Out(), "branch %s at snapshot %llu (%s, step %lld)\n", words[0].c_str(), (unsigned long long)from->seq,
               from->id.ShortHex().c_str(), (long long)from->step);
  return kExitOk;
}

int RunSwitch(const std::vector<std::string>& args) {
  po::options_description opts("switch options");
  AddStoreOption(&opts);
  opts.add_options()("name", po::value<std::string>()->required(), "the branch to switch the mount to");
  po::positional_options_description pos;
  pos.add("name", 1).add("store", 1);  // the store second, or --store
  po::variables_map vm;
  int code;
  if (!ParseArgs("switch", args, opts, "ciuicfs switch lr-half /ckpt", &vm, &code, &pos)) return code;
  const std::string name = vm["name"].as<std::string>();
  if (Status bad = ValidateBranchName(name); !bad.ok()) return FailStatus("switch", bad);
  const CommandContext* ctx = CurrentContext();
  if (!ctx) {  // on the terminal: only a mount can switch; OpenTarget sends the command to its daemon
    auto t = OpenTarget(vm["store"].as<std::string>(), true);
    if (!t) return kExitFailed;
    Fail("switch: " + t->store_dir + " is not mounted; mount it with --branch " + name);
    return kExitUsage;
  }
  if (!ctx->mount.switch_branch) {
    Fail("switch: this mount cannot switch branches");
    return kExitFailed;
  }
  const std::string old = ctx->mount.branch ? ctx->mount.branch() : "main";
  Status s = ctx->mount.switch_branch(name);
  if (!s.ok()) return FailStatus("switch", s);
  std::fprintf(Out(), "switched from %s to %s\n", old.c_str(), name.c_str());
  return kExitOk;
}

}  // namespace ciuicfs::cli
