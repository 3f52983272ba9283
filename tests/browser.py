"""report.html in a real browser: headless Chromium (Debian's ``chromium``), driven with only the
standard library. A copy of the page gets a checking script ahead of its own (allowed by hash in
the page's Content-Security-Policy, like the page's script): it records console errors, uncaught
exceptions, CSP violations (a blocked request) and every resource the page loaded, then sets the
browser's filters step by step and records what the page shows. ``--dump-dom`` returns the page
with that record in it; a second run takes a screenshot of the final state."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

CHECK_JS = """
(function () {
  const log = { errors: [], violations: [], steps: [] };
  const error = console.error;
  console.error = function (...args) {
    log.errors.push(args.map(String).join(" "));
    error.apply(console, args);
  };
  window.addEventListener("error", (e) => log.errors.push("uncaught: " + e.message));
  document.addEventListener("securitypolicyviolation", (e) =>
    log.violations.push(e.violatedDirective + " " + e.blockedURI)
  );
  function snapshot(label) {
    const rows = [...document.querySelectorAll("#samples-body tr")];
    return {
      label,
      count: document.getElementById("samples-count").textContent,
      rows: rows.length,
      ids: rows.map((tr) => tr.cells[0].textContent),
      deltas: rows.map((tr) => tr.cells[tr.cells.length - 1].textContent),
      more: !document.getElementById("samples-more").hidden,
    };
  }
  window.addEventListener("load", () => {
    log.ready = document.body.dataset.browser || null;
    log.steps.push(snapshot("initial"));
    for (const step of STEPS) {
      const t0 = performance.now();
      for (const [id, value] of Object.entries(step.set || {})) {
        const el = document.getElementById(id);
        el.value = value;
        el.dispatchEvent(new Event(el.tagName === "INPUT" ? "input" : "change"));
      }
      if (step.click) document.getElementById(step.click).click();
      const shot = snapshot(step.label);
      shot.ms = performance.now() - t0;
      log.steps.push(shot);
    }
    const nav = performance.getEntriesByType("navigation")[0];
    log.load_ms = nav ? nav.loadEventStart : null;
    log.resources = performance.getEntriesByType("resource").map((e) => e.name);
    const width = document.documentElement.clientWidth;
    log.overflow = [...document.querySelectorAll("body *")]
      .filter((el) => el.getBoundingClientRect().right > width + 1)
      .slice(0, 5)
      .map((el) => el.tagName + "." + el.className + " " + Math.round(el.getBoundingClientRect().right));
    const pre = document.createElement("pre");
    pre.id = "harness-check";
    pre.hidden = true;
    pre.textContent = JSON.stringify(log);
    document.body.appendChild(pre);
  });
})();
"""


def chromium() -> str | None:
    """The Chromium binary, or ``None``."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _with_check(page: str, steps: list[dict]) -> str:
    """``page`` with the checking script first in <head>, its hash added to the page's CSP."""
    code = CHECK_JS.replace("STEPS", json.dumps(steps))
    digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
    page, n = re.subn(r"script-src ", f"script-src 'sha256-{digest}' ", page, count=1)
    assert n == 1, "the page has no script-src in its Content-Security-Policy"
    return page.replace("<head>", f"<head>\n<script>{code}</script>", 1)


def _run(binary: str, profile: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(profile)}  # no real profile, no keyring prompts
    return subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def check_report(report: Path, steps: list[dict], out_dir: Path, window: str = "1280,1800") -> dict:
    """Open ``report`` (with the checking script) in headless Chromium, run ``steps`` (each
    ``{"label", "set": {element id: value}, "click": element id}``) and save a screenshot of the
    final state as ``out_dir/screenshot.png``. Returns the record: ``errors``, ``violations``,
    ``resources``, ``ready``, ``overflow`` (elements wider than the window), ``steps`` (what the
    browser showed after each), ``load_ms`` and ``wall_s`` (the browser run, start to exit)."""
    binary = chromium()
    assert binary, "no chromium binary"
    out_dir.mkdir(parents=True, exist_ok=True)
    checked = out_dir / "checked.html"
    checked.write_text(_with_check(report.read_text(encoding="utf-8"), steps), encoding="utf-8")
    url = checked.resolve().as_uri()
    started = time.perf_counter()
    dom = _run(binary, out_dir / "profile", f"--window-size={window}", "--dump-dom", url)
    wall = time.perf_counter() - started
    found = re.search(r"<pre id=\"harness-check\"[^>]*>(.*?)</pre>", dom.stdout, flags=re.S)
    assert found, f"the checking script left no record; chromium said: {dom.stderr[-2000:]}"
    record = json.loads(html.unescape(found.group(1)))
    record["wall_s"] = round(wall, 2)
    _run(
        binary,
        out_dir / "profile",
        f"--window-size={window}",
        f"--screenshot={out_dir / 'screenshot.png'}",
        url,
    )
    return record
