// The HTTP side of `ciuicfs ui` (cpp-httplib, Debian's libcpp-httplib-dev):
// binds to a loopback address unless told otherwise, checks every request
// (token, Host, Origin; for a change also the JSON content type: fs/ui/
// README.md, "Security") before any route runs, and serves the page
// (embedded at build time from fs/ui/page.*) and the API (api.h).
#ifndef CIUICFS_FS_UI_SERVER_H_
#define CIUICFS_FS_UI_SERVER_H_

#include <memory>
#include <string>

#include "fs/ui/api.h"
#include "store/base/status.h"

namespace ciuicfs::ui {

struct ServerOptions {
  std::string listen = "127.0.0.1";
  int port = 0;               // 0: a free port
  bool allow_remote = false;  // a non-loopback `listen` is refused without it
};

// 127.0.0.0/8, ::1 or "localhost".
bool IsLoopback(const std::string& address);

class Server {
 public:
  Server(Api* api, ServerOptions options);
  ~Server();

  // Makes the token (192 bits from /dev/urandom) and binds. InvalidArgument
  // for an address it may not use, IOError when binding fails.
  Status Bind();
  int port() const { return port_; }
  const std::string& token() const { return token_; }
  // http://HOST:PORT/?token=TOKEN, what the user opens.
  std::string Url() const;
  // Serves until Stop() (from any thread); false when listening failed.
  bool Serve();
  void Stop();

 private:
  struct Http;
  void Route();

  Api* const api_;
  const ServerOptions options_;
  std::unique_ptr<Http> http_;
  int port_ = 0;
  std::string token_;
};

}  // namespace ciuicfs::ui

#endif  // CIUICFS_FS_UI_SERVER_H_
