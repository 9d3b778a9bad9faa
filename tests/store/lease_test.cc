// Leases without a cluster (cluster/lease.h): the value's encoding, and
// the keeper's renewals, lapse and removal against a table in memory.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "store/cluster/lease.h"

namespace ciuicfs {
namespace {

class MemoryLeases : public LeaseTable {
 public:
  Status Put(uint64_t node, std::string_view bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (failing) return Status::IOError("the table is away");
    values_[node] = std::string(bytes);
    ++puts;
    return Status::Ok();
  }
  Result<std::map<uint64_t, std::string>> List() override {
    std::lock_guard<std::mutex> lock(mu_);
    return values_;
  }
  Status Remove(uint64_t node) override {
    std::lock_guard<std::mutex> lock(mu_);
    values_.erase(node);
    return Status::Ok();
  }
  std::string Name() const override { return "memory"; }
  std::string RemoveCommand(uint64_t node) const override { return "remove " + std::to_string(node); }
  std::atomic<bool> failing{false};
  std::atomic<int> puts{0};

 private:
  std::mutex mu_;
  std::map<uint64_t, std::string> values_;
};

TEST(LeaseTest, EncodesEveryFieldAndRefusesDamage) {
  Lease l;
  l.node = 0x0123456789abcdefull;
  l.renewal = 9;
  l.applied = 41;
  l.holds_from = 17;
  l.grace_ms = 30000;
  l.packs_in_use = {3, 8, 21};
  l.written_ns = -5;
  l.host = "node-a";
  l.pid = 4242;
  const std::string bytes = EncodeLease(l);
  Lease back;
  ASSERT_TRUE(DecodeLease(bytes, &back));
  EXPECT_EQ(back.node, l.node);
  EXPECT_EQ(back.renewal, 9u);
  EXPECT_EQ(back.applied, 41u);
  EXPECT_EQ(back.holds_from, 17u);
  EXPECT_EQ(back.grace_ms, 30000u);
  EXPECT_EQ(back.packs_in_use, l.packs_in_use);
  EXPECT_EQ(back.written_ns, -5);
  EXPECT_EQ(back.host, "node-a");
  EXPECT_EQ(back.pid, 4242u);
  EXPECT_EQ(back.Who(), "node 0123456789abcdef (host node-a, pid 4242)");
  for (size_t i = 0; i < bytes.size(); i += 7) {
    std::string bad = bytes;
    bad[i] ^= 0x20;
    EXPECT_FALSE(DecodeLease(bad, &back)) << "byte " << i;
  }
  EXPECT_FALSE(DecodeLease(bytes.substr(0, bytes.size() - 1), &back));
}

TEST(LeaseTest, TheKeeperRenewsLapsesWhenItCannotAndRemovesItsLease) {
  MemoryLeases table;
  LeaseTiming timing{std::chrono::milliseconds(50), std::chrono::milliseconds(1000)};
  std::atomic<uint64_t> applied{5};
  std::atomic<int> back_from_lapse{0};
  uint64_t node = 0;
  {
    LeaseKeeper keeper(
        &table,
        [&]() -> Result<Lease> {
          Lease l;
          l.applied = applied.load();
          return l;
        },
        timing, [&] { ++back_from_lapse; });
    node = keeper.node();
    ASSERT_TRUE(keeper.Start().ok());
    applied = 6;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto values = table.List();
    ASSERT_TRUE(values.ok());
    ASSERT_TRUE(values->count(node));
    Lease l;
    ASSERT_TRUE(DecodeLease(values->at(node), &l));
    EXPECT_EQ(l.node, node);
    EXPECT_EQ(l.applied, 6u) << "renewed with what the node holds now";
    EXPECT_GT(l.renewal, 1u);
    EXPECT_TRUE(keeper.Healthy().ok());
    EXPECT_EQ(back_from_lapse.load(), 0);
    table.failing = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(700));  // past half the grace
    Status h = keeper.Healthy();
    ASSERT_FALSE(h.ok());
    EXPECT_NE(h.message().find("lapsed"), std::string::npos) << h.message();
    EXPECT_NE(h.message().find("the table is away"), std::string::npos) << h.message();
    table.failing = false;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_TRUE(keeper.Healthy().ok()) << "healthy again once a renewal succeeds";
    EXPECT_EQ(back_from_lapse.load(), 1) << "the node hears once that its lease had lapsed";
  }
  auto values = table.List();
  ASSERT_TRUE(values.ok());
  EXPECT_FALSE(values->count(node)) << "a clean close removes the lease";
}

}  // namespace
}  // namespace ciuicfs
