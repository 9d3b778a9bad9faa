#include "fs/ui/server.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

#include "fs/ui/page_files.h"  // generated from fs/ui/page.* (fs/ui/embed.cmake)

namespace ciuicfs::ui {
namespace {

constexpr size_t kTokenBytes = 24;       // 192 bits
constexpr size_t kReadPiece = 1u << 20;  // a download is read and sent 1 MiB at a time

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or "".
std::string CookieValue(const std::string& header, const std::string& name) {
  size_t start = 0;
  while (start <= header.size()) {
    size_t end = header.find(';', start);
    if (end == std::string::npos) end = header.size();
    std::string pair = Trim(header.substr(start, end - start));
    if (pair.size() > name.size() && pair.compare(0, name.size(), name) == 0 && pair[name.size()] == '=')
      return pair.substr(name.size() + 1);
    start = end + 1;
  }
  return "";
}

// Compares without stopping at the first difference.
bool SameToken(const std::string& given, const std::string& token) {
  if (given.size() != token.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < token.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ token[i]);
  return diff == 0;
}

std::string HostPart(const std::string& address) {
  return address.find(':') != std::string::npos ? "[" + address + "]" : address;
}

// A file name for Content-Disposition: the plain one with anything odd
// replaced, and the exact one percent-encoded (RFC 6266, RFC 5987).
std::string Disposition(const std::string& name) {
  std::string plain, encoded;
  for (unsigned char c : name) {
    plain += (c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '%' || c == ';') ? '_' : char(c);
    if (std::isalnum(c) || std::strchr("-._~", c)) {
      encoded += char(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      encoded += buf;
    }
  }
  return "attachment; filename=\"" + plain + "\"; filename*=UTF-8''" + encoded;
}

void Send(httplib::Response& res, const Reply& r) {
  res.status = r.status;
  res.set_content(r.body, "application/json");
}

}  // namespace

bool IsLoopback(const std::string& address) {
  if (address == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, address.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  return inet_pton(AF_INET6, address.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

struct Server::Http {
  httplib::Server server;
  std::set<std::string> hosts;  // the Host values accepted (loopback only)
  std::string cookie;           // the token's cookie name
};

Server::Server(Api* api, ServerOptions options) : api_(api), options_(std::move(options)), http_(new Http) {}
Server::~Server() = default;

Status Server::Bind() {
  if (!IsLoopback(options_.listen) && !options_.allow_remote)
    return Status::InvalidArgument("refusing to listen on " + options_.listen +
                                   ", which is not a loopback address (add --allow-remote to mean it)");
  std::ifstream random("/dev/urandom", std::ios::binary);
  unsigned char bytes[kTokenBytes];
  if (!random.read(reinterpret_cast<char*>(bytes), sizeof(bytes)))
    return Status::IOError("cannot read /dev/urandom for the token");
  token_.clear();
  for (unsigned char b : bytes) {
    char hex[3];
    std::snprintf(hex, sizeof(hex), "%02x", b);
    token_ += hex;
  }
  httplib::Server& s = http_->server;
  s.set_tcp_nodelay(true);  // without it a keep-alive JSON answer waits for the delayed ACK (40 ms)
  s.set_payload_max_length(1 << 16);
  // httplib's default is SO_REUSEPORT, which lets a second server bind the
  // same port and take part of its connections: only SO_REUSEADDR here, so
  // a port in use is an error.
  s.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  errno = 0;
  if (options_.port == 0) {
    port_ = s.bind_to_any_port(options_.listen);
    if (port_ <= 0) return Status::IOError("cannot listen on " + options_.listen + ": " + std::strerror(errno ? errno : EADDRNOTAVAIL));
  } else {
    if (!s.bind_to_port(options_.listen, options_.port))
      return Status::IOError("cannot listen on " + HostPart(options_.listen) + ":" + std::to_string(options_.port) +
                             ": " + std::strerror(errno ? errno : EADDRINUSE));
    port_ = options_.port;
  }
  const std::string p = ":" + std::to_string(port_);
  http_->hosts = {"127.0.0.1" + p, "localhost" + p, "[::1]" + p, HostPart(options_.listen) + p};
  http_->cookie = "ciuicfs_token_" + std::to_string(port_);  // cookies ignore ports: one name per server
  Route();
  return Status::Ok();
}

std::string Server::Url() const {
  std::string host = options_.listen;
  if (host == "0.0.0.0" || host == "::") {
    char name[256] = {0};
    host = gethostname(name, sizeof(name) - 1) == 0 ? name : "localhost";
  }
  return "http://" + HostPart(host) + ":" + std::to_string(port_) + "/?token=" + token_;
}

bool Server::Serve() { return http_->server.listen_after_bind(); }
void Server::Stop() { http_->server.stop(); }

void Server::Route() {
  httplib::Server& s = http_->server;
  s.set_default_headers({
      {"Cache-Control", "no-store"},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"},
  });
  // Every request passes here before its route (and before its body is
  // read): fs/ui/README.md, "Security".
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    auto refuse = [&](int status, const std::string& why) {
      Send(res, ErrorReply(status, why));
      return httplib::Server::HandlerResponse::Handled;
    };
    const std::string host = req.get_header_value("Host");
    if (!options_.allow_remote && !http_->hosts.count(host))
      return refuse(403, "Host '" + host + "' is not this server's address");
    const std::string from_query = req.get_param_value("token");
    std::string given = from_query;
    if (given.empty()) given = req.get_header_value("X-Ciuicfs-Token");
    if (given.empty()) given = CookieValue(req.get_header_value("Cookie"), http_->cookie);
    if (!SameToken(given, token_)) return refuse(403, "missing or wrong token (open the URL ciuicfs ui printed)");
    const bool has_origin = req.has_header("Origin");
    if (has_origin && req.get_header_value("Origin") != "http://" + host)
      return refuse(403, "cross-origin request refused (Origin " + req.get_header_value("Origin") + ")");
    if (req.method == "POST") {
      if (!has_origin) return refuse(403, "a change needs the page's own Origin header");
      const std::string type = req.get_header_value("Content-Type");
      if (Lower(Trim(type.substr(0, type.find(';')))) != "application/json")
        return refuse(415, "a change must be sent as application/json");
    } else if (req.method != "GET" && req.method != "HEAD") {
      return refuse(405, "method " + req.method + " is not served");
    }
    if (!from_query.empty())  // the first load: later requests carry the cookie
      res.set_header("Set-Cookie", http_->cookie + "=" + token_ + "; Path=/; HttpOnly; SameSite=Strict");
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.body.empty()) Send(res, ErrorReply(res.status, res.status == 404 ? "no such route: " + req.path : "bad request"));
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr e) {
    std::string what = "internal error";
    try {
      if (e) std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what += std::string(": ") + ex.what();
    } catch (...) {
    }
    Send(res, ErrorReply(500, what));
  });

  auto page = [&s](const char* path, std::string_view body, const char* type) {
    s.Get(path, [body, type](const httplib::Request&, httplib::Response& res) {
      res.set_content(body.data(), body.size(), type);
    });
  };
  page("/", page::kPageHtml, "text/html; charset=utf-8");
  page("/page.js", page::kPageJs, "text/javascript; charset=utf-8");
  page("/page.css", page::kPageCss, "text/css; charset=utf-8");

  auto get = [&s](const char* path, std::function<Reply(const httplib::Request&)> fn) {
    s.Get(path, [fn](const httplib::Request& req, httplib::Response& res) { Send(res, fn(req)); });
  };
  get("/api/log", [this](const httplib::Request&) { return api_->Log(); });
  get("/api/stats", [this](const httplib::Request&) { return api_->Stats(); });
  get("/api/show", [this](const httplib::Request& r) { return api_->Show(r.get_param_value("ref")); });
  get("/api/diff", [this](const httplib::Request& r) {
    return api_->Diff(r.get_param_value("a"), r.get_param_value("b"), r.get_param_value("path"));
  });
  s.Get("/api/file", [this](const httplib::Request& req, httplib::Response& res) {
    auto d = std::make_shared<FileDownload>(api_->File(req.get_param_value("ref"), req.get_param_value("path")));
    if (d->error.status != 200) return Send(res, d->error);
    res.set_header("Content-Disposition", Disposition(d->name));
    if (d->size == 0) return res.set_content("", "application/octet-stream");
    auto buf = std::make_shared<std::string>();
    // The store stays open (d->view) until the last piece is sent.
    res.set_content_provider(d->size, "application/octet-stream",
                             [d, buf](size_t offset, size_t length, httplib::DataSink& sink) {
                               buf->resize(std::min(length, kReadPiece));
                               auto n = d->reader->Read(offset, buf->size(), buf->data());
                               if (!n.ok() || *n == 0) {
                                 // Cut short, never wrong bytes: the client sees a short body.
                                 std::fprintf(stderr, "ciuicfs: ui: reading %s: %s\n", d->name.c_str(),
                                              n.ok() ? "the version ended early" : n.status().message().c_str());
                                 return false;
                               }
                               return sink.write(buf->data(), *n);
                             });
  });
  auto post = [&s](const char* path, std::function<Reply(const std::string&)> fn) {
    s.Post(path, [fn](const httplib::Request& req, httplib::Response& res) { Send(res, fn(req.body)); });
  };
  post("/api/tag", [this](const std::string& body) { return api_->Tag(body); });
  post("/api/rollback", [this](const std::string& body) { return api_->Rollback(body); });
  post("/api/prune", [this](const std::string& body) { return api_->Prune(body); });
}

}  // namespace ciuicfs::ui
