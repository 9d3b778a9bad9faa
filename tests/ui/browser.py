#!/usr/bin/python3
"""Drives Debian's chromium, headless, through the page of `ciuicfs ui`.

The DevTools protocol runs over --remote-debugging-pipe (JSON messages ended
by a NUL on fds 3 and 4), so nothing but chromium and Python's standard
library is needed. Clicks are real mouse events at the element's place on
the rendered page.

  browser.py URL OUTDIR [--select SEQ --file PATH] [--tag NAME] [--diff ID_A ID_B]
             [--screenshot-copy FILE]

Prints one JSON object: what the page shows (graph nodes and edges, metric
points, totals, the table's bytes), and what the steps did (the downloaded
file's path, the tag's status line, the diff's rows). Screenshots go to
OUTDIR/page.png and OUTDIR/snapshot.png. Exit 1 with a line on stderr when
a step fails.
"""
import argparse
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import time

TIMEOUT = 30.0


class Browser:
    def __init__(self, outdir):
        exe = shutil.which("chromium")
        if not exe:
            raise SystemExit("chromium is not installed")
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # Above 10 first, so the child's dup2 onto 3 and 4 never meets itself.
        hi_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        hi_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def fds():
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        self.profile = os.path.join(outdir, "chromium-profile")
        self.log = open(os.path.join(outdir, "chromium.log"), "wb")
        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--user-data-dir=" + self.profile, "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking", "--window-size=1400,1000",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, preexec_fn=fds, close_fds=False)
        os.close(hi_r)
        os.close(hi_w)
        self.w, self.r = to_chrome_w, from_chrome_r
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def close(self):
        try:
            self.call("Browser.close", session=False)
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("chromium did not answer in time")
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                chunk = os.read(self.r, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe (see chromium.log)")
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=True):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + TIMEOUT
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, pred=lambda p: True, timeout=TIMEOUT):
        deadline = time.time() + timeout
        while True:
            for i, m in enumerate(self.events):
                if m.get("method") == method and pred(m.get("params", {})):
                    return self.events.pop(i)["params"]
            self.events.append(self._read_message(deadline))

    def eval(self, expr):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"page error in {expr[:60]}...: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expr, what, timeout=TIMEOUT):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = self.eval(expr)
            if v:
                return v
            time.sleep(0.1)
        raise TimeoutError(f"the page never showed {what} ({expr})")

    def click(self, selector):
        """A real left click at the middle of the element, scrolled into view."""
        box = self.eval(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
            if (!e) return null; e.scrollIntoView({{block: "center", inline: "center"}});
            const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }})()""")
        if not box:
            raise RuntimeError(f"nothing to click at {selector}")
        x, y = box
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def screenshot(self, path):
        height = self.eval("Math.ceil(document.documentElement.scrollHeight)")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": 1400, "height": min(int(height), 6000), "deviceScaleFactor": 1, "mobile": False})
        png = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(png))
        self.call("Emulation.clearDeviceMetricsOverride")


FACTS = r"""JSON.stringify({
  ready: document.body.dataset.ready || "",
  status: document.getElementById("status").textContent,
  nodes: [...document.querySelectorAll("#graph .node")].map(g => ({seq: +g.dataset.seq, id: g.dataset.id})),
  heads: [...document.querySelectorAll("#graph .node .head")].map(t => t.textContent),
  tags: [...document.querySelectorAll("#graph .node .tag")].map(t => t.textContent),
  edges: [...document.querySelectorAll("#graph .edge")].map(e => ({from: +e.dataset.from, to: +e.dataset.to,
                                                                  kind: e.getAttribute("class").replace("edge ", "")})),
  points: [...document.querySelectorAll("#metrics .point")].map(c => ({metric: c.dataset.metric, step: +c.dataset.step,
                                                                      value: +c.dataset.value, seq: +c.dataset.seq})),
  curves: [...document.querySelectorAll("#metrics .curve")].map(p => p.dataset.metric),
  metric_choices: [...document.querySelectorAll("#metric-picker input")].map(i => i.dataset.metric),
  totals: {snapshots: +document.getElementById("total-snapshots").textContent,
           raw_bytes: +document.getElementById("total-raw").dataset.bytes,
           unique_bytes: +document.getElementById("total-unique").dataset.bytes,
           stored_bytes: +document.getElementById("total-stored").dataset.bytes,
           added_bytes: +document.getElementById("total-added").dataset.bytes},
  cumulative: {saved: +document.querySelector("#cumulative-chart .line-saved").dataset.last,
               added: +document.querySelector("#cumulative-chart .line-added").dataset.last},
  bars: [...document.querySelectorAll("#bytes-chart rect")].length,
  table: [...document.querySelectorAll("#snap-table tbody tr")].map(tr => ({seq: +tr.dataset.seq,
          bytes: [...tr.querySelectorAll("td[data-bytes]")].map(td => +td.dataset.bytes)}))
})"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("outdir")
    ap.add_argument("--select", type=int)
    ap.add_argument("--file")
    ap.add_argument("--tag")
    ap.add_argument("--diff", nargs=2)
    ap.add_argument("--screenshot-copy")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    downloads = os.path.join(a.outdir, "downloads")
    os.makedirs(downloads, exist_ok=True)
    b = Browser(a.outdir)
    out = {}
    try:
        target = b.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        b.session = b.call("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        b.call("Page.enable")
        b.call("Runtime.enable")
        b.call("Browser.setDownloadBehavior", {"behavior": "allowAndName", "downloadPath": downloads,
                                               "eventsEnabled": True}, session=False)
        b.call("Page.navigate", {"url": a.url})
        b.wait_for("document.body && document.body.dataset.ready === '1'", "the chain")
        out["url_after_load"] = b.eval("location.href")
        out["cookie_visible_to_js"] = b.eval("document.cookie")
        out.update(json.loads(b.eval(FACTS)))
        b.screenshot(os.path.join(a.outdir, "page.png"))
        if a.screenshot_copy:
            shutil.copyfile(os.path.join(a.outdir, "page.png"), a.screenshot_copy)
        if a.select is not None:
            b.click(f'#graph .node[data-seq="{a.select}"] circle')
            b.wait_for(f'document.querySelector("#snap-facts[data-seq=\\"{a.select}\\"]") !== null', "the snapshot")
            out["selected_bytes_in_files"] = b.eval("+document.getElementById('snap-facts').dataset.bytesInFiles")
            out["tree_files"] = b.eval("[...document.querySelectorAll('#tree a.file')].map(x => x.dataset.path)")
            b.screenshot(os.path.join(a.outdir, "snapshot.png"))
            if a.file:
                b.click(f'#tree a.file[data-path={json.dumps(a.file)}]')
                begun = b.wait_event("Browser.downloadWillBegin")
                done = b.wait_event("Browser.downloadProgress",
                                    lambda p: p.get("guid") == begun["guid"] and p.get("state") in ("completed", "canceled"))
                if done["state"] != "completed":
                    raise RuntimeError("the download was canceled")
                out["download"] = {"path": os.path.join(downloads, begun["guid"]), "name": begun["suggestedFilename"]}
            if a.tag:
                b.click("#tag-name")
                b.call("Input.insertText", {"text": a.tag})
                b.click("#tag-btn")
                b.wait_for("/tag .*: (done|.*)/.test(document.getElementById('status').textContent) && "
                           "!document.getElementById('status').textContent.endsWith('…')", "the tag's answer")
                out["tag_status"] = b.eval("document.getElementById('status').textContent")
                b.wait_for(f"[...document.querySelectorAll('#graph .node .tag')].some(t => t.textContent.endsWith({json.dumps(a.tag)}))",
                           "the new tag in the graph")
        if a.diff:
            b.eval(f"document.getElementById('diff-a').value = {json.dumps(a.diff[0])}; "
                   f"document.getElementById('diff-b').value = {json.dumps(a.diff[1])}; true")
            b.click("#diff-btn")
            b.wait_for("document.getElementById('diff-table') !== null", "the diff")
            out["diff"] = b.eval("[...document.querySelectorAll('#diff-table tr.change')].map(r => "
                                 "({path: r.dataset.path, change: r.dataset.change}))")
    except Exception as e:  # one line for the test, the facts so far with it
        print(json.dumps(out))
        print(f"browser.py: {e}", file=sys.stderr)
        b.close()
        return 1
    b.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
