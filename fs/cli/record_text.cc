#include "fs/cli/record_text.h"

#include <cstdio>

#include "fs/cli/common.h"

namespace ciuicfs::cli {
namespace {

std::string Number(const char* format, double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

}  // namespace

SnapshotRecord RecordOrWarn(Store* store, const Snapshot& s, const std::string& command) {
  auto r = store->Record(s);
  if (r.ok()) return std::move(*r);
  Fail(command + ": snapshot " + std::to_string(s.seq) + ": its training record cannot be read: " +
       r.status().message());
  return {};
}

std::string RecordText(const SnapshotRecord& r) {
  std::string out;
  for (const auto& [k, v] : r.metrics) out += " " + k + "=" + Number("%.6g", v);
  for (const auto& [k, v] : r.notes)
    out += " " + k + "=" + (v.find_first_of(" \t\n\"") == std::string::npos ? v : JsonString(v));
  return out;
}

std::string RecordJson(const SnapshotRecord& r) {
  std::string out = "\"metrics\":{";
  bool first = true;
  for (const auto& [k, v] : r.metrics) {
    out += (first ? "" : ",") + JsonString(k) + ":" + Number("%.17g", v);
    first = false;
  }
  out += "},\"notes\":{";
  first = true;
  for (const auto& [k, v] : r.notes) {
    out += (first ? "" : ",") + JsonString(k) + ":" + JsonString(v);
    first = false;
  }
  return out + "}";
}

}  // namespace ciuicfs::cli
