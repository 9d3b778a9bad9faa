#include "store/cluster/commit_object.h"

#include "store/base/chunk_id.h"
#include "store/base/coding.h"
#include "store/index/rows.h"
#include "store/journal/commit_log.h"

namespace ciuicfs {
namespace {

constexpr std::string_view kMagic = "CIUICCM1";

void PutBytes(std::string* out, std::string_view s) {
  PutLE<uint32_t>(out, uint32_t(s.size()));
  out->append(s);
}

std::string_view GetBytes(Decoder* in) { return in->Bytes(in->LE<uint32_t>()); }

}  // namespace

std::string EncodeCommitObject(const CommitObject& c) {
  std::string out(kMagic);
  out.push_back(char(c.kind));
  PutLE<uint64_t>(&out, c.number);
  if (c.kind == CommitObject::Kind::kRefs) {
    out.push_back(char(c.change.op));
    PutBytes(&out, c.change.name);
    PutLE<uint32_t>(&out, uint32_t(c.change.seqs.size()));
    for (uint64_t seq : c.change.seqs) PutLE<uint64_t>(&out, seq);
    SealFrame(&out);
    return out;
  }
  if (c.kind == CommitObject::Kind::kCollect) {
    PutLE<uint64_t>(&out, c.collect.checked_at);
    PutLE<uint32_t>(&out, uint32_t(c.collect.chunks.size()));
    for (const ChunkId& id : c.collect.chunks) id.AppendTo(&out);
    PutLE<uint32_t>(&out, uint32_t(c.collect.packs.size()));
    for (uint32_t pack : c.collect.packs) PutLE<uint32_t>(&out, pack);
    SealFrame(&out);
    return out;
  }
  CommitRequest logged = c.req;
  logged.version_ids.clear();
  PutBytes(&out, EncodeLoggedCommit(LoggedCommit{c.number, logged}));
  PutLE<uint32_t>(&out, uint32_t(c.req.edits.size()));
  for (const TreeEdit& e : c.req.edits) out.push_back(e.carried ? 1 : 0);
  PutLE<uint32_t>(&out, uint32_t(c.carried.chunks.size()));
  for (const auto& [id, loc] : c.carried.chunks) {
    id.AppendTo(&out);
    ChunkRow row;
    row.location = loc;
    PutBytes(&out, EncodeChunkRow(row));
  }
  PutLE<uint32_t>(&out, uint32_t(c.carried.manifests.size()));
  for (const Manifest& m : c.carried.manifests) {
    m.id.AppendTo(&out);  // the row's key, not in the row
    PutBytes(&out, EncodeManifest(m, 0));
  }
  SealFrame(&out);
  return out;
}

bool DecodeCommitObject(std::string_view bytes, CommitObject* c) {
  const auto body = FrameBody(bytes, kMagic);
  if (!body) return false;
  Decoder in(*body);
  const uint8_t kind = in.LE<uint8_t>();
  c->number = in.LE<uint64_t>();
  if (kind == uint8_t(CommitObject::Kind::kRefs)) {
    c->kind = CommitObject::Kind::kRefs;
    const uint8_t op = in.LE<uint8_t>();
    if (op < uint8_t(RefChange::Op::kSetTag) || op > uint8_t(RefChange::Op::kDropSnapshots)) return false;
    c->change.op = RefChange::Op(op);
    c->change.name = std::string(GetBytes(&in));
    const uint32_t n = in.LE<uint32_t>();
    c->change.seqs.clear();
    for (uint32_t i = 0; i < n && in.ok(); ++i) c->change.seqs.push_back(in.LE<uint64_t>());
    return in.done();
  }
  if (kind == uint8_t(CommitObject::Kind::kCollect)) {
    c->kind = CommitObject::Kind::kCollect;
    c->collect = CollectChange{};
    c->collect.checked_at = in.LE<uint64_t>();
    const uint32_t chunks = in.LE<uint32_t>();
    for (uint32_t i = 0; i < chunks && in.ok(); ++i) {
      std::string_view id = in.Bytes(16);
      if (in.ok()) c->collect.chunks.push_back(Hash128::FromBytes(id.data()));
    }
    const uint32_t packs = in.LE<uint32_t>();
    for (uint32_t i = 0; i < packs && in.ok(); ++i) c->collect.packs.push_back(in.LE<uint32_t>());
    return in.done();
  }
  if (kind != uint8_t(CommitObject::Kind::kSnapshot)) return false;
  c->kind = CommitObject::Kind::kSnapshot;
  LoggedCommit logged;
  if (!in.ok() || !DecodeLoggedCommit(GetBytes(&in), &logged) || logged.seq != c->number) return false;
  c->req = std::move(logged.req);
  c->req.version_ids.clear();
  const uint32_t edits = in.LE<uint32_t>();
  if (!in.ok() || edits != c->req.edits.size()) return false;
  for (TreeEdit& e : c->req.edits) {
    e.carried = in.LE<uint8_t>() != 0;
    if (e.extent != 0) return false;  // a commit object never names an extent
  }
  c->carried = CarriedRows{};
  const uint32_t chunks = in.LE<uint32_t>();
  for (uint32_t i = 0; i < chunks && in.ok(); ++i) {
    std::string_view id = in.Bytes(16);
    ChunkRow row;
    if (!in.ok() || !DecodeChunkRow(GetBytes(&in), &row)) return false;
    c->carried.chunks.emplace_back(Hash128::FromBytes(id.data()), row.location);
  }
  const uint32_t manifests = in.LE<uint32_t>();
  for (uint32_t i = 0; i < manifests && in.ok(); ++i) {
    std::string_view id = in.Bytes(16);
    Manifest m;
    uint32_t refcount = 0;
    if (!in.ok() || !DecodeManifest(GetBytes(&in), &m, &refcount)) return false;
    m.id = Hash128::FromBytes(id.data());
    c->carried.manifests.push_back(std::move(m));
  }
  return in.done();
}

}  // namespace ciuicfs
