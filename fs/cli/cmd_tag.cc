// ciuicfs tag NAME REF | tag --delete NAME | tag (list).
#include <cstdio>

#include "fs/cli/common.h"

namespace ciuicfs::cli {

int RunTag(const std::vector<std::string>& args) {
  po::options_description opts("tag options");
  AddStoreOption(&opts);
  opts.add_options()("words", po::value<std::vector<std::string>>()->multitoken(), "NAME REF")(
      "delete", po::value<std::string>(), "remove tag NAME");
  po::positional_options_description pos;
  pos.add("words", 2);
  po::variables_map vm;
  int code;
  if (!ParseArgs("tag", args, opts, "ciuicfs tag best step-1200 --store /data/ckpt-store", &vm, &code, &pos))
    return code;
  std::vector<std::string> words = vm.count("words") ? vm["words"].as<std::vector<std::string>>() : std::vector<std::string>();
  const bool list = words.empty() && !vm.count("delete");
  if (!list && !vm.count("delete") && words.size() != 2) {
    Fail("tag: needs NAME and REF (see 'ciuicfs tag --help')");
    return kExitUsage;
  }
  auto t = OpenTarget(vm["store"].as<std::string>(), !list);
  if (!t) return kExitFailed;
  Status s;
  if (list) {
    auto tags = t->store->Tags();
    if (!tags.ok()) s = tags.status();
    else
      for (auto& [name, seq] : *tags) std::fprintf(Out(), "%-20s %llu\n", name.c_str(), (unsigned long long)seq);
  } else if (vm.count("delete")) {
    s = t->store->DeleteTag(vm["delete"].as<std::string>());
  } else {
    auto snap = t->store->ResolveRef(words[1], t->branch);
    s = snap.ok() ? t->store->SetTag(words[0], snap->seq) : snap.status();
    if (s.ok()) std::fprintf(Out(), "tagged snapshot %llu as %s\n", (unsigned long long)snap->seq, words[0].c_str());
  }
  if (!s.ok()) return FailStatus("tag", s);
  return kExitOk;
}

}  // namespace ciuicfs::cli
