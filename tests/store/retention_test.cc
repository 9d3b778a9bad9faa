// Retention policies (store/retention/README.md): the text form and the
// pure choice of what a policy drops.
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>

#include "store/retention/policy.h"

namespace ciuicfs {
namespace {

constexpr int64_t kHour = 3600LL * 1000000000;

Snapshot Snap(uint64_t seq, int64_t step, int64_t time_ns) {
  Snapshot s;
  s.seq = seq;
  s.step = step;
  s.time_ns = time_ns;
  return s;
}

// One branch (main) of `n` snapshots, step = seq, one hour apart.
RetentionInput Line(uint64_t n, int64_t start_ns) {
  RetentionInput in;
  for (uint64_t i = 1; i <= n; ++i) in.all.push_back(Snap(i, int64_t(i), start_ns + int64_t(i - 1) * kHour));
  in.lines["main"] = in.all;
  in.heads["main"] = n;
  return in;
}

std::vector<uint64_t> Kept(const RetentionPolicy& p, const RetentionInput& in) {
  auto drops = SelectDrops(p, in);
  std::vector<uint64_t> kept;
  for (const Snapshot& s : in.all)
    if (std::find(drops.begin(), drops.end(), s.seq) == drops.end()) kept.push_back(s.seq);
  return kept;
}

TEST(RetentionPolicyTest, TextRoundTripsAndBadRulesAreOneLine) {
  auto p = ParseRetentionPolicy("keep_last=5,keep-every-steps=50,keep-within=2w,keep-hourly=24,keep-daily=7");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(*p->keep_last, 5u);
  EXPECT_EQ(*p->keep_every_steps, 50);
  EXPECT_EQ(*p->keep_within_ns, 14 * 24 * kHour);
  EXPECT_EQ(FormatRetentionPolicy(*p), "keep-last=5,keep-every-steps=50,keep-within=2w,keep-hourly=24,keep-daily=7");
  EXPECT_EQ(*ParseRetentionPolicy(FormatRetentionPolicy(*p)), *p);
  EXPECT_EQ(FormatRetentionPolicy(*ParseRetentionPolicy("keep-within=90s")), "keep-within=90s");
  EXPECT_EQ(FormatRetentionPolicy(*ParseRetentionPolicy("keep-within=120m")), "keep-within=2h");
  EXPECT_TRUE(ParseRetentionPolicy("")->empty());
  for (const char* bad : {"keep-last", "keep-last=-1", "keep-last=x", "keep-every-steps=0", "keep-within=5",
                          "keep-within=3y", "keep-within=0d", "keep-forever=1", "keep-hourly=0"}) {
    auto r = ParseRetentionPolicy(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << bad;
  }
}

TEST(RetentionPolicyTest, EachRuleKeepsWhatItSays) {
  const RetentionInput in = Line(200, 1700000000LL * 1000000000);
  RetentionPolicy last;
  last.keep_last = 5;
  EXPECT_EQ(Kept(last, in), (std::vector<uint64_t>{196, 197, 198, 199, 200}));
  RetentionPolicy every;
  every.keep_every_steps = 50;
  EXPECT_EQ(Kept(every, in), (std::vector<uint64_t>{50, 100, 150, 200}));
  RetentionPolicy both = last;
  both.keep_every_steps = 50;
  EXPECT_EQ(Kept(both, in), (std::vector<uint64_t>{50, 100, 150, 196, 197, 198, 199, 200}));
  RetentionPolicy within;
  within.keep_within_ns = 3 * kHour;
  EXPECT_EQ(Kept(within, in), (std::vector<uint64_t>{197, 198, 199, 200}));
  RetentionPolicy hourly;  // one snapshot an hour: the last 3 hours are the last 3
  hourly.keep_hourly = 3;
  EXPECT_EQ(Kept(hourly, in), (std::vector<uint64_t>{198, 199, 200}));
  RetentionPolicy none;
  EXPECT_TRUE(SelectDrops(none, in).empty());
}

TEST(RetentionPolicyTest, BucketsKeepTheNewestOfEachAndSkipEmptyOnes) {
  // Local midnight of some day, then snapshots at 00:10, 00:50, 01:30 of
  // it and 10:00 of the next day (an empty stretch between).
  struct tm tm = {};
  tm.tm_year = 124;
  tm.tm_mon = 2;
  tm.tm_mday = 10;
  tm.tm_isdst = -1;
  const int64_t midnight = int64_t(mktime(&tm)) * 1000000000;
  const int64_t minute = kHour / 60;
  RetentionInput in;
  in.all = {Snap(1, 1, midnight + 10 * minute), Snap(2, 2, midnight + 50 * minute), Snap(3, 3, midnight + 90 * minute),
            Snap(4, 4, midnight + 34 * kHour)};
  in.lines["main"] = in.all;
  in.heads["main"] = 4;
  RetentionPolicy hourly;
  hourly.keep_hourly = 3;
  EXPECT_EQ(Kept(hourly, in), (std::vector<uint64_t>{2, 3, 4}));
  RetentionPolicy daily;
  daily.keep_daily = 2;
  EXPECT_EQ(Kept(daily, in), (std::vector<uint64_t>{3, 4}));
  daily.keep_daily = 1;
  EXPECT_EQ(Kept(daily, in), (std::vector<uint64_t>{4}));
}

TEST(RetentionPolicyTest, HeadsAndTagsStayAndBranchesCountApart) {
  RetentionInput in = Line(10, 0);
  // Branch exp forks at 4 with snapshots 11, 12; its line is 1-4, 11, 12.
  in.all.push_back(Snap(11, 11, 20 * kHour));
  in.all.push_back(Snap(12, 12, 21 * kHour));
  in.lines["exp"] = {in.all[0], in.all[1], in.all[2], in.all[3], in.all[10], in.all[11]};
  in.heads["exp"] = 12;
  in.heads["empty"] = 0;
  in.lines["empty"] = {};
  in.tagged = {2};
  RetentionPolicy p;
  p.keep_last = 1;
  EXPECT_EQ(Kept(p, in), (std::vector<uint64_t>{2, 10, 12}));
  p.keep_last = 3;  // exp's last 3 are 4, 11, 12
  EXPECT_EQ(Kept(p, in), (std::vector<uint64_t>{2, 4, 8, 9, 10, 11, 12}));
  p.keep_tagged = false;
  EXPECT_EQ(Kept(p, in), (std::vector<uint64_t>{4, 8, 9, 10, 11, 12}));
}

}  // namespace
}  // namespace ciuicfs
