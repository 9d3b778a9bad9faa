// The encodings of chunk records (FORMAT.md, "Encoded records"): byte
// grouping, XOR or word differences against base bytes, and zstd, as pure
// functions over buffers. Which chunk gets which encoding is the re-encoder's choice
// (reencode_job.h); reading an encoded record back is PackStore's.
// Thread-safe.
#ifndef CIUICFS_STORE_ENCODE_CODEC_H_
#define CIUICFS_STORE_ENCODE_CODEC_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/chunk_id.h"
#include "store/base/status.h"
#include "store/pack/format.h"

namespace ciuicfs {

// Byte grouping: input byte i goes to plane (i + phase) % width.
void GroupBytes(std::string_view in, unsigned width, unsigned phase, std::string* out);
void UngroupBytes(std::string_view in, unsigned width, unsigned phase, std::string* out);

// What an encoded payload says about itself.
struct PayloadInfo {
  unsigned width = 1;
  unsigned phase = 0;
  std::vector<DeltaBase> bases;  // encoding 2 only
  std::string_view frame;        // the zstd frame
};
// Corruption when the payload is not a whole, well-formed one of `encoding`.
Result<PayloadInfo> ParsePayload(Encoding encoding, std::string_view payload);

// Encoding 1, 2 or 4: the payload for `raw`. `bases` and `base` (deltas
// only) are the bases listed and B of FORMAT.md, laid out over raw's
// length. Encoding 4 takes width 2 or 4.
std::string EncodePayload(Encoding encoding, std::string_view raw, unsigned width, unsigned phase,
                          const std::vector<DeltaBase>& bases, std::string_view base, int level = 3);

// Decodes a payload of `encoding` into `raw_len` bytes. `read_base`
// returns a base chunk's raw bytes (verified by the caller; shared, so a
// base that neighbouring deltas name is decoded once and never copied).
// The result is not checked against the chunk id here: the caller does that.
using BaseBytes = std::function<Result<std::shared_ptr<const std::string>>(const ChunkId& id)>;
Status DecodePayload(Encoding encoding, std::string_view payload, size_t raw_len, const BaseBytes& read_base,
                     std::string* raw);

// Lays the bases over a chunk of `n` bytes: B of FORMAT.md. `bytes[k]` are
// the raw bytes of `bases[k]`.
std::string LayOutBase(size_t n, const std::vector<DeltaBase>& bases, const std::vector<std::string>& bytes);

// The re-encoder's choice for one chunk (FORMAT.md, "Encoded records").
struct Choice {
  Encoding encoding = Encoding::kRaw;  // kRaw: nothing paid
  std::string payload;
};
// `base` empty: no delta is tried. `file_offset` sets the phase.
Choice ChooseEncoding(std::string_view raw, uint64_t file_offset, const std::vector<DeltaBase>& bases,
                      std::string_view base);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_ENCODE_CODEC_H_
