// What the tests of `ciuicfs ui` share (tests/ui/): the ui as a child
// process, a store filled through a real mount with Hugging Face shaped
// checkpoints, the commands' own answers to compare with, and an HTTP
// client (httplib's) that sends exactly the headers a test says.
#ifndef CIUICFS_TESTS_UI_UI_FIXTURE_H_
#define CIUICFS_TESTS_UI_UI_FIXTURE_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/fs/mount_fixture.h"

namespace ciuicfs::testing {

using json = nlohmann::json;

// One `ciuicfs ui ARGS` process: started, its URL read from its stdout.
class UiProcess {
 public:
  ~UiProcess() { Stop(); }
  bool Start(const std::string& args, const std::string& log) {
    int fds[2];
    if (pipe(fds) != 0) return false;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      close(fds[1]);
      const std::string cmd = std::string("exec ") + CIUICFS_BIN + " ui " + args + " 2>>'" + log + "'";
      execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
      _exit(127);
    }
    close(fds[1]);
    out_fd_ = fds[0];
    for (int waited = 0; waited < 20000 && ReadSome(100); waited += 100) {
      size_t at = printed_.find("http://");
      size_t end = at == std::string::npos ? at : printed_.find('\n', at);
      if (end == std::string::npos) continue;
      url = printed_.substr(at, end - at);
      size_t colon = url.find(':', 7), slash = url.find('/', 7);
      port = std::stoi(url.substr(colon + 1, slash - colon - 1));
      token = url.substr(url.find("token=") + 6);
      return true;
    }
    return false;
  }
  // SIGTERM; the exit status (-1: not running).
  int Stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    while (ReadSome(0)) {
    }
    close(out_fd_);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  const std::string& printed() const { return printed_; }
  std::string url, token;
  int port = 0;

 private:
  bool ReadSome(int ms) {
    pollfd p{out_fd_, POLLIN, 0};
    if (poll(&p, 1, ms) < 0) return false;
    if (!(p.revents & (POLLIN | POLLHUP))) return ms > 0;  // nothing yet: keep waiting
    char buf[4096];
    ssize_t n = read(out_fd_, buf, sizeof(buf));
    if (n <= 0) return false;
    printed_.append(buf, size_t(n));
    return true;
  }
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string printed_;
};

class UiTest : public MountedTest {
 protected:
  // checkpoint-STEP/ as the HF Trainer writes it: the weights, a frozen
  // part that every checkpoint shares (deduplicated), and trainer_state.json
  // with a loss every 10 steps and an eval_loss at each save.
  void SaveCheckpoint(int step) {
    const std::string dir = "checkpoint-" + std::to_string(step);
    ASSERT_EQ(mkdir(M(dir).c_str(), 0755), 0);
    weights_[step] = RandomBytes(step, 300000);
    ASSERT_TRUE(WriteFile(M(dir + "/model.safetensors"), weights_[step]));
    ASSERT_TRUE(WriteFile(M(dir + "/frozen.bin"), RandomBytes(7, 200000)));
    std::string history;
    for (int s = 10; s <= step; s += 10) {
      char item[200];
      std::snprintf(item, sizeof(item), "%s{\"epoch\": %.2f, \"learning_rate\": 5e-05, \"loss\": %.4f, \"step\": %d}",
                    history.empty() ? "" : ", ", s / 100.0, 3.0 - s / 1000.0, s);
      history += item;
      // Lowest on main at 200; 250 (only on the branch) lower still.
      static const std::map<int, double> eval = {{50, 2.6}, {100, 2.5}, {150, 2.3}, {200, 2.1}, {250, 1.9}, {300, 2.3}};
      if (eval.count(s)) {
        std::snprintf(item, sizeof(item), ", {\"epoch\": %.2f, \"eval_loss\": %.4f, \"step\": %d}", s / 100.0,
                      eval.at(s), s);
        history += item;
      }
    }
    ASSERT_TRUE(WriteFile(M(dir + "/trainer_state.json"), "{\"global_step\": " + std::to_string(step) +
                                                              ", \"log_history\": [" + history + "]}\n"));
  }
  CommandResult Cli(const std::string& args) { return RunCiuicfs(args, dir_.path()); }
  // main: steps 100..300; a branch `exp` forked at step 200 with step 250;
  // main rolled back to step 200 (a rollback edge); every byte ingested and
  // re-encoded, so `stats` stays put while the page is read.
  void Fill() {
    for (int step : {100, 200, 300}) ASSERT_NO_FATAL_FAILURE(SaveCheckpoint(step));
    ASSERT_EQ(Cli("branch exp step-200 --store '" + M("") + "'").code, 0);
    CommandResult sw = Cli("switch exp '" + M("") + "'");
    ASSERT_EQ(sw.code, 0) << sw.err;
    ASSERT_NO_FATAL_FAILURE(SaveCheckpoint(250));
    ASSERT_EQ(Cli("switch main '" + M("") + "'").code, 0);
    CommandResult rb = Cli("rollback step-200 '" + M("") + "'");
    ASSERT_EQ(rb.code, 0) << rb.err;
    ASSERT_TRUE(WaitForIngest(M(""), dir_.path()));
    CommandResult compact = Cli("compact '" + M("") + "' --wait");
    ASSERT_EQ(compact.code, 0) << compact.err;
  }
  // `log --all --json`, one object per snapshot, by sequence.
  std::map<uint64_t, json> Log() {
    CommandResult log = Cli("log --all --json '" + M("") + "'");
    EXPECT_EQ(log.code, 0) << log.err;
    std::map<uint64_t, json> by_seq;
    std::istringstream lines(log.out);
    for (std::string line; std::getline(lines, line);) {
      json j = json::parse(line);
      by_seq[j["seq"].get<uint64_t>()] = j;
    }
    return by_seq;
  }
  json CliJson(const std::string& args) {
    CommandResult r = Cli(args);
    EXPECT_EQ(r.code, 0) << args << ": " << r.err;
    return json::parse(r.out, nullptr, false);
  }
  // browser.py against `url` with `args` (its options), screenshots and
  // downloads into `out`: what it printed, as JSON (discarded: it printed
  // none), and false where it failed (its stderr in `err`).
  bool Browse(const std::string& url, const std::string& out, const std::string& args, json* page,
              std::string* err) {
    const std::string cmd = std::string("/usr/bin/python3 ") + CIUICFS_SOURCE_DIR + "/tests/ui/browser.py '" + url +
                            "' '" + out + "' " + args + " 2>'" + out + ".err'";
    std::string printed;
    int status = -1;
    if (FILE* p = popen(cmd.c_str(), "r")) {
      char buf[4096];
      for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) printed.append(buf, n);
      status = pclose(p);
    }
    *page = json::parse(printed, nullptr, false);
    *err = printed + ReadFile(out + ".err");
    return status == 0 && page->is_object();
  }
  bool StartUi(UiProcess* ui, const std::string& args) {
    return ui->Start(args, dir_.Sub("ui.log"));
  }
  std::map<int, std::string> weights_;
};

inline bool IsOneJsonErrorLine(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  return body.find('\n') == std::string::npos && j.is_object() && j.contains("error") && j["error"].is_string() &&
         !j["error"].get<std::string>().empty();
}

// A client of the ui at `port` whose requests carry `headers` (and
// whatever httplib adds: Host 127.0.0.1:PORT).
struct Client {
  Client(int port, httplib::Headers h = {}) : http("127.0.0.1", port), headers(std::move(h)) {}
  httplib::Result Get(const std::string& path, httplib::Headers more = {}) {
    more.insert(headers.begin(), headers.end());
    return http.Get(path, more);
  }
  httplib::Result Post(const std::string& path, const std::string& body, const std::string& type,
                       httplib::Headers more = {}) {
    more.insert(headers.begin(), headers.end());
    return http.Post(path, more, body, type);
  }
  httplib::Client http;
  httplib::Headers headers;
};

}  // namespace ciuicfs::testing

#endif  // CIUICFS_TESTS_UI_UI_FIXTURE_H_
