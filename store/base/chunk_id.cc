#include "store/base/chunk_id.h"

#include <xxhash.h>

#include "store/base/coding.h"

namespace ciuicfs {

Hash128 Hash128::Of(const void* data, size_t n) {
  XXH128_hash_t h = XXH3_128bits(data, n);
  return Hash128{h.low64, h.high64};
}

std::string Hash128::Bytes() const {
  std::string out;
  AppendTo(&out);
  return out;
}

void Hash128::AppendTo(std::string* out) const {
  PutLE<uint64_t>(out, lo);
  PutLE<uint64_t>(out, hi);
}

Hash128 Hash128::FromBytes(const void* p16) {
  const auto* p = static_cast<const unsigned char*>(p16);
  return Hash128{LoadLE<uint64_t>(p), LoadLE<uint64_t>(p + 8)};
}

std::string Hash128::Hex() const {
  static const char kDigits[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[15 - i] = kDigits[(hi >> (4 * i)) & 0xf];
    out[31 - i] = kDigits[(lo >> (4 * i)) & 0xf];
  }
  return out;
}

std::optional<Hash128> Hash128::FromHex(std::string_view hex) {
  if (hex.size() != 32) return std::nullopt;
  uint64_t halves[2] = {0, 0};
  for (size_t i = 0; i < 32; ++i) {
    char c = hex[i];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return std::nullopt;
    halves[i / 16] = (halves[i / 16] << 4) | uint64_t(d);
  }
  return Hash128{halves[1], halves[0]};
}

uint64_t Checksum64(const void* data, size_t n) { return XXH3_64bits(data, n); }

void SealFrame(std::string* out) {
  PutLE<uint64_t>(out, Checksum64(out->data(), out->size()));
}

std::optional<std::string_view> FrameBody(std::string_view bytes, std::string_view magic) {
  if (bytes.size() < magic.size() + 8 || bytes.substr(0, magic.size()) != magic) return std::nullopt;
  const size_t end = bytes.size() - 8;
  if (LoadLE<uint64_t>(bytes.data() + end) != Checksum64(bytes.data(), end)) return std::nullopt;
  return bytes.substr(magic.size(), end - magic.size());
}

uint64_t Hash64(std::string_view s, uint64_t seed) { return XXH3_64bits_withSeed(s.data(), s.size(), seed); }

struct Hasher::State {
  XXH3_state_t* st = XXH3_createState();
  ~State() { XXH3_freeState(st); }
};

Hasher::Hasher() : state_(std::make_unique<State>()) { XXH3_128bits_reset(state_->st); }
Hasher::~Hasher() = default;
void Hasher::Update(const void* data, size_t n) { XXH3_128bits_update(state_->st, data, n); }
Hash128 Hasher::Digest() const {
  XXH128_hash_t h = XXH3_128bits_digest(state_->st);
  return Hash128{h.low64, h.high64};
}

}  // namespace ciuicfs
