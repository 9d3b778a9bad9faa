#include "fs/step.h"

#include <gtest/gtest.h>

namespace ciuicfs {
namespace {

TEST(StepParserTest, DefaultTokensLastComponentFirst) {
  std::string err;
  auto p = StepParser::Create("", &err);
  ASSERT_TRUE(p.has_value()) << err;
  struct Case {
    const char* path;
    std::optional<int64_t> step;
  };
  const Case cases[] = {
      {"model_step_1200.pt", 1200},
      {"ckpt-1200.pt", 1200},
      {"checkpoint-500/optimizer.pt", 500},
      {"global_step300/mp_rank_00_model_states.pt", 300},
      {"epoch_3.pt", 3},
      {"run/iter0042/model.pt", 42},
      {"checkpoint-500/step_600.pt", 600},  // the last component wins
      {"steps/latest.pt", std::nullopt},
      {"latest.pt", std::nullopt},
      {"model.pt", std::nullopt},
      {"prestep12.pt", std::nullopt},       // not a token of its own
      {"Checkpoint-7/x", 7},
      {"epoch=0-step=1200.ckpt", 1200},  // Lightning's name: the last match in a component
      {"tmp-checkpoint-40/model.bin", 40},
      {"iter_0000100/mp_rank_00/model_optim_rng.pt", 100},
      {"model_step_1000_ckpt2.pt", 1000},  // a step outranks a ckpt counter
      {"step=1200-epoch=3.ckpt", 1200},    // and an epoch, wherever it is
      {"ckpt_2_epoch_5.pt", 2},            // a ckpt outranks an epoch
  };
  for (const Case& c : cases) EXPECT_EQ(p->FromPath(c.path), c.step) << c.path;
}

TEST(StepParserTest, CustomPatternAndBadPatterns) {
  std::string err;
  auto p = StepParser::Create("^s([0-9]+)\\.bin$", &err);
  ASSERT_TRUE(p.has_value()) << err;
  EXPECT_EQ(p->FromPath("a/s17.bin"), 17);
  EXPECT_EQ(p->FromPath("a/step_17.bin"), std::nullopt);
  EXPECT_FALSE(StepParser::Create("([0-9]+", &err).has_value());
  EXPECT_NE(err.find("bad step pattern"), std::string::npos);
  EXPECT_FALSE(StepParser::Create("[0-9]+", &err).has_value());
  EXPECT_NE(err.find("capture group"), std::string::npos);
}

TEST(StepParserTest, Xattr) {
  EXPECT_EQ(StepParser::FromXattr("1200"), 1200);
  EXPECT_EQ(StepParser::FromXattr("1200\n"), 1200);
  EXPECT_EQ(StepParser::FromXattr("-3"), -3);
  EXPECT_EQ(StepParser::FromXattr("12a"), std::nullopt);
  EXPECT_EQ(StepParser::FromXattr(""), std::nullopt);
}

}  // namespace
}  // namespace ciuicfs
