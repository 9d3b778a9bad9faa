// The contract of store/pack/backend.h as one check, held against every
// backend: `backend` must hold no pack 3 or 4 yet.
#ifndef CIUICFS_TESTS_STORE_BACKEND_CONTRACT_H_
#define CIUICFS_TESTS_STORE_BACKEND_CONTRACT_H_

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store/pack/backend.h"

namespace ciuicfs::testing {

inline void ExpectBackendContract(PackBackend& b, const std::string& name_of_3) {
  ASSERT_TRUE(b.Create(3).ok());
  EXPECT_FALSE(b.Create(3).ok()) << "create fails when the object exists";
  std::string x = "hello", y = "world!";
  struct iovec iov[2] = {{x.data(), x.size()}, {y.data(), y.size()}};
  ASSERT_TRUE(b.Append(3, 0, iov, 2).ok());
  EXPECT_EQ(*b.Size(3), 11u);
  char out[11];
  ASSERT_TRUE(b.ReadAt(3, 0, out, 11).ok());
  EXPECT_EQ(std::string(out, 11), "helloworld!");
  EXPECT_TRUE(b.ReadAt(3, 5, out, 10).IsCorruption()) << "a read past the end is never short";
  auto durable = b.Sync(3);
  ASSERT_TRUE(durable.ok());
  EXPECT_EQ(*durable, 11u);
  EXPECT_TRUE(b.Size(4).status().IsNotFound());
  ASSERT_TRUE(b.Truncate(3, 5).ok());
  EXPECT_EQ(*b.Size(3), 5u);
  EXPECT_EQ(*b.List(), std::vector<uint32_t>{3});
  ASSERT_TRUE(b.Remove(3).ok());
  EXPECT_TRUE(b.Remove(3).ok()) << "removing what is absent is OK";
  EXPECT_TRUE(b.List()->empty());
  EXPECT_EQ(b.Name(3), name_of_3);
}

}  // namespace ciuicfs::testing

#endif  // CIUICFS_TESTS_STORE_BACKEND_CONTRACT_H_
