#!/usr/bin/env python
"""Screenshot a page of Ray's dashboard in headless Chromium, logging in with the token.

Usage::

    python experiments/dashboard_screenshot.py URL OUT.png [--page actors] [--wait-for TEXT]
        [--token-file ~/.ray/auth_token] [--chromium chromium]

Ray 2.60's dashboard asks for the cluster's token in a login dialog ("Authentication
Token Required") and keeps it in an HttpOnly cookie. This drives a real Chromium over
the DevTools protocol as a person would: open the page, type the token into the
dialog and press Enter, wait for the page to show ``--wait-for``, and save a PNG.
It needs Chromium (on Debian, ``apt-get install chromium``); the project's tests do
not use it. ``docs/images/dashboard-actors.png`` was made with it during a sweep.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp  # Ray's dashboard depends on it, so it is installed with ray[default]

LOGIN_INPUT = 'input[placeholder="Enter your authentication token"]'
# The flags of a headless screenshot on a machine without network, GPU or sandbox.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)


class DevTools:
    """A minimal Chrome DevTools protocol client for one page."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict:
        msg_id = next(self.ids)
        await self.ws.send_json({"id": msg_id, "method": method, "params": params})
        while True:  # events arrive in between; skip them
            reply = json.loads((await self.ws.receive()).data)
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if await self.evaluate(expression):
                    return
            except RuntimeError:  # the page navigated (reloaded) under the evaluation
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout_s:.0f} s for {what}")
            await asyncio.sleep(0.5)


def devtools_port(profile: Path, timeout_s: float = 30.0) -> int:
    """The port Chromium chose for ``--remote-debugging-port=0`` (it writes it down)."""
    path = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout_s
    while not path.is_file() or not path.read_text().strip():
        if time.monotonic() > deadline:
            raise TimeoutError("Chromium did not open its DevTools port")
        time.sleep(0.2)
    return int(path.read_text().split()[0])


async def screenshot(page_url: str, token: str, out: Path, wait_for: str, port: int,
                     timeout_s: float) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
            targets = [t for t in await r.json() if t["type"] == "page"]
        async with http.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            page = DevTools(ws)
            await page.wait_for(f"document.querySelector('{LOGIN_INPUT}') !== null", timeout_s,
                                "the token login dialog")
            await page.evaluate(f"document.querySelector('{LOGIN_INPUT}').focus()")
            await page.call("Input.insertText", text=token)
            for kind in ("keyDown", "keyUp"):
                await page.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                                windowsVirtualKeyCode=13)
            # The dialog reloads the page once the token is accepted.
            await page.wait_for(f"document.body.innerText.includes({json.dumps(wait_for)})",
                                timeout_s, f"{wait_for!r} on {page_url}")
            await asyncio.sleep(2)  # let the table finish drawing
            shot = await page.call("Page.captureScreenshot", format="png")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(base64.b64decode(shot["data"]))
            await page.call("Browser.close")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the dashboard, e.g. http://127.0.0.1:8265")
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--page", default="actors", help="dashboard page (default %(default)s)")
    parser.add_argument("--wait-for", default="seed_trial(wi=",
                        help="text the page must show first (default %(default)r)")
    parser.add_argument("--token-file", type=Path, default=Path.home() / ".ray" / "auth_token")
    parser.add_argument("--chromium", default="chromium")
    parser.add_argument("--window-size", default="1400,900")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per wait")
    args = parser.parse_args(argv)
    token = args.token_file.read_text().strip()
    page_url = f"{args.url.rstrip('/')}/#/{args.page}"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        browser = subprocess.Popen(
            [args.chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             f"--window-size={args.window_size}", "--remote-debugging-port=0", page_url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            port = devtools_port(Path(profile))
            asyncio.run(screenshot(page_url, token, args.out, args.wait_for, port, args.timeout))
        finally:
            browser.terminate()
            browser.wait(timeout=30)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
