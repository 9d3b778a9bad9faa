// ciuicfs ui [STORE|MNT] [--port P] [--listen ADDR --allow-remote]: the
// chain, the metrics and the bytes of a store as a local web page
// (fs/ui/README.md), in the foreground until SIGINT or SIGTERM.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "fs/cli/common.h"
#if CIUICFS_HAVE_UI
#include "fs/ui/api.h"
#include "fs/ui/server.h"
#include "fs/ui/store_access.h"
#endif

namespace ciuicfs::cli {

#if !CIUICFS_HAVE_UI
// The carried build (CIUICFS_CARRY) leaves the HTTP server out (fs/CMakeLists.txt).
int RunUi(const std::vector<std::string>&) {
  Fail("ui: this ciuicfs was built without the web view (CIUICFS_CARRY); run 'ciuicfs ui' from a full build");
  return kExitUsage;
}
#else
int RunUi(const std::vector<std::string>& args) {
  po::options_description opts("ui options");
  AddStoreOption(&opts);
  opts.add_options()("port", po::value<int>()->default_value(0), "the TCP port (0: a free one, printed)")(
      "listen", po::value<std::string>()->default_value("127.0.0.1"), "the address to listen on (default loopback only)")(
      "allow-remote", po::bool_switch(), "allow a --listen address that is not loopback (anyone reaching it with the token may change the store)");
  po::variables_map vm;
  int code;
  if (!ParseArgs("ui", args, opts, "ciuicfs ui /ckpt   # then open the printed http://127.0.0.1:PORT/?token=... URL",
                 &vm, &code, &StorePositional()))
    return code;
  if (CurrentContext()) {  // sent to a daemon's control socket: it would never answer again
    Fail("ui: runs in the foreground of a terminal, not inside a mount's daemon");
    return kExitUsage;
  }
  ui::ServerOptions options;
  options.port = vm["port"].as<int>();
  options.listen = vm["listen"].as<std::string>();
  options.allow_remote = vm["allow-remote"].as<bool>();
  if (options.port < 0 || options.port > 65535) {
    Fail("ui: --port must be 0..65535");
    return kExitUsage;
  }
  if (!ui::IsLoopback(options.listen) && !options.allow_remote) {
    Fail("ui: refusing to listen on " + options.listen +
         ", which is not a loopback address: anyone who reaches it with the token can change the store "
         "(add --allow-remote to mean it)");
    return kExitUsage;
  }
  // SIGINT and SIGTERM go to one thread that stops the server; blocked
  // before any other thread starts, so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::string error;
  auto access = ui::StoreAccess::Open(vm["store"].as<std::string>(), &error);
  if (!access) {
    Fail(error);
    return kExitFailed;
  }
  ui::Api api(access.get());
  ui::Server server(&api, options);
  if (Status s = server.Bind(); !s.ok()) return FailStatus("ui", s);
  const std::string mounted = access->mountpoint().empty() ? "" : " (mounted at " + access->mountpoint() + ")";
  std::fprintf(Out(), "ciuicfs: ui for %s%s; Ctrl-C stops it. Open:\n    %s\n", access->store_dir().c_str(),
               mounted.c_str(), server.Url().c_str());
  std::fflush(Out());
  std::atomic<bool> finished{false};
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    // Again until it took: a signal just before Serve() started would be lost.
    while (!finished) {
      server.Stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  const bool served = server.Serve();
  finished = true;
  if (!served) kill(getpid(), SIGTERM);  // wakes the stopper
  stopper.join();
  if (!served) {
    Fail("ui: the server stopped listening");
    return kExitFailed;
  }
  std::fprintf(Out(), "ciuicfs: ui stopped\n");
  return kExitOk;
}
#endif

}  // namespace ciuicfs::cli
