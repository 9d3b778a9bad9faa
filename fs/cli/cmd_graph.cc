// ciuicfs graph: the chain as Graphviz DOT, every branch with its head named
// (a fork is a snapshot with two children); --png renders it through dot.
#include <cstdio>
#include <map>
#include <sstream>

#include "fs/cli/common.h"

namespace ciuicfs::cli {

int RunGraph(const std::vector<std::string>& args) {
  po::options_description opts("graph options");
  AddStoreOption(&opts);
  opts.add_options()("png", po::value<std::string>(), "write a PNG to FILE (needs Graphviz 'dot')");
  po::variables_map vm;
  int code;
  if (!ParseArgs("graph", args, opts, "ciuicfs graph /ckpt --png chain.png", &vm, &code, &StorePositional())) return code;
  if (vm.count("png") && system("command -v dot >/dev/null 2>&1") != 0) {
    Fail("graph: Graphviz 'dot' is not installed (apt-get install graphviz); without --png the DOT text is printed");
    return kExitFailed;
  }
  auto t = OpenTarget(vm["store"].as<std::string>(), false);
  if (!t) return kExitFailed;
  std::vector<Snapshot> chain;
  TagsBySeq tags;
  if (!LoadChain(t->store, &chain, &tags)) return kExitFailed;
  std::ostringstream dot;
  dot << "digraph ciuicfs {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n";
  std::map<Hash128, uint64_t> first_with_tree;
  std::map<Hash128, uint64_t> by_id;
  for (const Snapshot& s : chain) {
    dot << "  s" << s.seq << " [label=\"" << s.seq << "\\nstep " << s.step << "\\n" << s.id.Hex().substr(0, 8)
        << (tags.count(s.seq) ? "\\ntag " + TagText(tags, s.seq) + "\", style=bold" : std::string("\"")) << "];\n";
    auto parent = by_id.find(s.parent);
    if (parent != by_id.end()) dot << "  s" << parent->second << " -> s" << s.seq << ";\n";
    // A snapshot whose tree equals an older, non-adjacent one restores it:
    // a rollback, drawn back to its source.
    auto same = first_with_tree.find(s.tree);
    if (same != first_with_tree.end() && (parent == by_id.end() || same->second != parent->second))
      dot << "  s" << same->second << " -> s" << s.seq << " [style=dashed, label=\"rollback\"];\n";
    first_with_tree.try_emplace(s.tree, s.seq);
    by_id[s.id] = s.seq;
  }
  // Each branch's head, named beside it: the forks are the snapshots with
  // two children.
  auto branches = t->store->Branches();
  if (!branches.ok()) return FailStatus("graph", branches.status());
  for (auto& [name, seq] : *branches) {
    if (seq == 0) continue;
    dot << "  \"b_" << name << "\" [shape=ellipse, label=\"" << name << "\"];\n  \"b_" << name << "\" -> s" << seq
        << " [style=dotted, arrowhead=none];\n";
  }
  dot << "}\n";
  if (!vm.count("png")) {
    std::fputs(dot.str().c_str(), Out());
    return kExitOk;
  }
  std::string cmd = "dot -Tpng -o '" + vm["png"].as<std::string>() + "'";
  FILE* p = popen(cmd.c_str(), "w");
  if (!p || std::fputs(dot.str().c_str(), p) < 0 || pclose(p) != 0) {
    Fail("graph: dot failed to write " + vm["png"].as<std::string>());
    return kExitFailed;
  }
  std::fprintf(Out(), "wrote %s (%zu snapshots)\n", vm["png"].as<std::string>().c_str(), chain.size());
  return kExitOk;
}

}  // namespace ciuicfs::cli
