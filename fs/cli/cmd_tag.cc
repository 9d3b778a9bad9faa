// ciuicfs tag NAME REF | tag --delete NAME | tag (list); --json: one
// object, {"tagged":...}, {"deleted":...} or {"tags":[...]}.
#include <cstdio>

#include "fs/cli/common.h"

namespace ciuicfs::cli {
namespace {

std::string TagJson(const std::string& name, uint64_t seq) {
  return "{\"name\":" + JsonString(name) + ",\"seq\":" + std::to_string(seq) + "}";
}

}  // namespace

int RunTag(const std::vector<std::string>& args) {
  po::options_description opts("tag options");
  AddStoreOption(&opts);
  opts.add_options()("words", po::value<std::vector<std::string>>()->multitoken(), "NAME REF")(
      "delete", po::value<std::string>(), "remove tag NAME")(
      "json", po::bool_switch(), "one JSON object: the tag set, the tag deleted, or every tag");
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
  const bool json = vm["json"].as<bool>();
  if (list) {
    auto tags = t->store->Tags();
    if (!tags.ok()) return FailStatus("tag", tags.status());
    std::string all = "[";
    for (auto& [name, seq] : *tags) {
      if (json) all += (all.size() > 1 ? "," : "") + TagJson(name, seq);
      else std::fprintf(Out(), "%-20s %llu\n", name.c_str(), (unsigned long long)seq);
    }
    if (json) std::fprintf(Out(), "{\"tags\":%s]}\n", all.c_str());
    return kExitOk;
  }
  if (vm.count("delete")) {
    const std::string name = vm["delete"].as<std::string>();
    auto tags = t->store->Tags();
    if (!tags.ok()) return FailStatus("tag", tags.status());
    auto it = tags->find(name);
    Status s = t->store->DeleteTag(name);  // a missing tag: its NotFound
    if (!s.ok()) return FailStatus("tag", s);
    const uint64_t seq = it == tags->end() ? 0 : it->second;
    if (json) std::fprintf(Out(), "{\"deleted\":%s}\n", TagJson(name, seq).c_str());
    else std::fprintf(Out(), "deleted tag %s (was snapshot %llu)\n", name.c_str(), (unsigned long long)seq);
    return kExitOk;
  }
  auto snap = t->store->ResolveRef(words[1], t->branch);
  Status s = snap.ok() ? t->store->SetTag(words[0], snap->seq) : snap.status();
  if (!s.ok()) return FailStatus("tag", s);
  if (json)
    std::fprintf(Out(), "{\"tagged\":{\"name\":%s,\"seq\":%llu,\"id\":\"%s\",\"step\":%lld}}\n", JsonString(words[0]).c_str(),
                 (unsigned long long)snap->seq, snap->id.Hex().c_str(), (long long)snap->step);
  else
    std::fprintf(Out(), "tagged snapshot %llu as %s\n", (unsigned long long)snap->seq, words[0].c_str());
  return kExitOk;
}

}  // namespace ciuicfs::cli
