// BaseCache (store/pack/base_cache.h): a base is loaded once however many
// readers ask for it at the same time; a failed or thrown load is never
// served to a later reader; the least recently used entry goes first.
#include "store/pack/base_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace ciuicfs {
namespace {

ChunkId Id(int n) { return Hash128::Of(std::to_string(n)); }

BaseCache::Bytes BytesOf(const std::string& s) { return std::make_shared<const std::string>(s); }

TEST(BaseCacheTest, ReadersAskingTogetherShareOneLoad) {
  BaseCache cache;
  std::atomic<int> loads{0};
  std::atomic<bool> release{false};
  auto slow = [&]() -> Result<BaseCache::Bytes> {
    ++loads;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return BytesOf("base bytes");
  };
  std::vector<std::thread> readers;
  std::vector<BaseCache::Bytes> got(8);
  for (size_t i = 0; i < got.size(); ++i)
    readers.emplace_back([&, i] {
      auto r = cache.Get(Id(1), slow);
      ASSERT_TRUE(r.ok());
      got[i] = *r;
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // all eight are in Get
  release = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(loads.load(), 1);
  for (const auto& b : got) {
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b.get(), got[0].get());  // the same bytes, not copies
    EXPECT_EQ(*b, "base bytes");
  }
  // Kept: a later reader loads nothing.
  auto again = cache.Get(Id(1), [&]() -> Result<BaseCache::Bytes> { return Status::Corruption("loaded twice"); });
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->get(), got[0].get());
}

TEST(BaseCacheTest, AFailedLoadIsNeverServedToALaterReader) {
  BaseCache cache;
  auto failed = cache.Get(Id(2), []() -> Result<BaseCache::Bytes> { return Status::Corruption("punched"); });
  EXPECT_TRUE(failed.status().IsCorruption());
  int loads = 0;
  auto good = cache.Get(Id(2), [&]() -> Result<BaseCache::Bytes> {
    ++loads;
    return BytesOf("moved and read again");
  });
  ASSERT_TRUE(good.ok()) << good.status().message();
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(**good, "moved and read again");
  // A load that throws reaches its caller, and the next reader loads afresh.
  EXPECT_THROW(cache.Get(Id(3), []() -> Result<BaseCache::Bytes> { throw std::bad_alloc(); }), std::bad_alloc);
  auto after = cache.Get(Id(3), [] { return Result<BaseCache::Bytes>(BytesOf("three")); });
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(**after, "three");
}

TEST(BaseCacheTest, TheLeastRecentlyUsedGoesFirst) {
  BaseCache cache(2);
  int loads = 0;
  auto load = [&](const std::string& s) {
    return [&loads, s]() -> Result<BaseCache::Bytes> {
      ++loads;
      return BytesOf(s);
    };
  };
  ASSERT_TRUE(cache.Get(Id(1), load("a")).ok());
  ASSERT_TRUE(cache.Get(Id(2), load("b")).ok());
  ASSERT_TRUE(cache.Get(Id(1), load("a")).ok());  // kept; now the most recent
  ASSERT_TRUE(cache.Get(Id(3), load("c")).ok());  // evicts 2
  EXPECT_EQ(loads, 3);
  ASSERT_TRUE(cache.Get(Id(1), load("a")).ok());
  EXPECT_EQ(loads, 3);
  auto two = cache.Get(Id(2), load("b"));
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(loads, 4);
  EXPECT_EQ(**two, "b");
}

}  // namespace
}  // namespace ciuicfs
