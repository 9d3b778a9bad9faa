#include "store/background/scheduler.h"
#include "store/background/throttle.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ciuicfs {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Long enough never to fire on a working scheduler; bounds a hung test.
constexpr seconds kPatience(30);
// How long a test watches for something that must not happen.
constexpr milliseconds kGlimpse(100);

// What the jobs did, in order, from every thread.
class Journal {
 public:
  void Add(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.push_back(line);
  }
  std::vector<std::string> lines() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

// A gate a job's stage waits at until the test opens it, after telling the
// test it arrived.
class Gate {
 public:
  Gate() : open_(opener_.get_future().share()) {}
  // In the job.
  void Arrive() {
    arrived_.set_value();
    open_.wait_for(kPatience);
  }
  // In the test.
  bool WaitArrived() { return arrived_future_.wait_for(kPatience) == std::future_status::ready; }
  void Open() { opener_.set_value(); }

 private:
  std::promise<void> arrived_;
  std::future<void> arrived_future_ = arrived_.get_future();
  std::promise<void> opener_;
  std::shared_future<void> open_;
};

// What a ScriptedJob's stages return; all OK unless set.
struct Script {
  Status prepare, run, install;
  // Called at the start of each stage ("prepare", "run", "install").
  std::function<void(const std::string& stage)> hook;

  Script& FailPrepare(Status s) {
    prepare = std::move(s);
    return *this;
  }
  Script& FailRun(Status s) {
    run = std::move(s);
    return *this;
  }
  Script& FailInstall(Status s) {
    install = std::move(s);
    return *this;
  }
  Script& WithHook(std::function<void(const std::string& stage)> h) {
    hook = std::move(h);
    return *this;
  }
};

class ScriptedJob : public BackgroundJob {
 public:
  ScriptedJob(std::string name, Journal* journal, Script script)
      : name_(std::move(name)), journal_(journal), script_(std::move(script)) {}
  std::string name() const override { return name_; }
  Status Prepare() override { return Stage("prepare", script_.prepare); }
  Status Run() override { return Stage("run", script_.run); }
  Status Install() override { return Stage("install", script_.install); }

 private:
  Status Stage(const std::string& stage, const Status& result) {
    journal_->Add(name_ + ":" + stage);
    if (script_.hook) script_.hook(stage);
    return result;
  }
  std::string name_;
  Journal* journal_;
  Script script_;
};

std::unique_ptr<BackgroundJob> Job(const std::string& name, Journal* journal, Script script = Script()) {
  return std::make_unique<ScriptedJob>(name, journal, std::move(script));
}

// A hook that stops at `gate` in `stage`.
std::function<void(const std::string&)> StopAt(const std::string& stage, Gate* gate) {
  return [stage, gate](const std::string& s) {
    if (s == stage) gate->Arrive();
  };
}

// The outcome, or a failure if it takes past kPatience.
Status Await(std::future<Status>& f) {
  if (f.wait_for(kPatience) != std::future_status::ready) {
    ADD_FAILURE() << "a job's future did not become ready";
    return Status::IOError("timed out");
  }
  return f.get();
}

bool Ready(std::future<Status>& f, milliseconds wait = milliseconds(0)) {
  return f.wait_for(wait) == std::future_status::ready;
}

std::vector<std::string> Stages(const std::string& name) {
  return {name + ":prepare", name + ":run", name + ":install"};
}

TEST(SchedulerTest, RunsJobsInOrderAndStagesInOrder) {
  Journal journal;
  BackgroundScheduler scheduler;
  EXPECT_EQ(scheduler.current(), "");
  std::vector<std::future<Status>> done;
  for (const char* name : {"j1", "j2", "j3", "j4"}) done.push_back(scheduler.Schedule(Job(name, &journal)));
  for (auto& f : done) EXPECT_TRUE(Await(f).ok());
  std::vector<std::string> expected;
  for (const char* name : {"j1", "j2", "j3", "j4"})
    for (const std::string& line : Stages(name)) expected.push_back(line);
  EXPECT_EQ(journal.lines(), expected);
  EXPECT_TRUE(scheduler.error().ok());
}

TEST(SchedulerTest, FailingPrepareSkipsRunAndInstall) {
  Journal journal;
  BackgroundScheduler scheduler;
  auto nothing =
      scheduler.Schedule(Job("skip", &journal, Script().FailPrepare(Status::NotFound("nothing to compact"))));
  auto next = scheduler.Schedule(Job("next", &journal));
  Status s = Await(nothing);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_EQ(s.message(), "nothing to compact");
  EXPECT_TRUE(Await(next).ok());
  std::vector<std::string> expected = {"skip:prepare"};
  for (const std::string& line : Stages("next")) expected.push_back(line);
  EXPECT_EQ(journal.lines(), expected);
  EXPECT_TRUE(scheduler.error().ok());
}

TEST(SchedulerTest, FailingRunSkipsInstall) {
  Journal journal;
  BackgroundScheduler scheduler;
  auto f = scheduler.Schedule(Job("j", &journal, Script().FailRun(Status::Corruption("bad record"))));
  EXPECT_TRUE(Await(f).IsCorruption());
  EXPECT_EQ(journal.lines(), (std::vector<std::string>{"j:prepare", "j:run"}));
  EXPECT_TRUE(scheduler.error().ok());  // only an IOError is sticky
}

TEST(SchedulerTest, IOErrorFromRunIsStickyAndLaterJobsDoNotRun) {
  Journal journal;
  Gate gate;  // outlives the scheduler, whose worker may wait at it
  BackgroundScheduler scheduler;
  auto failing = scheduler.Schedule(
      Job("io", &journal,
          Script().FailRun(Status::IOError("fdatasync packs/00000002.pack: EIO")).WithHook(StopAt("run", &gate))));
  ASSERT_TRUE(gate.WaitArrived());
  // Queued while the failing job runs: must not run after it fails.
  auto queued = scheduler.Schedule(Job("queued", &journal));
  gate.Open();
  Status s = Await(failing);
  EXPECT_EQ(s.code(), Status::Code::kIOError) << s.ToString();
  Status sticky = scheduler.error();
  EXPECT_EQ(sticky.code(), Status::Code::kIOError);
  EXPECT_EQ(sticky.message(), "fdatasync packs/00000002.pack: EIO");

  Status q = Await(queued);
  EXPECT_EQ(q.code(), Status::Code::kIOError) << q.ToString();
  EXPECT_EQ(q.message(), sticky.message());
  // Scheduled after the error: the future yields it at once.
  auto later = scheduler.Schedule(Job("later", &journal));
  ASSERT_TRUE(Ready(later));
  Status l = later.get();
  EXPECT_EQ(l.code(), Status::Code::kIOError);
  EXPECT_EQ(l.message(), sticky.message());
  EXPECT_EQ(journal.lines(), (std::vector<std::string>{"io:prepare", "io:run"}));
  // And it stays.
  EXPECT_EQ(scheduler.error().message(), sticky.message());
}

TEST(SchedulerTest, IOErrorFromInstallIsSticky) {
  Journal journal;
  BackgroundScheduler scheduler;
  auto f = scheduler.Schedule(Job("j", &journal, Script().FailInstall(Status::IOError("sync index: EIO"))));
  EXPECT_EQ(Await(f).code(), Status::Code::kIOError);
  EXPECT_EQ(scheduler.error().message(), "sync index: EIO");
  auto later = scheduler.Schedule(Job("later", &journal));
  EXPECT_EQ(Await(later).message(), "sync index: EIO");
  EXPECT_EQ(journal.lines(), Stages("j"));
}

TEST(SchedulerTest, NoSpaceIsReturnedButNotSticky) {
  Journal journal;
  BackgroundScheduler scheduler;
  auto full =
      scheduler.Schedule(Job("full", &journal, Script().FailRun(Status::NoSpace("write packs/00000003.pack: ENOSPC"))));
  Status s = Await(full);
  EXPECT_EQ(s.code(), Status::Code::kNoSpace) << s.ToString();
  EXPECT_TRUE(scheduler.error().ok()) << scheduler.error().ToString();
  auto next = scheduler.Schedule(Job("next", &journal));
  EXPECT_TRUE(Await(next).ok());
  std::vector<std::string> expected = {"full:prepare", "full:run"};
  for (const std::string& line : Stages("next")) expected.push_back(line);
  EXPECT_EQ(journal.lines(), expected);
}

TEST(SchedulerTest, SetErrorKeepsTheFirstError) {
  Journal journal;
  BackgroundScheduler scheduler;
  scheduler.SetError(Status::Ok());  // not an error: ignored
  EXPECT_TRUE(scheduler.error().ok());
  scheduler.SetError(Status::IOError("first"));
  scheduler.SetError(Status::IOError("second"));
  scheduler.SetError(Status::Corruption("third"));
  EXPECT_EQ(scheduler.error().code(), Status::Code::kIOError);
  EXPECT_EQ(scheduler.error().message(), "first");
  auto f = scheduler.Schedule(Job("j", &journal));
  EXPECT_EQ(Await(f).message(), "first");
  EXPECT_TRUE(journal.lines().empty());

  // A job's own IOError does not replace an error already set either.
  BackgroundScheduler other;
  other.SetError(Status::IOError("store sync"));
  EXPECT_EQ(other.error().message(), "store sync");
  auto g = other.Schedule(Job("k", &journal, Script().FailRun(Status::IOError("job"))));
  EXPECT_EQ(Await(g).message(), "store sync");
  EXPECT_EQ(other.error().message(), "store sync");
}

TEST(SchedulerTest, PauseWaitsForTheRunningJobAndHoldsNewOnesUntilResume) {
  Journal journal;
  Gate gate;  // outlives the scheduler, whose worker may wait at it
  BackgroundScheduler scheduler;
  auto running = scheduler.Schedule(Job("running", &journal, Script().WithHook(StopAt("run", &gate))));
  ASSERT_TRUE(gate.WaitArrived());

  auto paused = std::async(std::launch::async, [&] { scheduler.Pause(); });
  // Pause cannot return while the job is in its Run stage.
  EXPECT_EQ(paused.wait_for(kGlimpse), std::future_status::timeout);
  gate.Open();
  ASSERT_EQ(paused.wait_for(kPatience), std::future_status::ready);
  // When Pause returned, the whole job had run.
  EXPECT_EQ(journal.lines(), Stages("running"));
  EXPECT_TRUE(Await(running).ok());
  EXPECT_EQ(scheduler.current(), "");

  // Paused: a new job waits.
  auto held = scheduler.Schedule(Job("held", &journal));
  EXPECT_FALSE(Ready(held, kGlimpse));
  EXPECT_EQ(journal.lines(), Stages("running"));

  // Pauses nest: one Resume of two is not enough.
  scheduler.Pause();
  scheduler.Resume();
  EXPECT_FALSE(Ready(held, kGlimpse));
  EXPECT_EQ(journal.lines().size(), 3u);

  scheduler.Resume();
  EXPECT_TRUE(Await(held).ok());
  std::vector<std::string> expected = Stages("running");
  for (const std::string& line : Stages("held")) expected.push_back(line);
  EXPECT_EQ(journal.lines(), expected);
}

TEST(SchedulerTest, BackgroundPauseHoldsForItsScope) {
  Journal journal;
  BackgroundScheduler scheduler;
  std::future<Status> held;
  {
    BackgroundPause pause(&scheduler);
    held = scheduler.Schedule(Job("held", &journal));
    EXPECT_FALSE(Ready(held, kGlimpse));
    EXPECT_TRUE(journal.lines().empty());
  }
  EXPECT_TRUE(Await(held).ok());
  EXPECT_EQ(journal.lines(), Stages("held"));
}

TEST(SchedulerTest, StopFailsQueuedJobsWithBusyAndReturns) {
  Journal journal;
  BackgroundScheduler scheduler;
  scheduler.Pause();  // no job runs: two stay queued
  auto a = scheduler.Schedule(Job("a", &journal));
  auto b = scheduler.Schedule(Job("b", &journal));
  auto stopped = std::async(std::launch::async, [&] { scheduler.Stop(); });
  ASSERT_EQ(stopped.wait_for(kPatience), std::future_status::ready) << "Stop did not return while paused";
  for (auto* f : {&a, &b}) {
    ASSERT_TRUE(Ready(*f));
    Status s = f->get();
    EXPECT_EQ(s.code(), Status::Code::kBusy) << s.ToString();
  }
  // After Stop nothing is queued or run.
  auto late = scheduler.Schedule(Job("late", &journal));
  ASSERT_TRUE(Ready(late));
  EXPECT_EQ(late.get().code(), Status::Code::kBusy);
  scheduler.Resume();
  EXPECT_TRUE(journal.lines().empty());
}

TEST(SchedulerTest, StopFinishesTheRunningJobAndFailsTheQueuedOnes) {
  Journal journal;
  Gate gate;  // outlives the scheduler, whose worker may wait at it
  BackgroundScheduler scheduler;
  auto running = scheduler.Schedule(Job("running", &journal, Script().WithHook(StopAt("run", &gate))));
  ASSERT_TRUE(gate.WaitArrived());
  auto queued = scheduler.Schedule(Job("queued", &journal));
  auto stopped = std::async(std::launch::async, [&] { scheduler.Stop(); });
  // Wait until Stop has begun: from then on Schedule answers Busy at once.
  // (A probe scheduled just before that is queued, and fails the same way.)
  std::vector<std::future<Status>> probes;
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  for (;;) {
    probes.push_back(scheduler.Schedule(Job("probe", &journal)));
    if (Ready(probes.back())) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "Stop never took effect";
    std::this_thread::yield();
  }
  // Stop waits for the running job.
  EXPECT_EQ(stopped.wait_for(milliseconds(0)), std::future_status::timeout);
  gate.Open();
  ASSERT_EQ(stopped.wait_for(kPatience), std::future_status::ready);
  EXPECT_TRUE(Await(running).ok());
  Status q = Await(queued);
  EXPECT_EQ(q.code(), Status::Code::kBusy) << q.ToString();
  for (auto& p : probes) EXPECT_EQ(Await(p).code(), Status::Code::kBusy);
  EXPECT_EQ(journal.lines(), Stages("running"));
}

TEST(SchedulerTest, CurrentNamesTheRunningJobsStage) {
  Journal journal;
  std::vector<std::string> seen;  // written by the worker only, read after the future
  Gate gate;
  BackgroundScheduler scheduler;
  auto f = scheduler.Schedule(Job("compact packs", &journal, Script().WithHook([&](const std::string& stage) {
    seen.push_back(scheduler.current());
    if (stage == "run") gate.Arrive();
  })));
  ASSERT_TRUE(gate.WaitArrived());
  // Seen from outside while the job waits in Run.
  EXPECT_EQ(scheduler.current(), "compact packs: run");
  gate.Open();
  EXPECT_TRUE(Await(f).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"compact packs: prepare", "compact packs: run", "compact packs: install"}));
  // Idle again once the job's outcome is out.
  EXPECT_EQ(scheduler.current(), "");
}

TEST(SchedulerTest, DestructorFailsQueuedJobs) {
  Journal journal;
  std::future<Status> queued;
  {
    BackgroundScheduler scheduler;
    scheduler.Pause();
    queued = scheduler.Schedule(Job("queued", &journal));
  }
  ASSERT_TRUE(Ready(queued));
  EXPECT_EQ(queued.get().code(), Status::Code::kBusy);
  EXPECT_TRUE(journal.lines().empty());
}

}  // namespace
}  // namespace ciuicfs

namespace ciuicfs {
namespace {

// A clock that only moves when the throttle sleeps, or when the test says.
struct FakeTime {
  std::chrono::nanoseconds now{0};
  std::chrono::nanoseconds slept{0};
  Throttle Make(uint64_t rate, const bool* busy) {
    return Throttle(
        rate, [busy] { return *busy; }, [this] { return now; },
        [this](std::chrono::nanoseconds d) {
          slept += d;
          now += d;
        });
  }
};

TEST(ThrottleTest, HoldsTheRateWhileBusyAndNeverSleepsWhenIdle) {
  FakeTime t;
  bool busy = true;
  Throttle throttle = t.Make(100 << 20, &busy);  // 100 MiB/s
  for (int i = 0; i < 50; ++i) throttle.Account(1 << 20);
  EXPECT_EQ(t.slept.count(), 500'000'000) << "50 MiB at 100 MiB/s is half a second";
  busy = false;
  const auto before = t.slept;
  for (int i = 0; i < 50; ++i) throttle.Account(1 << 20);
  EXPECT_EQ(t.slept, before) << "no save in progress: full speed";
}

TEST(ThrottleTest, TimeAlreadySpentCountsAndANewBusySpellStartsAfresh) {
  FakeTime t;
  bool busy = true;
  Throttle throttle = t.Make(100 << 20, &busy);
  throttle.Account(10 << 20);  // starts the spell at t=0: 0.1 s due
  EXPECT_EQ(t.slept.count(), 100'000'000);
  t.now += std::chrono::milliseconds(300);  // the job was slow by itself
  throttle.Account(10 << 20);                // 0.2 s due, 0.4 s spent
  EXPECT_EQ(t.slept.count(), 100'000'000);
  busy = false;
  throttle.Account(1);
  busy = true;
  throttle.Account(50 << 20);  // a new spell: 0.5 s due from now
  EXPECT_EQ(t.slept.count(), 600'000'000);
}

TEST(ThrottleTest, ZeroRateIsUnlimited) {
  FakeTime t;
  bool busy = true;
  Throttle throttle = t.Make(0, &busy);
  throttle.Account(1ull << 30);
  EXPECT_EQ(t.slept.count(), 0);
}

}  // namespace
}  // namespace ciuicfs
