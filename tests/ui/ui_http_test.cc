// ciuicfs ui over HTTP (fs/ui/README.md, "Security" and "Routes"): every
// request without the token, from another origin or host, or a change that
// is not same-origin JSON is refused; bad REFs and paths are 4xx with one
// JSON line and leave the store as it was; the API answers what the
// commands print and streams files as saved; changes run in the mount's
// daemon or, unmounted, on the store directory; an address that is not
// loopback needs --allow-remote.
#include "tests/ui/ui_fixture.h"

namespace ciuicfs::testing {
namespace {

TEST_F(UiTest, EveryRequestNeedsTheTokenAndItsOwnHostAndOrigin) {
  ASSERT_NO_FATAL_FAILURE(SaveCheckpoint(100));
  UiProcess ui;
  ASSERT_TRUE(StartUi(&ui, "--store '" + M("") + "' --port 0")) << ReadFile(dir_.Sub("ui.log"));
  Client none(ui.port);
  for (const char* path : {"/", "/page.js", "/page.css", "/api/log", "/api/stats", "/api/show?ref=latest",
                           "/api/file?ref=latest&path=checkpoint-100/model.safetensors", "/nowhere"}) {
    auto r = none.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 403) << path;
    EXPECT_TRUE(IsOneJsonErrorLine(r->body)) << path << ": " << r->body;
    EXPECT_EQ(r->body.find("model"), std::string::npos);
    auto wrong = none.Get(std::string(path) + (std::string(path).find('?') == std::string::npos ? "?" : "&") +
                          "token=" + std::string(ui.token.size(), '0'));
    EXPECT_EQ(wrong->status, 403) << path;
  }
  EXPECT_EQ(none.Get("/api/log", {{"X-Ciuicfs-Token", ui.token.substr(1)}})->status, 403);
  EXPECT_EQ(none.Post("/api/tag", "{\"name\":\"x\",\"ref\":\"latest\"}", "application/json",
                      {{"Origin", "http://127.0.0.1:" + std::to_string(ui.port)}})->status, 403);

  // The token in the query: the page, and the cookie for what follows.
  auto page = none.Get("/?token=" + ui.token);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<script src=\"page.js\""), std::string::npos);
  const std::string cookie = page->get_header_value("Set-Cookie");
  EXPECT_EQ(cookie, "ciuicfs_token_" + std::to_string(ui.port) + "=" + ui.token + "; Path=/; HttpOnly; SameSite=Strict");
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(page->get_header_value("X-Frame-Options"), "DENY");
  const std::string jar = "other=1; ciuicfs_token_" + std::to_string(ui.port) + "=" + ui.token;
  EXPECT_EQ(none.Get("/page.js", {{"Cookie", jar}})->status, 200);
  EXPECT_EQ(none.Get("/api/log", {{"Cookie", "ciuicfs_token_1=" + ui.token}})->status, 403);  // another port's name
  EXPECT_EQ(none.Get("/api/log", {{"X-Ciuicfs-Token", ui.token}})->status, 200);

  // With the token: another origin, another host name (DNS rebinding), a
  // method that is not served.
  Client ok(ui.port, {{"X-Ciuicfs-Token", ui.token}});
  EXPECT_EQ(ok.Get("/api/log", {{"Origin", "http://evil.example"}})->status, 403);
  EXPECT_EQ(ok.Get("/api/log", {{"Origin", "null"}})->status, 403);
  EXPECT_EQ(ok.Get("/api/log", {{"Origin", "http://127.0.0.1:" + std::to_string(ui.port + 1)}})->status, 403);
  EXPECT_EQ(ok.Get("/api/log", {{"Origin", "http://127.0.0.1:" + std::to_string(ui.port)}})->status, 200);
  EXPECT_EQ(ok.Get("/api/log", {{"Origin", "http://localhost:" + std::to_string(ui.port)},
                                {"Host", "localhost:" + std::to_string(ui.port)}})->status, 200);
  auto rebound = ok.Get("/api/log", {{"Host", "evil.example:" + std::to_string(ui.port)}});
  EXPECT_EQ(rebound->status, 403);
  EXPECT_TRUE(IsOneJsonErrorLine(rebound->body)) << rebound->body;
  EXPECT_EQ(ok.http.Delete("/api/tag", ok.headers)->status, 405);
  EXPECT_EQ(ok.http.Put("/api/tag", ok.headers, "{}", "application/json")->status, 405);
  EXPECT_EQ(ok.Get("/nowhere")->status, 404);
  EXPECT_EQ(ui.Stop(), 0);
}

TEST_F(UiTest, BadChangesAndBadInputAre4xxOfOneJsonLineAndChangeNothing) {
  for (int step : {100, 200}) ASSERT_NO_FATAL_FAILURE(SaveCheckpoint(step));
  UiProcess ui;
  ASSERT_TRUE(StartUi(&ui, "'" + M("") + "'")) << ReadFile(dir_.Sub("ui.log"));
  const std::string origin = "http://127.0.0.1:" + std::to_string(ui.port);
  const std::string log_before = Cli("log --all --json '" + M("") + "'").out;
  const std::string tags_before = Cli("tag --json --store '" + M("") + "'").out;
  Client ok(ui.port, {{"X-Ciuicfs-Token", ui.token}});
  Client page(ui.port, {{"X-Ciuicfs-Token", ui.token}, {"Origin", origin}});
  const std::string good = "{\"name\":\"keep\",\"ref\":\"latest\"}";
  struct Case {
    const char* what;
    httplib::Result r;
    int status;
  };
  std::vector<Case> cases;
  cases.push_back({"no Origin", ok.Post("/api/tag", good, "application/json"), 403});
  cases.push_back({"another Origin", ok.Post("/api/tag", good, "application/json", {{"Origin", "http://evil.example"}}), 403});
  cases.push_back({"text/plain", page.Post("/api/tag", good, "text/plain"), 415});
  cases.push_back({"a form", page.Post("/api/tag", "name=keep&ref=latest", "application/x-www-form-urlencoded"), 415});
  cases.push_back({"a multipart form", page.Post("/api/rollback", "--x--", "multipart/form-data; boundary=x"), 415});
  cases.push_back({"no JSON", page.Post("/api/tag", "{name", "application/json"), 400});
  cases.push_back({"an array", page.Post("/api/tag", "[]", "application/json"), 400});
  cases.push_back({"an unknown field", page.Post("/api/tag", "{\"name\":\"a\",\"ref\":\"latest\",\"x\":1}", "application/json"), 400});
  cases.push_back({"a tag of a bad REF", page.Post("/api/tag", "{\"name\":\"a\",\"ref\":\"step-999\"}", "application/json"), 404});
  cases.push_back({"a tag of no hex", page.Post("/api/tag", "{\"name\":\"a\",\"ref\":\"zzzzzzzzzz\"}", "application/json"), 404});
  cases.push_back({"a tag named like an option", page.Post("/api/tag", "{\"name\":\"--delete\",\"ref\":\"latest\"}", "application/json"), 400});
  cases.push_back({"a tag name the store refuses", page.Post("/api/tag", "{\"name\":\"a/b\",\"ref\":\"latest\"}", "application/json"), 400});
  cases.push_back({"deleting a missing tag", page.Post("/api/tag", "{\"delete\":\"nope\"}", "application/json"), 404});
  cases.push_back({"a rollback to a bad REF", page.Post("/api/rollback", "{\"ref\":\"latest~99\"}", "application/json"), 404});
  cases.push_back({"a rollback to a REF option", page.Post("/api/rollback", "{\"ref\":\"--help\"}", "application/json"), 400});
  cases.push_back({"a rollback without REF", page.Post("/api/rollback", "{}", "application/json"), 400});
  cases.push_back({"a prune keeping nothing said", page.Post("/api/prune", "{\"dry_run\":false}", "application/json"), 400});
  cases.push_back({"a prune keeping -1", page.Post("/api/prune", "{\"keep_last\":-1}", "application/json"), 400});
  cases.push_back({"a prune keeping \"1\"", page.Post("/api/prune", "{\"keep_last\":\"1\"}", "application/json"), 400});
  cases.push_back({"a prune every 0 steps", page.Post("/api/prune", "{\"keep_every_steps\":0}", "application/json"), 400});
  cases.push_back({"show of a bad REF", ok.Get("/api/show?ref=step-12345"), 404});
  cases.push_back({"show without REF", ok.Get("/api/show"), 400});
  cases.push_back({"show of an option", ok.Get("/api/show?ref=--help"), 400});
  cases.push_back({"show of a metric none has", ok.Get("/api/show?ref=best-bleu"), 404});
  cases.push_back({"diff with a bad REF", ok.Get("/api/diff?a=latest&b=nope"), 404});
  cases.push_back({"diff of an option path", ok.Get("/api/diff?a=latest&b=latest~1&path=--json"), 400});
  cases.push_back({"a file up the tree", ok.Get("/api/file?ref=latest&path=../../../../etc/passwd"), 404});
  cases.push_back({"an absolute file", ok.Get("/api/file?ref=latest&path=/etc/passwd"), 404});
  cases.push_back({"a dotted file", ok.Get("/api/file?ref=latest&path=checkpoint-100/../../store/CIUICFS-STORE"), 404});
  cases.push_back({"a directory", ok.Get("/api/file?ref=latest&path=checkpoint-100"), 400});
  cases.push_back({"no path", ok.Get("/api/file?ref=latest"), 400});
  cases.push_back({"a file of a bad REF", ok.Get("/api/file?ref=nope&path=checkpoint-100/model.safetensors"), 404});
  for (Case& c : cases) {
    ASSERT_TRUE(c.r) << c.what;
    EXPECT_EQ(c.r->status, c.status) << c.what << ": " << c.r->body;
    EXPECT_TRUE(IsOneJsonErrorLine(c.r->body)) << c.what << ": " << c.r->body;
  }
  EXPECT_EQ(Cli("log --all --json '" + M("") + "'").out, log_before);
  EXPECT_EQ(Cli("tag --json --store '" + M("") + "'").out, tags_before);
  // And the same request, right, does change it: the checks above were what refused.
  auto made = page.Post("/api/tag", good, "application/json; charset=utf-8");
  ASSERT_TRUE(made);
  EXPECT_EQ(made->status, 200) << made->body;
  EXPECT_NE(Cli("tag --json --store '" + M("") + "'").out, tags_before);
  EXPECT_EQ(ui.Stop(), 0);
}

TEST_F(UiTest, TheApiAnswersAsTheCommandsAndStreamsFilesAsSaved) {
  for (int step : {100, 200}) ASSERT_NO_FATAL_FAILURE(SaveCheckpoint(step));
  const std::string big = RandomBytes(99, 5 << 20);  // several chunks and read pieces
  ASSERT_TRUE(WriteFile(M("checkpoint-200/optimizer \"v2\".pt"), big));
  ASSERT_TRUE(WaitForIngest(M(""), dir_.path()));
  UiProcess ui;
  ASSERT_TRUE(StartUi(&ui, "'" + M("") + "'")) << ReadFile(dir_.Sub("ui.log"));
  Client ok(ui.port, {{"X-Ciuicfs-Token", ui.token}});

  auto log = ok.Get("/api/log");
  ASSERT_EQ(log->status, 200) << log->body;
  const json j = json::parse(log->body);
  const std::map<uint64_t, json> want = Log();
  ASSERT_EQ(j["snapshots"].size(), want.size());
  for (const json& snap : j["snapshots"]) {
    json trimmed = snap;
    for (const char* added : {"bytes_in_files", "saved_bytes", "new_bytes", "ingest_pending", "heads"}) trimmed.erase(added);
    EXPECT_EQ(trimmed, want.at(snap["seq"].get<uint64_t>()));
  }
  EXPECT_EQ(j["branch"], "main");
  EXPECT_EQ(j["mountpoint"], mount_->path());
  EXPECT_EQ(j["stats"]["snapshots"], want.size());
  EXPECT_EQ(j["snapshots"].back()["heads"], json::parse("[\"main\"]"));
  // Ingested: the new bytes after dedup are the chunks', each once.
  uint64_t fresh = 0;
  for (const json& snap : j["snapshots"]) {
    EXPECT_EQ(snap["ingest_pending"], false);
    fresh += snap["new_bytes"].get<uint64_t>();
  }
  EXPECT_EQ(fresh, j["stats"]["unique_bytes"].get<uint64_t>());

  auto show = ok.Get("/api/show?ref=best-eval_loss");
  ASSERT_EQ(show->status, 200);
  EXPECT_EQ(json::parse(show->body), CliJson("show best-eval_loss '" + M("") + "' --json"));
  auto diff = ok.Get("/api/diff?a=step-100&b=latest&path=checkpoint-200");
  ASSERT_EQ(diff->status, 200);
  EXPECT_EQ(json::parse(diff->body), CliJson("diff step-100 latest checkpoint-200 --json --store '" + M("") + "'"));
  auto stats = ok.Get("/api/stats");
  ASSERT_EQ(stats->status, 200);
  EXPECT_EQ(json::parse(stats->body)["raw_bytes"], CliJson("stats --json '" + M("") + "'")["raw_bytes"]);

  auto file = ok.Get("/api/file?ref=latest&path=checkpoint-200/optimizer%20%22v2%22.pt");
  ASSERT_TRUE(file);
  ASSERT_EQ(file->status, 200) << file->body;
  EXPECT_EQ(Diff(file->body, big), "same");
  EXPECT_EQ(file->get_header_value("Content-Type"), "application/octet-stream");
  // (httplib's client percent-decodes header values: the server sent
  // filename*=UTF-8''optimizer%20%22v2%22.pt.)
  EXPECT_EQ(file->get_header_value("Content-Disposition"),
            "attachment; filename=\"optimizer _v2_.pt\"; filename*=UTF-8''optimizer \"v2\".pt");
  auto range = ok.Get("/api/file?ref=latest&path=checkpoint-200/optimizer%20%22v2%22.pt", {{"Range", "bytes=3000000-3000099"}});
  ASSERT_EQ(range->status, 206);
  EXPECT_EQ(range->body, big.substr(3000000, 100));
  auto old = ok.Get("/api/file?ref=step-100&path=checkpoint-100/model.safetensors");
  ASSERT_EQ(old->status, 200);
  EXPECT_EQ(Diff(old->body, weights_[100]), "same");
  // A file of step 100's snapshot that only came later: not there.
  EXPECT_EQ(ok.Get("/api/file?ref=step-100&path=checkpoint-200/model.safetensors")->status, 404);
  EXPECT_EQ(ui.Stop(), 0);
}

TEST_F(UiTest, ChangesRunInTheMountsDaemonAndOnAStoreNotMounted) {
  for (int step : {100, 200, 300}) ASSERT_NO_FATAL_FAILURE(SaveCheckpoint(step));
  {
    UiProcess ui;
    ASSERT_TRUE(StartUi(&ui, "'" + M("") + "'")) << ReadFile(dir_.Sub("ui.log"));
    Client page(ui.port, {{"X-Ciuicfs-Token", ui.token}, {"Origin", "http://127.0.0.1:" + std::to_string(ui.port)}});
    auto tag = page.Post("/api/tag", "{\"name\":\"best\",\"ref\":\"best-eval_loss\"}", "application/json");
    ASSERT_EQ(tag->status, 200) << tag->body;
    const json best = CliJson("show best-eval_loss '" + M("") + "' --json");
    EXPECT_EQ(json::parse(tag->body)["result"]["tagged"]["seq"], best["seq"]);
    EXPECT_EQ(CliJson("tag --json --store '" + M("") + "'")["tags"][0]["seq"], best["seq"]);

    const size_t before = Log().size();
    auto dry = page.Post("/api/prune", "{\"keep_last\":2,\"dry_run\":true}", "application/json");
    ASSERT_EQ(dry->status, 200) << dry->body;
    const json would = json::parse(dry->body)["result"];
    EXPECT_EQ(would["dry_run"], true);
    EXPECT_EQ(would["snapshots"], before);
    EXPECT_EQ(would["kept"], 3u);  // the two newest and the tagged one
    EXPECT_EQ(Log().size(), before);

    // The rollback runs in the daemon: the live tree follows it.
    auto rb = page.Post("/api/rollback", "{\"ref\":\"best\"}", "application/json");
    ASSERT_EQ(rb->status, 200) << rb->body;
    EXPECT_NE(json::parse(rb->body)["result"]["message"].get<std::string>().find("rolled back to snapshot"),
              std::string::npos);
    EXPECT_FALSE(PathExists(M("checkpoint-300")));
    EXPECT_EQ(Diff(ReadFile(M("checkpoint-200/model.safetensors")), weights_[200]), "same");
    EXPECT_EQ(Log().size(), before + 1);
    // What the page reads next shows it at once.
    auto log = page.Get("/api/log");
    EXPECT_EQ(json::parse(log->body)["snapshots"].size(), before + 1);

    auto pruned = page.Post("/api/prune", "{\"keep_last\":1}", "application/json");
    ASSERT_EQ(pruned->status, 200) << pruned->body;
    EXPECT_EQ(json::parse(pruned->body)["result"]["kept"], 2u);
    EXPECT_EQ(Log().size(), 2u);
    EXPECT_EQ(ui.Stop(), 0);
  }
  mount_->Unmount();
  // The store directory, nothing mounted: each change opens it for itself.
  UiProcess ui;
  ASSERT_TRUE(StartUi(&ui, "'" + dir_.Sub("store") + "'")) << ReadFile(dir_.Sub("ui.log"));
  EXPECT_EQ(ui.printed().find("mounted at"), std::string::npos) << ui.printed();
  Client page(ui.port, {{"X-Ciuicfs-Token", ui.token}, {"Origin", "http://127.0.0.1:" + std::to_string(ui.port)}});
  auto del = page.Post("/api/tag", "{\"delete\":\"best\"}", "application/json");
  ASSERT_EQ(del->status, 200) << del->body;
  auto tag = page.Post("/api/tag", "{\"name\":\"later\",\"ref\":\"latest\"}", "application/json");
  ASSERT_EQ(tag->status, 200) << tag->body;
  auto log = page.Get("/api/log");
  ASSERT_EQ(log->status, 200);
  EXPECT_EQ(json::parse(log->body)["snapshots"].back()["tags"], "later");
  EXPECT_EQ(ui.Stop(), 0);
  CommandResult tags = Cli("tag --json '--store=" + dir_.Sub("store") + "'");
  EXPECT_EQ(json::parse(tags.out)["tags"], json::parse("[{\"name\":\"later\",\"seq\":" +
                                                        json::parse(log->body)["snapshots"].back()["seq"].dump() + "}]"));
  // And a mount can start again: the ui held no lock.
  ASSERT_TRUE(mount_->Start());
}

TEST_F(UiTest, AnAddressThatIsNotLoopbackNeedsAllowRemote) {
  ASSERT_NO_FATAL_FAILURE(SaveCheckpoint(100));
  for (const char* address : {"0.0.0.0", "::", "192.0.2.1", "example.com"}) {
    CommandResult r = Cli("ui '" + M("") + "' --listen " + address);
    EXPECT_EQ(r.code, 2) << address << ": " << r.out << r.err;
    EXPECT_EQ(CountLines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("--allow-remote"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
  EXPECT_EQ(Cli("ui '" + M("") + "' --port 70000").code, 2);
  EXPECT_EQ(Cli("ui " + dir_.Sub("nothing-here")).code, 1);
  // A fixed loopback port, and any address when asked for.
  UiProcess fixed;
  ASSERT_TRUE(StartUi(&fixed, "'" + M("") + "' --listen 127.0.0.1"));
  CommandResult busy = Cli("ui '" + M("") + "' --port " + std::to_string(fixed.port));
  EXPECT_EQ(busy.code, 1) << busy.err;
  EXPECT_EQ(CountLines(busy.err), 1) << busy.err;
  EXPECT_EQ(fixed.Stop(), 0);
  UiProcess remote;
  ASSERT_TRUE(StartUi(&remote, "'" + M("") + "' --listen 0.0.0.0 --allow-remote")) << ReadFile(dir_.Sub("ui.log"));
  Client ok(remote.port, {{"X-Ciuicfs-Token", remote.token}});
  EXPECT_EQ(ok.Get("/api/stats")->status, 200);
  EXPECT_EQ(Client(remote.port).Get("/api/stats")->status, 403);  // the token still counts
  EXPECT_EQ(remote.Stop(), 0);
}

}  // namespace
}  // namespace ciuicfs::testing
