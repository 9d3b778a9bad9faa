// Running the real ciuic-train binary (CIUIC_TRAIN_BIN, set per test
// target) from the trainer tests.
#ifndef CIUICFS_TESTS_TRAINER_TRAINER_RUN_H_
#define CIUICFS_TESTS_TRAINER_TRAINER_RUN_H_

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/fs/mount_util.h"

namespace ciuicfs::testing {

struct TrainerRun {
  int code = -1;    // exit status; -1 when it did not exit
  std::string out;  // stdout and stderr together
};

// Runs the trainer with `args` on `threads` CPU threads, to its end.
inline TrainerRun RunTrainerBin(const std::string& args, int threads = 1) {
  std::string cmd = "OMP_NUM_THREADS=" + std::to_string(threads) + " " + CIUIC_TRAIN_BIN + " " + args + " 2>&1";
  TrainerRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Starts the trainer with `args`, reads its output until a line starts with
// `marker`, then sends `sig`. Returns the wait status; -1 if the marker
// never came.
inline int RunTrainerUntilThenSignal(const std::string& args, const std::string& marker, int sig) {
  int out[2];
  if (pipe(out) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    std::string cmd = std::string("OMP_NUM_THREADS=1 exec ") + CIUIC_TRAIN_BIN + " " + args;
    execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
    _exit(127);
  }
  close(out[1]);
  FILE* f = fdopen(out[0], "r");
  char line[512];
  bool sent = false;
  while (std::fgets(line, sizeof(line), f)) {
    if (!sent && std::string(line).rfind(marker, 0) == 0) {
      kill(pid, sig);
      sent = true;
    }
  }
  fclose(f);
  int status = 0;
  waitpid(pid, &status, 0);
  return sent ? status : -1;
}

// A --losses-out file: step -> the loss as a hex float; a later line for a
// step wins.
inline std::map<int, std::string> ReadLosses(const std::string& path) {
  std::map<int, std::string> out;
  std::istringstream in(ReadFile(path));
  int step;
  std::string hex;
  while (in >> step >> hex) out[step] = hex;
  return out;
}

// A checkpoint's trainer_state.json without its "environment" (which names
// the run's own argv): what an honest resume must reproduce exactly.
inline std::string StateWithoutEnvironment(const std::string& path) {
  auto j = nlohmann::ordered_json::parse(ReadFile(path), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "<not a JSON object: " + path + ">";
  j.erase("environment");
  return j.dump(1);
}

}  // namespace ciuicfs::testing

#endif  // CIUICFS_TESTS_TRAINER_TRAINER_RUN_H_
