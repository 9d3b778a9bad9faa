// ciuicfs verify: reads every chunk of every snapshot back against its id
// and checks every reference count; exit 0 only when clean.
#include <cstdio>

#include "fs/cli/common.h"
#include "fs/cli/progress.h"

namespace ciuicfs::cli {

int RunVerify(const std::vector<std::string>& args) {
  po::options_description opts("verify options");
  opts.add_options()("json", po::bool_switch(), "one JSON object: what was checked and every problem");
  po::variables_map vm;
  int code;
  auto t = ParseAndOpen("verify", args, opts, "ciuicfs verify /ckpt", StorePositional(), false, &vm, &code);
  if (!t) return code;
  ProgressLine progress("verify", "checked");
  auto report = t->store->Verify(progress.Callback());
  progress.Done();
  if (!report.ok()) {
    Fail("verify: " + report.status().message());
    return kExitFailed;
  }
  if (vm["json"].as<bool>()) {
    std::string problems = "[";
    for (const std::string& p : report->problems) problems += (problems.size() > 1 ? "," : "") + JsonString(p);
    std::fprintf(Out(), "{\"clean\":%s,\"snapshots\":%llu,\"versions\":%llu,\"chunks\":%llu,\"packs\":%llu,\"problems\":%s]}\n",
                 report->ok() ? "true" : "false", (unsigned long long)report->snapshots,
                 (unsigned long long)report->versions, (unsigned long long)report->chunks,
                 (unsigned long long)report->packs, problems.c_str());
    return report->ok() ? kExitOk : kExitFailed;
  }
  for (const std::string& p : report->problems) std::fprintf(Out(), "BAD %s\n", p.c_str());
  std::fprintf(Out(), "%s: %llu snapshots, %llu versions, %llu chunks, %llu packs checked; %zu problem(s)\n",
              report->ok() ? "clean" : "DAMAGED", (unsigned long long)report->snapshots,
              (unsigned long long)report->versions, (unsigned long long)report->chunks,
              (unsigned long long)report->packs, report->problems.size());
  return report->ok() ? kExitOk : kExitFailed;
}

}  // namespace ciuicfs::cli
