#include "store/index/keys.h"

#include "store/base/coding.h"

namespace ciuicfs {

std::string HashKey(const Hash128& id) { return id.Bytes(); }

bool DecodeHashKey(std::string_view k, Hash128* id) {
  if (k.size() != Hash128::kSize) return false;
  *id = Hash128::FromBytes(k.data());
  return true;
}

std::string PackKey(uint32_t pack) {
  std::string k;
  PutBE<uint32_t>(&k, pack);
  return k;
}

bool DecodePackKey(std::string_view k, uint32_t* pack) {
  if (k.size() != 4) return false;
  *pack = LoadBE<uint32_t>(k.data());
  return true;
}

std::string SeqKey(uint64_t seq) {
  std::string k;
  PutBE<uint64_t>(&k, seq);
  return k;
}

bool DecodeSeqKey(std::string_view k, uint64_t* seq) {
  if (k.size() != 8) return false;
  *seq = LoadBE<uint64_t>(k.data());
  return true;
}

std::string SnapshotIdKey(const Hash128& id) {
  std::string k;
  PutBE<uint64_t>(&k, id.hi);
  PutBE<uint64_t>(&k, id.lo);
  return k;
}

bool DecodeSnapshotIdKey(std::string_view k, Hash128* id) {
  if (k.size() != 16) return false;
  *id = Hash128{LoadBE<uint64_t>(k.data() + 8), LoadBE<uint64_t>(k.data())};
  return true;
}

std::string StepPrefix(int64_t step) {
  std::string k;
  PutBE<uint64_t>(&k, static_cast<uint64_t>(step) ^ (uint64_t{1} << 63));
  return k;
}

std::string StepKey(int64_t step, uint64_t seq) {
  std::string k = StepPrefix(step);
  PutBE<uint64_t>(&k, seq);
  return k;
}

bool DecodeStepKey(std::string_view k, int64_t* step, uint64_t* seq) {
  if (k.size() != 16) return false;
  *step = static_cast<int64_t>(LoadBE<uint64_t>(k.data()) ^ (uint64_t{1} << 63));
  *seq = LoadBE<uint64_t>(k.data() + 8);
  return true;
}

std::string TagKey(std::string_view name) { return std::string(name); }

}  // namespace ciuicfs
