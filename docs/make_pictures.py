"""The README's pictures, made from the demo: a dashboard page served by `analytics-pipeline serve` and the asset
graph of `analytics-pipeline dev`, screenshotted by headless Chromium (Debian's `chromium`, driven by Playwright as
the browser test drives it; `apt-get install -y chromium` when it is missing).

    uv run python docs/make_pictures.py                   # a fresh demo in a temporary folder, removed afterwards
    uv run python docs/make_pictures.py --data-dir data   # an existing data dir (`demo` first if it has no warehouse)

Writes docs/dashboard.png, docs/asset-graph.png and docs/asset-lineage.png (1440 × 900 px each).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
VIEWPORT = {"width": 1440, "height": 900}
DASHBOARD = "financial_operations"
LINEAGE_ASSET = "claims_current"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="a demo data dir (default: a fresh demo in a temporary folder)")
    parser.add_argument("--dashboard", default=DASHBOARD, help=f"the dashboard to picture (default {DASHBOARD})")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("error: chromium is not installed (apt-get install -y chromium)", file=sys.stderr)
        return 2
    temporary = None if args.data_dir else tempfile.mkdtemp(prefix="analytics-pictures-")
    data_dir = (args.data_dir or Path(temporary)).resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANALYTICS_", "DAGSTER_"))}
    env.update(ANALYTICS_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    try:
        if not (data_dir / "warehouse.duckdb").exists():
            subprocess.run(_cli("demo"), env=env, cwd=ROOT, check=True)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            _dashboard(page, env, args.dashboard, DOCS / "dashboard.png")
            _asset_graph(page, env, DOCS / "asset-graph.png", DOCS / "asset-lineage.png")
            browser.close()
    finally:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)
    return 0


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "analytics_pipeline.cli", *args]


def _dashboard(page, env: dict[str, str], dashboard: str, out: Path) -> None:
    """`serve` on a free port; the dashboard's page, top of it."""
    proc = subprocess.Popen(_cli("serve", "--port", "0"), env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        while line and "serving dashboards on" not in line:
            line = proc.stdout.readline()
        if not line:
            raise SystemExit("error: serve did not start")
        base = line.split("on ", 1)[1].split("/ ", 1)[0]
        response = page.goto(f"{base}/dashboards/{dashboard}.html", wait_until="networkidle")
        if response.status != 200:
            raise SystemExit(f"error: {dashboard}: HTTP {response.status}")
        page.screenshot(path=str(out))
        print(f"wrote {out.relative_to(ROOT)}")
    finally:
        _stop(proc)


def _asset_graph(page, env: dict[str, str], out: Path, lineage_out: Path) -> None:
    """`dev` on a free port (it has nothing to do after `demo`): the global asset lineage (one box per group), then
    the lineage page of one asset."""
    port = _free_port()
    proc = subprocess.Popen(_cli("dev", "--port", str(port)), env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/server_info", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("error: dev did not answer within 120 s") from None
                time.sleep(0.5)
        page.goto(f"{base}/asset-groups", wait_until="networkidle")
        page.wait_for_selector("svg >> visible=true", timeout=60_000)
        page.wait_for_timeout(2_000)
        skip = page.get_by_role("button", name="Skip")  # the UI's first-visit newsletter dialog
        if skip.count():
            skip.first.click()
        for hide in (page.get_by_role("button", name="Hide navigation"),  # the app's menu, the groups' tree
                     page.locator("input[placeholder^='Jump to'] >> xpath=following::button[1]")):
            if hide.count():
                hide.first.click()
        page.wait_for_timeout(3_000)  # the graph lays out and fits itself to the viewport after its data arrives
        page.screenshot(path=str(out))
        print(f"wrote {out.relative_to(ROOT)}")
        # One asset's neighbours, with what the UI says of each: partitions filled, checks passed, materialized.
        page.goto(f"{base}/assets/{LINEAGE_ASSET}?view=lineage", wait_until="networkidle")
        page.wait_for_selector("text=Latest event", timeout=60_000)
        page.wait_for_timeout(3_000)
        page.screenshot(path=str(lineage_out))
        print(f"wrote {lineage_out.relative_to(ROOT)}")
    finally:
        _stop(proc, group=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen, group: bool = False) -> None:
    """SIGTERM (dev stops its UI, daemon and code server on it), then wait; SIGKILL to its own group if it hangs."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(main())
