#include "store/index/rows.h"

#include <algorithm>

#include "store/base/coding.h"

namespace ciuicfs {
namespace {

Hash128 ReadHash(Decoder* d) {
  std::string_view b = d->Bytes(16);
  return b.size() == 16 ? Hash128::FromBytes(b.data()) : Hash128{};
}

void EncodeChanges(const std::vector<Change>& changes, std::string* out) {
  PutLE<uint32_t>(out, static_cast<uint32_t>(changes.size()));
  for (const Change& c : changes) {
    PutLE<uint8_t>(out, static_cast<uint8_t>(c.kind));
    PutLE<uint16_t>(out, static_cast<uint16_t>(c.path.size()));
    out->append(c.path);
    c.version.AppendTo(out);
    PutLE<uint64_t>(out, c.size);
  }
}

}  // namespace

const char* ChangeKindName(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kPut: return "put";
    case ChangeKind::kRemove: return "remove";
    case ChangeKind::kLink: return "link";
  }
  return "?";
}

char ChangeKindMark(ChangeKind kind) {
  return kind == ChangeKind::kRemove ? '-' : kind == ChangeKind::kLink ? '=' : '+';
}

std::string EncodeChunkRow(const ChunkRow& row) {
  std::string out;
  PutLE<uint32_t>(&out, row.location.pack);
  PutLE<uint64_t>(&out, row.location.offset);
  PutLE<uint32_t>(&out, row.location.stored_len);
  PutLE<uint32_t>(&out, row.location.raw_len);
  PutLE<uint8_t>(&out, static_cast<uint8_t>(row.location.encoding));
  PutLE<uint32_t>(&out, row.refcount);
  if (row.dependents == 0 && row.bases.empty()) return out;  // the 25-byte row
  PutLE<uint32_t>(&out, row.dependents);
  PutLE<uint8_t>(&out, static_cast<uint8_t>(row.bases.size()));
  for (const DeltaBase& b : row.bases) {
    b.id.AppendTo(&out);
    PutLE<uint64_t>(&out, static_cast<uint64_t>(b.offset));
  }
  return out;
}

bool DecodeChunkRow(std::string_view v, ChunkRow* row) {
  Decoder d(v);
  row->location.pack = d.LE<uint32_t>();
  row->location.offset = d.LE<uint64_t>();
  row->location.stored_len = d.LE<uint32_t>();
  row->location.raw_len = d.LE<uint32_t>();
  row->location.encoding = static_cast<Encoding>(d.LE<uint8_t>());
  row->refcount = d.LE<uint32_t>();
  row->dependents = 0;
  row->bases.clear();
  if (d.done()) return true;
  row->dependents = d.LE<uint32_t>();
  unsigned n = d.LE<uint8_t>();
  if (n > kMaxDeltaBases) return false;
  for (unsigned k = 0; k < n && d.ok(); ++k) {
    std::string_view id = d.Bytes(ChunkId::kSize);
    int64_t offset = static_cast<int64_t>(d.LE<uint64_t>());
    if (d.ok()) row->bases.push_back(DeltaBase{ChunkId::FromBytes(id.data()), offset});
  }
  return d.done();
}

std::string EncodePackRow(const PackRow& row) {
  std::string out;
  PutLE<uint64_t>(&out, row.indexed_end);
  PutLE<uint64_t>(&out, row.synced_end);
  PutLE<uint64_t>(&out, row.live_bytes);
  PutLE<uint64_t>(&out, row.live_records);
  return out;
}

bool DecodePackRow(std::string_view v, PackRow* row) {
  Decoder d(v);
  row->indexed_end = d.LE<uint64_t>();
  row->synced_end = d.LE<uint64_t>();
  row->live_bytes = d.LE<uint64_t>();
  row->live_records = d.LE<uint64_t>();
  return d.done();
}

size_t Manifest::ChunkAt(uint64_t offset) const {
  auto it = std::upper_bound(chunks.begin(), chunks.end(), offset,
                             [](uint64_t off, const ChunkRef& c) { return off < c.end; });
  return static_cast<size_t>(it - chunks.begin());
}

constexpr uint32_t kExtentForm = 0xFFFFFFFF;

std::string EncodeManifest(const Manifest& m, uint32_t refcount) {
  std::string out;
  out.reserve(16 + m.chunks.size() * 24);
  PutLE<uint32_t>(&out, refcount);
  PutLE<uint64_t>(&out, m.size);
  if (m.extent != 0) {
    PutLE<uint32_t>(&out, kExtentForm);
    PutLE<uint32_t>(&out, m.extent);
    return out;
  }
  PutLE<uint32_t>(&out, static_cast<uint32_t>(m.chunks.size()));
  for (const ChunkRef& c : m.chunks) {
    c.id.AppendTo(&out);
    PutLE<uint64_t>(&out, c.end);
  }
  return out;
}

bool DecodeManifest(std::string_view v, Manifest* m, uint32_t* refcount) {
  Decoder d(v);
  uint32_t rc = d.LE<uint32_t>();
  if (refcount) *refcount = rc;
  m->size = d.LE<uint64_t>();
  uint32_t n = d.LE<uint32_t>();
  m->extent = 0;
  m->chunks.clear();
  if (d.ok() && n == kExtentForm) {
    m->extent = d.LE<uint32_t>();
    return d.done() && m->extent != 0;
  }
  if (!d.ok() || v.size() != 16 + size_t{n} * 24) return false;
  m->chunks.resize(n);
  uint64_t prev = 0;
  for (auto& c : m->chunks) {
    c.id = ReadHash(&d);
    c.end = d.LE<uint64_t>();
    if (c.end <= prev) return false;
    prev = c.end;
  }
  return d.done() && prev == m->size;
}

uint64_t ExtentRow::max_length() const {
  uint64_t n = 0;
  for (const Held& h : versions) n = std::max(n, h.length);
  return n;
}

std::string EncodeExtentRow(const ExtentRow& row) {
  std::string out;
  PutLE<uint32_t>(&out, static_cast<uint32_t>(row.versions.size()));
  for (const ExtentRow::Held& h : row.versions) {
    h.version.AppendTo(&out);
    PutLE<uint64_t>(&out, h.length);
  }
  PutLE<uint64_t>(&out, row.live_records);
  PutLE<uint64_t>(&out, row.live_bytes);
  return out;
}

bool DecodeExtentRow(std::string_view v, ExtentRow* row) {
  Decoder d(v);
  uint32_t n = d.LE<uint32_t>();
  if (!d.ok() || v.size() != 4 + size_t{n} * 24 + 16) return false;
  row->versions.resize(n);
  for (ExtentRow::Held& h : row->versions) {
    h.version = ReadHash(&d);
    h.length = d.LE<uint64_t>();
  }
  row->live_records = d.LE<uint64_t>();
  row->live_bytes = d.LE<uint64_t>();
  return d.done();
}

std::string EncodeTree(const Tree& tree) {
  std::string out;
  PutLE<uint32_t>(&out, static_cast<uint32_t>(tree.size()));
  for (const TreeEntry& e : tree) {
    PutLE<uint16_t>(&out, static_cast<uint16_t>(e.path.size()));
    out.append(e.path);
    PutLE<uint8_t>(&out, static_cast<uint8_t>(e.kind));
    PutLE<uint32_t>(&out, e.mode);
    PutLE<uint64_t>(&out, e.size);
    PutLE<int64_t>(&out, e.mtime_ns);
    e.version.AppendTo(&out);
  }
  return out;
}

bool DecodeTree(std::string_view v, Tree* tree) {
  Decoder d(v);
  uint32_t n = d.LE<uint32_t>();
  if (!d.ok() || n > v.size()) return false;
  tree->resize(n);
  for (TreeEntry& e : *tree) {
    e.path = std::string(d.Bytes(d.LE<uint16_t>()));
    uint8_t kind = d.LE<uint8_t>();
    if (kind < 1 || kind > 3) return false;
    e.kind = static_cast<EntryKind>(kind);
    e.mode = d.LE<uint32_t>();
    e.size = d.LE<uint64_t>();
    e.mtime_ns = d.LE<int64_t>();
    e.version = ReadHash(&d);
  }
  return d.done();
}

std::string EncodeSnapshot(const Snapshot& s) {
  std::string out;
  PutLE<uint64_t>(&out, s.seq);
  s.id.AppendTo(&out);
  s.parent.AppendTo(&out);
  s.tree.AppendTo(&out);
  PutLE<int64_t>(&out, s.step);
  PutLE<int64_t>(&out, s.time_ns);
  PutLE<uint64_t>(&out, s.bytes_added);
  EncodeChanges(s.changes, &out);
  return out;
}

bool DecodeSnapshot(std::string_view v, Snapshot* s) {
  Decoder d(v);
  s->seq = d.LE<uint64_t>();
  s->id = ReadHash(&d);
  s->parent = ReadHash(&d);
  s->tree = ReadHash(&d);
  s->step = d.LE<int64_t>();
  s->time_ns = d.LE<int64_t>();
  s->bytes_added = d.LE<uint64_t>();
  uint32_t n = d.LE<uint32_t>();
  if (!d.ok() || n > v.size()) return false;
  s->changes.resize(n);
  for (Change& c : s->changes) {
    uint8_t kind = d.LE<uint8_t>();
    if (kind < 1 || kind > 3) return false;
    c.kind = static_cast<ChangeKind>(kind);
    c.path = std::string(d.Bytes(d.LE<uint16_t>()));
    c.version = ReadHash(&d);
    c.size = d.LE<uint64_t>();
  }
  return d.done();
}

Hash128 ComputeSnapshotId(const Snapshot& s) {
  std::string buf;
  s.parent.AppendTo(&buf);
  s.tree.AppendTo(&buf);
  PutLE<uint64_t>(&buf, s.seq);
  PutLE<int64_t>(&buf, s.step);
  PutLE<int64_t>(&buf, s.time_ns);
  EncodeChanges(s.changes, &buf);
  return Hash128::Of(buf);
}

std::string EncodeTreeRow(uint32_t refcount, std::string_view encoded_tree) {
  std::string row;
  row.reserve(4 + encoded_tree.size());
  PutLE<uint32_t>(&row, refcount);
  row.append(encoded_tree);
  return row;
}

bool DecodeTreeRow(std::string_view v, uint32_t* refcount, Tree* tree) {
  if (!RowRefcount(v, refcount)) return false;
  return DecodeTree(v.substr(4), tree);
}

namespace {

// A name as the length of the prefix it shares with the previous name,
// then the rest.
void PutName(std::string* out, std::string_view prev, std::string_view name) {
  size_t shared = 0;
  while (shared < prev.size() && shared < name.size() && prev[shared] == name[shared]) ++shared;
  PutVarint(out, shared);
  PutVarint(out, name.size() - shared);
  out->append(name.substr(shared));
}

bool ReadName(Decoder* d, std::string_view prev, std::string* name) {
  uint64_t shared = d->Varint();
  uint64_t rest = d->Varint();
  if (!d->ok() || shared > prev.size() || rest > 4096) return false;
  std::string_view tail = d->Bytes(rest);
  if (!d->ok()) return false;
  name->assign(prev.substr(0, shared));
  name->append(tail);
  return true;
}

// FORMAT.md, "Nodes": the attributes after an entry's id.
constexpr uint8_t kHasAttrs = 0x80;

bool AttrsAreDefault(const NodeEntry& e) {
  EntryAttrs a = e.attrs;
  if (a.atime_ns == e.mtime_ns) a.atime_ns = 0;
  return a.IsDefault();
}

void PutAttrs(std::string* out, const NodeEntry& e) {
  const EntryAttrs& a = e.attrs;
  PutVarint(out, a.uid);
  PutVarint(out, a.gid);
  PutVarint(out, ZigZag(a.atime_ns == 0 ? 0 : a.atime_ns - e.mtime_ns));
  PutVarint(out, a.rdev);
  PutVarint(out, a.link);
  PutVarint(out, a.xattrs.size());
  for (const auto& [name, value] : a.xattrs) {
    PutVarint(out, name.size());
    out->append(name);
    PutVarint(out, value.size());
    out->append(value);
  }
}

bool ReadAttrs(Decoder* d, NodeEntry* e) {
  EntryAttrs& a = e->attrs;
  const uint64_t uid = d->Varint(), gid = d->Varint();
  if (uid > UINT32_MAX || gid > UINT32_MAX) return false;
  a.uid = uint32_t(uid);
  a.gid = uint32_t(gid);
  const int64_t atime = UnZigZag(d->Varint());
  a.atime_ns = atime == 0 ? 0 : e->mtime_ns + atime;
  a.rdev = d->Varint();
  a.link = d->Varint();
  const uint64_t n = d->Varint();
  if (!d->ok() || n > kMaxXattrs) return false;
  std::string prev;
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t name_len = d->Varint();
    if (!d->ok() || name_len == 0 || name_len > kMaxXattrName) return false;
    std::string name(d->Bytes(name_len));
    const uint64_t value_len = d->Varint();
    if (!d->ok() || value_len > kMaxXattrValue) return false;
    std::string value(d->Bytes(value_len));
    if (!d->ok() || (i > 0 && name <= prev)) return false;
    prev = name;
    a.xattrs.emplace(std::move(name), std::move(value));
  }
  return d->ok();
}

}  // namespace

std::string EncodeNode(const Node& node) {
  std::string out;
  PutLE<uint8_t>(&out, node.level);
  std::string_view prev;
  if (node.level == 0) {
    PutVarint(&out, node.entries.size());
    for (const NodeEntry& e : node.entries) {
      PutName(&out, prev, e.name);
      prev = e.name;
      const bool attrs = !AttrsAreDefault(e);
      PutLE<uint8_t>(&out, static_cast<uint8_t>(e.kind) | (attrs ? kHasAttrs : 0));
      PutVarint(&out, e.mode);
      PutVarint(&out, e.size);
      PutVarint(&out, ZigZag(e.mtime_ns));
      e.id.AppendTo(&out);
      if (attrs) PutAttrs(&out, e);
    }
  } else {
    PutVarint(&out, node.children.size());
    for (const NodeChild& c : node.children) {
      PutName(&out, prev, c.last);
      prev = c.last;
      c.id.AppendTo(&out);
    }
  }
  return out;
}

bool DecodeNode(std::string_view v, Node* node) {
  Decoder d(v);
  node->level = d.LE<uint8_t>();
  uint64_t n = d.Varint();
  if (!d.ok() || n == 0 || n > v.size()) return false;  // a stored node is never empty
  std::string prev;
  if (node->level == 0) {
    node->entries.resize(n);
    for (NodeEntry& e : node->entries) {
      if (!ReadName(&d, prev, &e.name) || e.name.empty() || (!prev.empty() && e.name <= prev)) return false;
      prev = e.name;
      const uint8_t byte = d.LE<uint8_t>();
      const uint8_t kind = byte & ~kHasAttrs;
      if (kind < 1 || kind > kLastEntryKind) return false;
      e.kind = static_cast<EntryKind>(kind);
      uint64_t mode = d.Varint();
      if (mode > UINT32_MAX) return false;
      e.mode = static_cast<uint32_t>(mode);
      e.size = d.Varint();
      e.mtime_ns = UnZigZag(d.Varint());
      e.id = ReadHash(&d);
      if ((byte & kHasAttrs) && !ReadAttrs(&d, &e)) return false;
    }
  } else {
    node->children.resize(n);
    for (NodeChild& c : node->children) {
      if (!ReadName(&d, prev, &c.last) || c.last.empty() || (!prev.empty() && c.last <= prev)) return false;
      prev = c.last;
      c.id = ReadHash(&d);
      if (c.id.IsZero()) return false;
    }
  }
  return d.done();
}

std::string EncodeNodeRow(uint32_t refcount, std::string_view encoded_node) { return EncodeTreeRow(refcount, encoded_node); }

bool DecodeNodeRow(std::string_view v, uint32_t* refcount, Node* node) {
  if (!RowRefcount(v, refcount)) return false;
  return DecodeNode(v.substr(4), node);
}

void RefDeltas::Add(const RefDeltas& other) {
  for (auto& [id, n] : other.nodes) nodes[id] += n;
  for (auto& [id, n] : other.versions) versions[id] += n;
}

std::string EncodeRefDeltas(const RefDeltas& d) {
  std::string out;
  PutVarint(&out, d.nodes.size() + d.versions.size());
  for (auto& [id, n] : d.nodes) {
    PutLE<uint8_t>(&out, 1);
    id.AppendTo(&out);
    PutVarint(&out, n);
  }
  for (auto& [id, n] : d.versions) {
    PutLE<uint8_t>(&out, 2);
    id.AppendTo(&out);
    PutVarint(&out, n);
  }
  return out;
}

bool DecodeRefDeltas(std::string_view v, RefDeltas* d) {
  Decoder dec(v);
  uint64_t n = dec.Varint();
  if (!dec.ok() || n > v.size()) return false;
  for (uint64_t i = 0; i < n; ++i) {
    uint8_t kind = dec.LE<uint8_t>();
    Hash128 id = ReadHash(&dec);
    uint64_t delta = dec.Varint();
    if (!dec.ok() || (kind != 1 && kind != 2) || delta == 0) return false;
    (kind == 1 ? d->nodes : d->versions)[id] += delta;
  }
  return dec.done();
}

bool RowRefcount(std::string_view v, uint32_t* refcount) {
  if (v.size() < 4) return false;
  *refcount = LoadLE<uint32_t>(v.data());
  return true;
}

void SetRowRefcount(std::string* row, uint32_t refcount) { StoreLE<uint32_t>(row->data(), refcount); }

std::string EncodeSeqValue(uint64_t seq) {
  std::string v;
  PutLE<uint64_t>(&v, seq);
  return v;
}

bool DecodeSeqValue(std::string_view v, uint64_t* seq) {
  if (v.size() != 8) return false;
  *seq = LoadLE<uint64_t>(v.data());
  return true;
}

}  // namespace ciuicfs
