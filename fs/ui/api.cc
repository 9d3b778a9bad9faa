#include "fs/ui/api.h"

#include <nlohmann/json.hpp>

#include <set>
#include <sstream>

namespace ciuicfs::ui {
namespace {

using json = nlohmann::json;

Reply JsonReply(const json& j, int status = 200) { return {status, j.dump()}; }

// A reading command that failed: its own line, as a server error (the
// input was checked before it ran).
Reply ReadFailed(const CommandAnswer& a) {
  return ErrorReply(a.code == cli::kExitUsage ? 400 : 500, a.ErrorLine());
}

// One JSON value a command printed (--json), or nullopt.
std::optional<json> ParseOut(const std::string& out) {
  json j = json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

// The POST body as an object whose keys are all in `allowed`, else *error.
std::optional<json> ParseBody(const std::string& body, const std::set<std::string>& allowed, Reply* error) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    *error = ErrorReply(400, "the body must be a JSON object");
    return std::nullopt;
  }
  for (auto& [key, value] : j.items()) {
    if (!allowed.count(key)) {
      *error = ErrorReply(400, "unknown field '" + key + "'");
      return std::nullopt;
    }
  }
  return j;
}

// A string field of a body: present, a string, non-empty and no option.
bool StringField(const json& j, const char* key, std::string* out, Reply* error) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string() || it->get<std::string>().empty()) {
    *error = ErrorReply(400, std::string("'") + key + "' must be a non-empty string");
    return false;
  }
  *out = it->get<std::string>();
  if ((*out)[0] == '-' || out->size() > 256 || out->find('\0') != std::string::npos) {
    *error = ErrorReply(400, std::string("'") + key + "' is not a valid name or REF");
    return false;
  }
  return true;
}

Reply StatusReply(const Status& s) {
  const int code = s.code() == Status::Code::kNotFound          ? 404
                   : s.code() == Status::Code::kInvalidArgument ? 400
                   : s.code() == Status::Code::kBusy            ? 409
                                                                : 500;
  return ErrorReply(code, s.message());
}

}  // namespace

Reply ErrorReply(int status, const std::string& message) {
  std::string line = message;
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  return {status, json{{"error", line}}.dump()};
}

Result<uint64_t> Api::TreeBytes(Store* store, const Hash128& tree) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tree_bytes_.find(tree);
    if (it != tree_bytes_.end()) return it->second;
  }
  auto entries = store->GetTree(tree);
  if (!entries.ok()) return entries.status();
  uint64_t total = 0;
  for (const TreeEntry& e : *entries) total += e.kind == EntryKind::kDirectory ? 0 : e.size;
  std::lock_guard<std::mutex> lock(mu_);
  tree_bytes_[tree] = total;  // a tree never changes
  return total;
}

Result<std::optional<std::shared_ptr<const Api::Chunks>>> Api::VersionChunks(Store* store, const VersionId& v) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = chunks_.find(v);
    if (it != chunks_.end()) return std::optional<std::shared_ptr<const Chunks>>(it->second);
  }
  auto m = store->GetManifest(v);
  if (!m.ok()) return m.status();
  if (m->extent != 0) return std::optional<std::shared_ptr<const Chunks>>();  // not ingested yet
  auto list = std::make_shared<Chunks>();
  for (size_t i = 0; i < m->chunks.size(); ++i) list->push_back({m->chunks[i].id, m->chunks[i].end - m->ChunkStart(i)});
  std::lock_guard<std::mutex> lock(mu_);
  chunks_[v] = list;  // an ingested version's chunks never change
  return std::optional<std::shared_ptr<const Chunks>>(list);
}

bool Api::ResolveNow(const std::string& ref, std::string* id, Reply* error) {
  if (ref.empty() || ref.size() > 256 || ref[0] == '-') {
    *error = ErrorReply(400, ref.empty() ? "missing REF" : "not a REF: " + ref);
    return false;
  }
  std::string why;
  auto view = access_->Read(&why);
  if (!view) {
    *error = ErrorReply(503, why);
    return false;
  }
  auto s = view->store->ResolveRef(ref, view->branch);
  if (!s.ok()) {
    *error = StatusReply(s.status());
    return false;
  }
  *id = s->id.Hex();
  return true;
}

Reply Api::Log() {
  std::string why;
  auto view = access_->Read(&why);
  if (!view) return ErrorReply(503, why);
  CommandAnswer log = access_->Run(*view, {"log", "--all", "--json"});
  if (log.code != cli::kExitOk) return ReadFailed(log);
  CommandAnswer stats = access_->Run(*view, {"stats", "--json"});
  if (stats.code != cli::kExitOk) return ReadFailed(stats);
  auto snaps = view->store->ListSnapshots();
  if (!snaps.ok()) return StatusReply(snaps.status());
  auto branches = view->store->Branches();
  if (!branches.ok()) return StatusReply(branches.status());

  std::map<uint64_t, json> logged;  // by sequence
  std::istringstream lines(log.out);
  for (std::string line; std::getline(lines, line);) {
    auto j = ParseOut(line);
    if (!j || !j->contains("seq")) return ErrorReply(500, "log --json printed a line that is no JSON object");
    const uint64_t seq = (*j)["seq"].get<uint64_t>();  // before the move: operator= takes its argument first
    logged[seq] = std::move(*j);
  }
  std::map<uint64_t, std::vector<std::string>> heads;
  json branch_json = json::object();
  for (auto& [name, seq] : *branches) {
    branch_json[name] = seq;
    heads[seq].push_back(name);
  }
  json list = json::array(), edges = json::array();
  std::map<Hash128, uint64_t> seq_of_id, first_with_tree;
  std::set<uint64_t> has_child;
  std::set<ChunkId> seen;  // the chunks of the snapshots before, in sequence order
  for (const Snapshot& s : *snaps) {
    auto it = logged.find(s.seq);
    if (it == logged.end()) continue;  // committed after log ran: the next answer has it
    json entry = std::move(it->second);
    auto bytes = TreeBytes(view->store, s.tree);
    if (!bytes.ok()) return StatusReply(bytes.status());
    // Saved: every save counted in full, as `stats` counts raw bytes. New:
    // the raw bytes of the chunks no earlier snapshot had (their sum over
    // the chain is what `stats` calls after dedup); a save still in its
    // extent counts whole until ingested.
    uint64_t saved = 0, fresh = 0;
    bool pending = false;
    for (const Change& c : s.changes) {
      if (c.kind != ChangeKind::kPut) continue;
      saved += c.size;
      if (c.version.IsZero()) continue;
      auto chunks = VersionChunks(view->store, c.version);
      if (!chunks.ok()) return StatusReply(chunks.status());
      if (!chunks->has_value()) {
        pending = true;
        fresh += c.size;
        continue;
      }
      for (auto& [id, len] : ***chunks)
        if (seen.insert(id).second) fresh += len;
    }
    entry["bytes_in_files"] = *bytes;
    entry["saved_bytes"] = saved;
    entry["new_bytes"] = fresh;
    entry["ingest_pending"] = pending;
    entry["heads"] = heads.count(s.seq) ? json(heads[s.seq]) : json::array();
    list.push_back(std::move(entry));
    // The edges as `ciuicfs graph` draws them: parent links (a second
    // child of one snapshot is a fork) and rollbacks, from the older
    // snapshot whose tree a later one restores.
    auto parent = seq_of_id.find(s.parent);
    if (parent != seq_of_id.end()) {
      const bool fork = !has_child.insert(parent->second).second;
      edges.push_back({{"from", parent->second}, {"to", s.seq}, {"kind", fork ? "fork" : "parent"}});
    }
    auto same = first_with_tree.find(s.tree);
    if (same != first_with_tree.end() && (parent == seq_of_id.end() || same->second != parent->second))
      edges.push_back({{"from", same->second}, {"to", s.seq}, {"kind", "rollback"}});
    first_with_tree.try_emplace(s.tree, s.seq);
    seq_of_id[s.id] = s.seq;
  }
  auto stats_json = ParseOut(stats.out);
  if (!stats_json) return ErrorReply(500, "stats --json printed no JSON object");
  return JsonReply({{"store", view->store_dir},
                    {"mountpoint", view->mountpoint},
                    {"branch", view->branch},
                    {"branches", branch_json},
                    {"snapshots", list},
                    {"edges", edges},
                    {"stats", *stats_json}});
}

Reply Api::Stats() {
  std::string why;
  auto view = access_->Read(&why);
  if (!view) return ErrorReply(503, why);
  CommandAnswer stats = access_->Run(*view, {"stats", "--json"});
  if (stats.code != cli::kExitOk) return ReadFailed(stats);
  auto j = ParseOut(stats.out);
  return j ? JsonReply(*j) : ErrorReply(500, "stats --json printed no JSON object");
}

Reply Api::Show(const std::string& ref) {
  Reply error;
  std::string id;
  if (!ResolveNow(ref, &id, &error)) return error;
  std::string why;
  auto view = access_->Read(&why);
  if (!view) return ErrorReply(503, why);
  CommandAnswer show = access_->Run(*view, {"show", id, "--json"});
  if (show.code != cli::kExitOk) return ReadFailed(show);
  auto j = ParseOut(show.out);
  return j ? JsonReply(*j) : ErrorReply(500, "show --json printed no JSON object");
}

Reply Api::Diff(const std::string& a, const std::string& b, const std::string& path) {
  Reply error;
  std::string ida, idb;
  if (!ResolveNow(a, &ida, &error) || !ResolveNow(b, &idb, &error)) return error;
  if (!path.empty() && (path[0] == '-' || path.size() > 4096)) return ErrorReply(400, "not a path filter: " + path);
  std::string why;
  auto view = access_->Read(&why);
  if (!view) return ErrorReply(503, why);
  std::vector<std::string> args = {"diff", ida, idb};
  if (!path.empty()) args.push_back(path);
  args.push_back("--json");
  CommandAnswer diff = access_->Run(*view, args);
  if (diff.code != cli::kExitOk) return ReadFailed(diff);
  auto j = ParseOut(diff.out);
  return j ? JsonReply(*j) : ErrorReply(500, "diff --json printed no JSON object");
}

FileDownload Api::File(const std::string& ref, const std::string& path_in) {
  FileDownload d;
  std::string id;
  if (!ResolveNow(ref, &id, &d.error)) return d;
  // Only ever a lookup in the snapshot's tree: no path reaches the disk.
  std::string path = path_in;
  while (!path.empty() && path[0] == '/') path.erase(0, 1);
  if (path.empty() || path.size() > 4096 || path.find('\0') != std::string::npos) {
    d.error = ErrorReply(400, "missing or bad path");
    return d;
  }
  std::string why;
  d.view = access_->Read(&why);
  if (!d.view) {
    d.error = ErrorReply(503, why);
    return d;
  }
  Store* store = d.view->store;
  auto snap = store->FindByIdPrefix(id);
  if (!snap.ok()) {
    d.error = StatusReply(snap.status());
    return d;
  }
  auto entry = store->LookupInTree(snap->tree, path);
  if (!entry.ok()) {
    d.error = StatusReply(entry.status());
    return d;
  }
  if (!entry->has_value()) {
    d.error = ErrorReply(404, "no " + path + " in snapshot " + std::to_string(snap->seq));
    return d;
  }
  const TreeEntry& e = **entry;
  if (e.kind != EntryKind::kFile) {
    d.error = ErrorReply(400, path + " is not a regular file in snapshot " + std::to_string(snap->seq));
    return d;
  }
  auto reader = store->OpenVersion(e.version);
  if (!reader.ok()) {
    d.error = StatusReply(reader.status());
    return d;
  }
  d.reader = std::move(reader.value());
  d.size = d.reader->size();
  const size_t slash = path.rfind('/');
  d.name = slash == std::string::npos ? path : path.substr(slash + 1);
  return d;
}

Reply Api::ChangeReply(const std::vector<std::string>& args, bool json_out) {
  CommandAnswer a = access_->Change(args);
  // Bad input the checks above let through is the command's usage error;
  // anything else it refused (a file open for writing, a busy store) is a
  // conflict with the store's state.
  if (a.code != cli::kExitOk) return ErrorReply(a.code == cli::kExitUsage ? 400 : 409, a.ErrorLine());
  if (!json_out) {
    std::string message = a.out;
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return JsonReply({{"result", {{"message", message}}}});
  }
  auto j = ParseOut(a.out);
  return j ? JsonReply({{"result", *j}}) : ErrorReply(500, args[0] + " --json printed no JSON object");
}

Reply Api::Tag(const std::string& body) {
  Reply error;
  auto j = ParseBody(body, {"name", "ref", "delete"}, &error);
  if (!j) return error;
  std::string name, ref, id;
  if (j->contains("delete")) {
    if (j->contains("name") || j->contains("ref")) return ErrorReply(400, "'delete' goes alone");
    if (!StringField(*j, "delete", &name, &error)) return error;
    std::string why;
    auto view = access_->Read(&why);
    if (!view) return ErrorReply(503, why);
    auto tags = view->store->Tags();
    if (!tags.ok()) return StatusReply(tags.status());
    if (!tags->count(name)) return ErrorReply(404, "no tag " + name);
    view.reset();
    return ChangeReply({"tag", "--delete", name, "--json"}, true);
  }
  if (!StringField(*j, "name", &name, &error) || !StringField(*j, "ref", &ref, &error)) return error;
  if (!ResolveNow(ref, &id, &error)) return error;
  return ChangeReply({"tag", name, id, "--json"}, true);
}

Reply Api::Rollback(const std::string& body) {
  Reply error;
  auto j = ParseBody(body, {"ref"}, &error);
  if (!j) return error;
  std::string ref, id;
  if (!StringField(*j, "ref", &ref, &error) || !ResolveNow(ref, &id, &error)) return error;
  return ChangeReply({"rollback", id}, false);
}

Reply Api::Prune(const std::string& body) {
  Reply error;
  auto j = ParseBody(body, {"keep_last", "keep_every_steps", "keep_tagged", "dry_run"}, &error);
  if (!j) return error;
  std::vector<std::string> args = {"prune"};
  if (j->contains("keep_last")) {
    const json& v = (*j)["keep_last"];
    if (!v.is_number_unsigned()) return ErrorReply(400, "'keep_last' must be a whole number >= 0");
    args.insert(args.end(), {"--keep-last", std::to_string(v.get<uint64_t>())});
  }
  if (j->contains("keep_every_steps")) {
    const json& v = (*j)["keep_every_steps"];
    if (!v.is_number_integer() || v.get<int64_t>() <= 0)
      return ErrorReply(400, "'keep_every_steps' must be a whole number > 0");
    args.insert(args.end(), {"--keep-every-steps", std::to_string(v.get<int64_t>())});
  }
  if (args.size() == 1) return ErrorReply(400, "say what to keep: 'keep_last' and/or 'keep_every_steps'");
  for (const char* key : {"keep_tagged", "dry_run"}) {
    if (j->contains(key) && !(*j)[key].is_boolean()) return ErrorReply(400, std::string("'") + key + "' must be true or false");
  }
  if (j->contains("keep_tagged")) args.insert(args.end(), {"--keep-tagged", (*j)["keep_tagged"].get<bool>() ? "true" : "false"});
  args.push_back("--json");
  if (!j->value("dry_run", false)) return ChangeReply(args, true);
  // A dry run changes nothing: the read-only open answers it.
  args.push_back("--dry-run");
  std::string why;
  auto view = access_->Read(&why);
  if (!view) return ErrorReply(503, why);
  CommandAnswer a = access_->Run(*view, args);
  if (a.code != cli::kExitOk) return ErrorReply(a.code == cli::kExitUsage ? 400 : 500, a.ErrorLine());
  auto out = ParseOut(a.out);
  return out ? JsonReply({{"result", *out}}) : ErrorReply(500, "prune --json printed no JSON object");
}

}  // namespace ciuicfs::ui
