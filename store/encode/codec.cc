#include "store/encode/codec.h"

#include <zstd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "store/base/coding.h"

namespace ciuicfs {
namespace {

constexpr size_t kBaseBytes = ChunkId::kSize + 8;

ZSTD_CCtx* CompressContext() {
  thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> ctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  return ctx.get();
}

ZSTD_DCtx* DecompressContext() {
  thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  return ctx.get();
}

void AppendFrame(std::string_view in, int level, std::string* out) {
  const size_t at = out->size();
  out->resize(at + ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compressCCtx(CompressContext(), out->data() + at, out->size() - at, in.data(), in.size(), level);
  // Compressing into a buffer of the bound cannot fail but for memory.
  if (ZSTD_isError(n)) n = 0;
  out->resize(at + n);
}

void XorInto(char* __restrict d, std::string_view src) {
  const char* __restrict s = src.data();
  const size_t n = src.size();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {  // a word at a time
    uint64_t a, b;
    std::memcpy(&a, d + i, 8);
    std::memcpy(&b, s + i, 8);
    a ^= b;
    std::memcpy(d + i, &a, 8);
  }
  for (; i < n; ++i) d[i] ^= s[i];
}

// Encoding 4's residual (FORMAT.md): each whole w-byte element at phase a
// becomes zigzag(x - b) (Forward) or back (x = b + unzigzag(r)); the bytes
// outside whole elements are XORed, as for encoding 2.
template <typename Word, bool Forward>
void DiffWords(char* d, const char* s, size_t n, unsigned phase) {
  constexpr unsigned W = sizeof(Word);
  const size_t head = std::min<size_t>(n, (W - phase % W) % W);
  size_t i = 0;
  for (; i < head; ++i) d[i] ^= s[i];
  for (; i + W <= n; i += W) {
    Word x, b;
    std::memcpy(&x, d + i, W);
    std::memcpy(&b, s + i, W);
    using Signed = std::make_signed_t<Word>;
    if constexpr (Forward) {
      const Signed diff = Signed(Word(x - b));
      x = Word(Word(diff) << 1) ^ Word(diff >> (8 * W - 1));
    } else {
      const Word diff = Word(x >> 1) ^ Word(-Word(x & 1));
      x = Word(b + diff);
    }
    std::memcpy(d + i, &x, W);
  }
  for (; i < n; ++i) d[i] ^= s[i];
}

// Applies (Forward) or takes off encoding `e`'s residual against `base`.
void Residual(Encoding e, bool forward, unsigned width, unsigned phase, char* d, std::string_view base) {
  if (e != Encoding::kDiffDeltaZstd) return XorInto(d, base);
  if (width == 4)
    return forward ? DiffWords<uint32_t, true>(d, base.data(), base.size(), phase)
                   : DiffWords<uint32_t, false>(d, base.data(), base.size(), phase);
  return forward ? DiffWords<uint16_t, true>(d, base.data(), base.size(), phase)
                 : DiffWords<uint16_t, false>(d, base.data(), base.size(), phase);
}

}  // namespace

namespace {

// Ungrouping's inner loop on SSE2 (every x86-64): 16 elements of each
// plane interleaved per step. Returns how many elements it did.
template <unsigned W>
size_t Interleave(const char* planes, const size_t* cur, size_t whole, char* out) {
#if defined(__SSE2__)
  size_t e = 0;
  if constexpr (W == 4) {
    for (; e + 16 <= whole; e += 16) {
      __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(planes + cur[0] + e));
      __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(planes + cur[1] + e));
      __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(planes + cur[2] + e));
      __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(planes + cur[3] + e));
      __m128i ab_lo = _mm_unpacklo_epi8(a, b), ab_hi = _mm_unpackhi_epi8(a, b);
      __m128i cd_lo = _mm_unpacklo_epi8(c, d), cd_hi = _mm_unpackhi_epi8(c, d);
      __m128i* o = reinterpret_cast<__m128i*>(out + e * 4);
      _mm_storeu_si128(o + 0, _mm_unpacklo_epi16(ab_lo, cd_lo));
      _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(ab_lo, cd_lo));
      _mm_storeu_si128(o + 2, _mm_unpacklo_epi16(ab_hi, cd_hi));
      _mm_storeu_si128(o + 3, _mm_unpackhi_epi16(ab_hi, cd_hi));
    }
  } else if constexpr (W == 2) {
    for (; e + 16 <= whole; e += 16) {
      __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(planes + cur[0] + e));
      __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(planes + cur[1] + e));
      __m128i* o = reinterpret_cast<__m128i*>(out + e * 2);
      _mm_storeu_si128(o + 0, _mm_unpacklo_epi8(a, b));
      _mm_storeu_si128(o + 1, _mm_unpackhi_epi8(a, b));
    }
  }
  return e;
#else
  return 0;
#endif
}

// Byte i of the flat bytes is byte `cursor[(i + phase) % W]++` of the
// planes. ToPlanes: scatter flat bytes into planes (GroupBytes), else
// gather them back (UngroupBytes). One pass, elements in order.
template <unsigned W, bool ToPlanes>
void Regroup(const char* in, size_t n, unsigned phase, char* out) {
  char* flat_out = ToPlanes ? nullptr : out;
  const char* flat_in = ToPlanes ? in : nullptr;
  size_t cur[W];  // each plane's next byte, as an offset into the planes
  size_t at = 0;
  for (unsigned p = 0; p < W; ++p) {
    cur[p] = at;
    const size_t first = (p + W - phase) % W;  // the first i of plane p
    at += n > first ? (n - first + W - 1) / W : 0;
  }
  auto one = [&](size_t i) {
    size_t& c = cur[(i + phase) % W];
    if constexpr (ToPlanes) out[c++] = flat_in[i];
    else flat_out[i] = in[c++];
  };
  size_t i = 0;
  for (; i < n && (i + phase) % W != 0; ++i) one(i);
  // Whole elements: element byte k goes to (comes from) plane k; one
  // plane at a time (after the vector part), so each loop is a plain
  // strided copy.
  const size_t whole = (n - i) / W;
  size_t done = 0;  // elements already ungrouped all planes at once, 16 a step
  if constexpr (!ToPlanes) done = Interleave<W>(in, cur, whole, flat_out + i);
  for (unsigned k = 0; k < W; ++k) {
    if constexpr (ToPlanes) {
      char* __restrict dst = out + cur[k];
      const char* __restrict src = flat_in + i + k;
      for (size_t e = 0; e < whole; ++e) dst[e] = src[e * W];
    } else {
      char* __restrict dst = flat_out + i + k;
      const char* __restrict src = in + cur[k];
      for (size_t e = done; e < whole; ++e) dst[e * W] = src[e];
    }
  }
  for (unsigned k = 0; k < W; ++k) cur[k] += whole;
  i += whole * W;
  for (; i < n; ++i) one(i);
}

template <bool ToPlanes>
void RegroupAny(std::string_view in, unsigned width, unsigned phase, std::string* out) {
  out->resize(in.size());
  if (width == 4) return Regroup<4, ToPlanes>(in.data(), in.size(), phase % 4, out->data());
  if (width == 2) return Regroup<2, ToPlanes>(in.data(), in.size(), phase % 2, out->data());
  std::memcpy(out->data(), in.data(), in.size());
}

}  // namespace

void GroupBytes(std::string_view in, unsigned width, unsigned phase, std::string* out) {
  RegroupAny<true>(in, width, phase, out);
}

void UngroupBytes(std::string_view in, unsigned width, unsigned phase, std::string* out) {
  RegroupAny<false>(in, width, phase, out);
}

Result<PayloadInfo> ParsePayload(Encoding encoding, std::string_view payload) {
  if (encoding != Encoding::kZstd && !IsDelta(encoding))
    return Status::Corruption("encoding " + std::to_string(int(encoding)) + " has no payload to parse");
  Decoder d(payload);
  PayloadInfo info;
  info.width = d.LE<uint8_t>();
  info.phase = d.LE<uint8_t>();
  size_t used = 2;
  if (IsDelta(encoding)) {
    unsigned n = d.LE<uint8_t>();
    used += 1;
    if (n == 0 || n > kMaxDeltaBases) return Status::Corruption("a delta payload lists " + std::to_string(n) + " bases");
    for (unsigned k = 0; k < n; ++k) {
      std::string_view id = d.Bytes(ChunkId::kSize);
      int64_t offset = static_cast<int64_t>(d.LE<uint64_t>());
      if (!d.ok()) break;
      info.bases.push_back(DeltaBase{ChunkId::FromBytes(id.data()), offset});
    }
    used += size_t(n) * kBaseBytes;
  }
  if (!d.ok()) return Status::Corruption("a payload is shorter than its own header");
  if (info.width != 1 && info.width != 2 && info.width != 4) return Status::Corruption("a payload has byte-group width " + std::to_string(info.width));
  if (info.phase >= info.width) return Status::Corruption("a payload has phase " + std::to_string(info.phase));
  if (encoding == Encoding::kDiffDeltaZstd && info.width == 1)
    return Status::Corruption("a difference delta has byte-group width 1");
  info.frame = payload.substr(used);
  return info;
}

std::string LayOutBase(size_t n, const std::vector<DeltaBase>& bases, const std::vector<std::string>& bytes) {
  std::string b(n, '\0');
  for (size_t k = 0; k < bases.size() && k < bytes.size(); ++k) {
    // Base byte j lies at chunk position offset + j.
    const int64_t from = std::max<int64_t>(0, bases[k].offset);
    const int64_t to = std::min<int64_t>(int64_t(n), bases[k].offset + int64_t(bytes[k].size()));
    if (from < to) std::memcpy(b.data() + from, bytes[k].data() + (from - bases[k].offset), size_t(to - from));
  }
  return b;
}

std::string EncodePayload(Encoding encoding, std::string_view raw, unsigned width, unsigned phase,
                          const std::vector<DeltaBase>& bases, std::string_view base, int level) {
  std::string out;
  PutLE<uint8_t>(&out, uint8_t(width));
  PutLE<uint8_t>(&out, uint8_t(phase));
  std::string input(raw);
  if (IsDelta(encoding)) {
    PutLE<uint8_t>(&out, uint8_t(bases.size()));
    for (const DeltaBase& b : bases) {
      b.id.AppendTo(&out);
      PutLE<uint64_t>(&out, uint64_t(b.offset));
    }
    Residual(encoding, true, width, phase, input.data(), base.substr(0, input.size()));
  }
  std::string grouped;
  GroupBytes(input, width, phase, &grouped);
  AppendFrame(grouped, level, &out);
  return out;
}

Status DecodePayload(Encoding encoding, std::string_view payload, size_t raw_len, const BaseBytes& read_base,
                     std::string* raw) {
  auto info = ParsePayload(encoding, payload);
  if (!info.ok()) return info.status();
  unsigned long long size = ZSTD_getFrameContentSize(info->frame.data(), info->frame.size());
  if (size != raw_len) return Status::Corruption("a record's zstd frame does not hold its raw length");
  // Scratch kept per thread: a reader decodes chunk after chunk of about
  // the same size, and fresh buffers would cost page faults each time.
  // Safe across the one level of recursion there is (read_base may decode
  // a keyframe base, using grouped, after this call is done with grouped)
  // because a base is never a delta (depth one): a delta base would
  // overwrite laid_out and its own output here.
  thread_local std::string grouped;
  grouped.resize(raw_len);
  size_t n = ZSTD_decompressDCtx(DecompressContext(), grouped.data(), grouped.size(), info->frame.data(),
                                 info->frame.size());
  if (ZSTD_isError(n) || n != raw_len)
    return Status::Corruption(std::string("a record's zstd frame does not decode: ") +
                              (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short"));
  UngroupBytes(grouped, info->width, info->phase, raw);
  if (!IsDelta(encoding)) return Status::Ok();
  // The residual taken off B, with B laid out as LayOutBase does (a later base over an
  // earlier one where they overlap), in scratch.
  thread_local std::string laid_out;
  laid_out.resize(raw_len);
  std::vector<std::shared_ptr<const std::string>> bytes;
  std::vector<std::pair<size_t, size_t>> covered;  // [from, to) of each base in the chunk
  for (const DeltaBase& b : info->bases) {
    auto shared = read_base(b.id);
    if (!shared.ok()) return shared.status();
    const int64_t from = std::clamp<int64_t>(b.offset, 0, int64_t(raw_len));
    const int64_t to = std::min<int64_t>(int64_t(raw_len), b.offset + int64_t((*shared)->size()));
    covered.emplace_back(size_t(from), size_t(std::max(from, to)));
    bytes.push_back(std::move(*shared));
  }
  // Zeros only where no base lies (a full fill would cost as much as the copy).
  std::vector<std::pair<size_t, size_t>> sorted = covered;
  std::sort(sorted.begin(), sorted.end());
  size_t at = 0;
  for (const auto& [from, to] : sorted) {
    if (from > at) std::memset(laid_out.data() + at, 0, from - at);
    at = std::max(at, to);
  }
  if (at < raw_len) std::memset(laid_out.data() + at, 0, raw_len - at);
  for (size_t k = 0; k < bytes.size(); ++k) {
    const auto [from, to] = covered[k];
    if (from < to)
      std::memcpy(laid_out.data() + from, bytes[k]->data() + (int64_t(from) - info->bases[k].offset), to - from);
  }
  Residual(encoding, false, info->width, info->phase, raw->data(), laid_out);
  return Status::Ok();
}

Choice ChooseEncoding(std::string_view raw, uint64_t file_offset, const std::vector<DeltaBase>& bases,
                      std::string_view base) {
  constexpr size_t kSample = 64 << 10;
  const std::string_view sample_raw = raw.substr(0, kSample);
  // The trials (FORMAT.md, "Choosing"): no delta at every width, the
  // difference delta at 4 and 2, the XOR delta at 1.
  struct Trial {
    Encoding encoding;
    unsigned width;
  };
  std::vector<Trial> trials = {{Encoding::kZstd, 4}, {Encoding::kZstd, 2}, {Encoding::kZstd, 1}};
  if (!bases.empty())
    trials.insert(trials.end(), {{Encoding::kDiffDeltaZstd, 4}, {Encoding::kDiffDeltaZstd, 2}, {Encoding::kXorDeltaZstd, 1}});
  size_t best = SIZE_MAX;
  Trial chosen = trials[0];
  std::string input, grouped, frame;
  for (const Trial& t : trials) {
    const unsigned phase = unsigned(file_offset % t.width);
    input.assign(sample_raw);
    if (IsDelta(t.encoding)) Residual(t.encoding, true, t.width, phase, input.data(), base.substr(0, input.size()));
    GroupBytes(input, t.width, phase, &grouped);
    frame.clear();
    AppendFrame(grouped, 3, &frame);
    if (frame.size() < best) {
      best = frame.size();
      chosen = t;
    }
  }
  Choice c;
  std::string payload = EncodePayload(chosen.encoding, raw, chosen.width, unsigned(file_offset % chosen.width),
                                      IsDelta(chosen.encoding) ? bases : std::vector<DeltaBase>{}, base);
  if (payload.size() > raw.size() / 32 * 31) return c;
  c.encoding = chosen.encoding;
  c.payload = std::move(payload);
  return c;
}

}  // namespace ciuicfs
