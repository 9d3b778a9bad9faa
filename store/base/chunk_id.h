// Content ids: XXH3-128 digests that name chunks, file versions, trees and
// snapshots (FORMAT.md, "Vocabulary"). A Hash128 is a plain value; Hasher is
// a streaming digest owned by one thread.
#ifndef CIUICFS_STORE_CHUNK_ID_H_
#define CIUICFS_STORE_CHUNK_ID_H_

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ciuicfs {

struct Hash128 {
  uint64_t lo = 0;
  uint64_t hi = 0;

  static constexpr size_t kSize = 16;
  static Hash128 Of(const void* data, size_t n);
  static Hash128 Of(std::string_view s) { return Of(s.data(), s.size()); }
  // The 16 on-disk bytes (lo then hi, each little-endian).
  std::string Bytes() const;
  void AppendTo(std::string* out) const;
  static Hash128 FromBytes(const void* p16);
  // Canonical hex (hi first), 32 lowercase digits.
  std::string Hex() const;
  std::string ShortHex() const { return Hex().substr(0, 12); }
  static std::optional<Hash128> FromHex(std::string_view hex);
  bool IsZero() const { return lo == 0 && hi == 0; }
  auto operator<=>(const Hash128&) const = default;
};

using ChunkId = Hash128;
using VersionId = Hash128;

struct Hash128Hasher {
  size_t operator()(const Hash128& h) const { return static_cast<size_t>(h.lo ^ (h.hi * 0x9e3779b97f4a7c15ULL)); }
};

// XXH3-64, used for record header checksums.
uint64_t Checksum64(const void* data, size_t n);
// A checked frame (leases, commit objects; FORMAT.md): MAGIC, the body,
// then Checksum64 of both. SealFrame appends the checksum to MAGIC+body;
// FrameBody gives the body, or nullopt when the magic or checksum is wrong.
void SealFrame(std::string* out);
std::optional<std::string_view> FrameBody(std::string_view bytes, std::string_view magic);
// XXH3-64 with a seed, used for the directory node cuts.
uint64_t Hash64(std::string_view s, uint64_t seed);

// Streaming XXH3-128 over a file version's bytes.
class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  void Update(const void* data, size_t n);
  Hash128 Digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_CHUNK_ID_H_
