#include "store/pack/rados_connection.h"

#include <cerrno>

#include "store/base/log.h"

namespace ciuicfs {

RadosConnection::Client::~Client() {
  io.close();
  if (connected) rados.shutdown();
}

Result<std::shared_ptr<RadosConnection::Client>> RadosConnection::NewClient(const RadosTarget& target) {
  auto c = std::make_shared<Client>();
  const std::string where = target.Uri();
  int r = c->rados.init2(("client." + target.user).c_str(), "ceph", 0);
  if (r < 0) return Status::FromErrno(-r, where + ": cannot set up a RADOS client");
  r = target.ceph_conf.empty() ? c->rados.conf_read_file(nullptr) : c->rados.conf_read_file(target.ceph_conf.c_str());
  if (r < 0)
    return Status::FromErrno(-r, where + ": cannot read the Ceph configuration" +
                                     (target.ceph_conf.empty() ? std::string() : " " + target.ceph_conf));
  c->rados.conf_parse_env(nullptr);
  // A cluster that does not answer is an error in seconds, not a hang.
  c->rados.conf_set("client_mount_timeout", "10");
  c->rados.conf_set("rados_mon_op_timeout", "10");
  c->rados.conf_set("rados_osd_op_timeout", std::to_string(target.op_timeout_s).c_str());
  r = c->rados.connect();
  if (r < 0) return Status::FromErrno(-r, where + ": cannot connect to the Ceph cluster");
  c->connected = true;
  r = c->rados.ioctx_create(target.pool.c_str(), c->io);
  if (r < 0) return Status::FromErrno(-r, where + ": cannot open pool " + target.pool);
  return c;
}

Result<std::shared_ptr<RadosConnection>> RadosConnection::Connect(const RadosTarget& target) {
  auto client = NewClient(target);
  if (!client.ok()) return client.status();
  std::shared_ptr<RadosConnection> conn(new RadosConnection(target));  // only Connect makes one
  conn->client_ = std::move(client.value());
  conn->clients_ = 1;
  return conn;
}

std::shared_ptr<RadosConnection::Client> RadosConnection::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return client_;
}

uint64_t RadosConnection::clients() const {
  std::lock_guard<std::mutex> lock(mu_);
  return clients_;
}

int RadosConnection::Run(const std::function<int(librados::IoCtx&)>& op) {
  std::shared_ptr<Client> c = Current();
  const int r = op(c->io);
  if (r == -ETIMEDOUT) Replace(c);
  return r;
}

void RadosConnection::Replace(const std::shared_ptr<Client>& timed_out) {
  std::lock_guard<std::mutex> one(replace_mu_);
  if (Current() != timed_out) return;  // another thread's timeout replaced it already
  auto fresh = NewClient(target);
  if (!fresh.ok()) {
    // Keep the old one; the next timeout tries again.
    LogLine(target.Uri() + ": an operation timed out, and a fresh RADOS client could not connect: " +
            fresh.status().message());
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  client_ = std::move(fresh.value());  // the old one shuts down when its last operation returns
  ++clients_;
  LogLine(target.Uri() + ": an operation timed out; later ones go through a fresh RADOS client");
}

}  // namespace ciuicfs
