#include "store/retention/policy.h"

#include <algorithm>
#include <cctype>
#include <ctime>

namespace ciuicfs {
namespace {

constexpr int64_t kSecond = 1000000000;

Result<uint64_t> Count(const std::string& key, const std::string& v, bool positive) {
  if (v.empty() || v.size() > 18 || !std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(uint8_t(c)); }))
    return Status::InvalidArgument(key + " needs a whole number, not '" + v + "'");
  const uint64_t n = std::stoull(v);
  if (positive && n == 0) return Status::InvalidArgument(key + " must be positive");
  return n;
}

// A local-time bucket of `ns`: hours or days since an epoch of their own.
int64_t Bucket(int64_t ns, bool daily) {
  time_t t = time_t(ns / kSecond);
  struct tm tm;
  localtime_r(&t, &tm);
  const int64_t day = int64_t(tm.tm_year) * 400 + tm.tm_yday;
  return daily ? day : day * 24 + tm.tm_hour;
}

}  // namespace

Result<int64_t> ParseDuration(const std::string& text) {
  if (text.size() < 2) return Status::InvalidArgument("bad duration '" + text + "' (use 90s, 30m, 12h, 7d or 2w)");
  const char unit = text.back();
  const int64_t per = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : unit == 'w' ? 604800 : 0;
  auto n = Count("a duration", text.substr(0, text.size() - 1), true);
  if (per == 0 || !n.ok() || *n > uint64_t(INT64_MAX / kSecond / per))
    return Status::InvalidArgument("bad duration '" + text + "' (use 90s, 30m, 12h, 7d or 2w)");
  return int64_t(*n) * per * kSecond;
}

Result<RetentionPolicy> ParseRetentionPolicy(const std::string& text) {
  RetentionPolicy p;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) continue;
    std::replace(item.begin(), item.end(), '_', '-');
    const size_t eq = item.find('=');
    if (eq == std::string::npos) return Status::InvalidArgument("policy rule '" + item + "' needs a value (RULE=VALUE)");
    const std::string key = item.substr(0, eq), v = item.substr(eq + 1);
    if (key == "keep-last") {
      auto n = Count(key, v, false);
      if (!n.ok()) return n.status();
      p.keep_last = *n;
    } else if (key == "keep-every-steps") {
      auto n = Count(key, v, true);
      if (!n.ok()) return n.status();
      p.keep_every_steps = int64_t(*n);
    } else if (key == "keep-within") {
      auto d = ParseDuration(v);
      if (!d.ok()) return d.status();
      p.keep_within_ns = *d;
    } else if (key == "keep-hourly" || key == "keep-daily") {
      auto n = Count(key, v, true);
      if (!n.ok()) return n.status();
      (key == "keep-hourly" ? p.keep_hourly : p.keep_daily) = *n;
    } else {
      return Status::InvalidArgument("unknown policy rule '" + key +
                                     "' (keep-last, keep-every-steps, keep-within, keep-hourly, keep-daily)");
    }
  }
  return p;
}

std::string FormatRetentionPolicy(const RetentionPolicy& p) {
  std::string out;
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : ",") + s; };
  if (p.keep_last) add("keep-last=" + std::to_string(*p.keep_last));
  if (p.keep_every_steps) add("keep-every-steps=" + std::to_string(*p.keep_every_steps));
  if (p.keep_within_ns) {
    const int64_t s = *p.keep_within_ns / kSecond;
    add("keep-within=" + (s % 604800 == 0   ? std::to_string(s / 604800) + "w"
                          : s % 86400 == 0 ? std::to_string(s / 86400) + "d"
                          : s % 3600 == 0  ? std::to_string(s / 3600) + "h"
                          : s % 60 == 0    ? std::to_string(s / 60) + "m"
                                           : std::to_string(s) + "s"));
  }
  if (p.keep_hourly) add("keep-hourly=" + std::to_string(*p.keep_hourly));
  if (p.keep_daily) add("keep-daily=" + std::to_string(*p.keep_daily));
  return out;
}

std::vector<uint64_t> SelectDrops(const RetentionPolicy& p, const RetentionInput& in) {
  if (p.empty()) return {};
  std::set<uint64_t> keep;
  for (const auto& [name, head] : in.heads)
    if (head != 0) keep.insert(head);
  for (const auto& [name, line] : in.lines) {
    if (line.empty()) continue;
    if (p.keep_last)
      for (size_t i = 0; i < *p.keep_last && i < line.size(); ++i) keep.insert(line[line.size() - 1 - i].seq);
    if (p.keep_every_steps) {
      std::map<int64_t, uint64_t> newest_of_step;
      for (const Snapshot& s : line)
        if (s.step % *p.keep_every_steps == 0) newest_of_step[s.step] = s.seq;
      for (const auto& [step, seq] : newest_of_step) keep.insert(seq);
    }
    if (p.keep_within_ns) {
      const int64_t newest = line.back().time_ns;
      for (const Snapshot& s : line)
        if (newest - s.time_ns <= *p.keep_within_ns) keep.insert(s.seq);
    }
    for (bool daily : {false, true}) {
      const std::optional<uint64_t>& n = daily ? p.keep_daily : p.keep_hourly;
      if (!n) continue;
      std::set<int64_t> seen;  // newest first: the first of a bucket is its newest
      for (auto it = line.rbegin(); it != line.rend() && seen.size() <= *n; ++it) {
        const int64_t b = Bucket(it->time_ns, daily);
        if (seen.count(b)) continue;
        seen.insert(b);
        if (seen.size() <= *n) keep.insert(it->seq);
      }
    }
  }
  std::vector<uint64_t> drop;
  for (const Snapshot& s : in.all)
    if (!keep.count(s.seq) && !(p.keep_tagged && in.tagged.count(s.seq))) drop.push_back(s.seq);
  return drop;
}

}  // namespace ciuicfs
