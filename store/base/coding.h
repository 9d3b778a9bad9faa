// Byte encoding helpers for the on-disk format (see FORMAT.md): little-endian
// integers in values, big-endian integers in LMDB keys, and a bounds-checked
// cursor for decoding. Header-only; no state, thread-safe.
#ifndef CIUICFS_STORE_CODING_H_
#define CIUICFS_STORE_CODING_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace ciuicfs {

template <typename T>
inline void PutLE(std::string* out, T v) {
  char buf[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) buf[i] = static_cast<char>(uint64_t(v) >> (8 * i));
  out->append(buf, sizeof(T));
}

template <typename T>
inline void StoreLE(void* dst, T v) {
  auto* p = static_cast<unsigned char*>(dst);
  for (size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<unsigned char>(uint64_t(v) >> (8 * i));
}

template <typename T>
inline T LoadLE(const void* src) {
  const auto* p = static_cast<const unsigned char*>(src);
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= uint64_t(p[i]) << (8 * i);
  return static_cast<T>(v);
}

template <typename T>
inline void PutBE(std::string* out, T v) {
  char buf[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i)
    buf[sizeof(T) - 1 - i] = static_cast<char>(uint64_t(v) >> (8 * i));
  out->append(buf, sizeof(T));
}

template <typename T>
inline T LoadBE(const void* src) {
  const auto* p = static_cast<const unsigned char*>(src);
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v = (v << 8) | p[i];
  return static_cast<T>(v);
}

// 16 lowercase hex digits: how a node id or a commit number is named in
// RADOS object names, omap keys and messages.
inline std::string Hex16(uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) out[size_t(i)] = kDigits[v & 15];
  return out;
}

// LEB128 varint: 7 bits per byte, low first, high bit set on all but the
// last byte. Signed values are zigzag-mapped first (0, -1, 1, -2, ...).
inline void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
inline uint64_t ZigZag(int64_t v) { return (uint64_t(v) << 1) ^ uint64_t(v >> 63); }
inline int64_t UnZigZag(uint64_t v) { return int64_t(v >> 1) ^ -int64_t(v & 1); }

// Reads fields in order; any read past the end sets !ok() and yields zeros,
// so a decoder checks ok() once at the end.
class Decoder {
 public:
  explicit Decoder(std::string_view data) : data_(data) {}
  template <typename T>
  T LE() {
    if (!Need(sizeof(T))) return T{};
    T v = LoadLE<T>(data_.data() + pos_);
    pos_ += sizeof(T);
    return v;
  }
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (!Need(1)) return 0;
      uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    ok_ = false;  // more than 10 bytes
    return 0;
  }
  std::string_view Bytes(size_t n) {
    if (!Need(n)) return {};
    std::string_view v = data_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == data_.size(); }

 private:
  bool Need(size_t n) {
    if (!ok_ || data_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::string_view data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_CODING_H_
