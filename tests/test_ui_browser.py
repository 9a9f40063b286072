"""The escalation UI in a real headless Chromium against the real server (``api.serve``).

A payout escalates (two approvers needed; the run was started by ``requester``). ann approves
through the UI and cannot approve again, the requester is refused, bob approves, and the transfer
runs exactly once while the run completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gil_app import FLOW, Ledger, actions, agents
from maestro_helix import Maestro
from maestro_helix.api import serve
from maestro_helix.governance.identity import add_operator
from maestro_helix.governance.policy import Role
from maestro_helix.store.base import RunStatus
from maestro_helix.store.sqlite import SQLiteStore

CHROMIUM = "/usr/bin/chromium"
# no outside network here: these keep Chromium from waiting on it
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INPUT = {"supplier": "acme", "amount": 2500}
START_TIMEOUT_S = 20.0


def require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass(frozen=True)
class Seed:
    tokens: dict[str, str]
    run_id: str
    request_id: str


@dataclass(frozen=True)
class Server:
    url: str
    seed: Seed
    ledger: Ledger


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _run_server(
    db: Path,
    ledger: Ledger,
    port: int,
    handoff: queue.Queue[Seed | BaseException],
    stop: threading.Event,
) -> None:
    async with Maestro.open(SQLiteStore(db), agents=agents(), action_types=actions(ledger)) as m:
        tokens = {
            name: (await add_operator(m.store, name, Role.APPROVER))[1]
            for name in ("ann", "bob", "requester")
        }
        run_id = await m.engine.submit(FLOW, INPUT, operator_id="requester")
        assert (await m.engine.wait(run_id)).status is RunStatus.ESCALATED
        (req,) = await m.store.list_requests(run_id=run_id)
        serving = asyncio.create_task(serve(m, "127.0.0.1", port))
        handoff.put(Seed(tokens, run_id, req.request_id))
        while not stop.is_set() and not serving.done():
            await asyncio.sleep(0.05)
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """The real server on 127.0.0.1 in a thread of its own, over a fresh SQLite system."""
    require_chromium()
    port = _free_port()
    ledger = Ledger(tmp_path / "ledger.txt")
    handoff: queue.Queue[Seed | BaseException] = queue.Queue()
    stop = threading.Event()

    def main() -> None:
        try:
            asyncio.run(_run_server(tmp_path / "ui.db", ledger, port, handoff, stop))
        except BaseException as e:  # handed to the test, which fails with it
            handoff.put(e)

    thread = threading.Thread(target=main, name="maestro-test-server")
    thread.start()
    try:
        got = handoff.get(timeout=START_TIMEOUT_S)
        if isinstance(got, BaseException):
            raise got
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                httpx.get(url + "/ui/login", timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or not thread.is_alive():
                    raise
                time.sleep(0.05)
        yield Server(url, got, ledger)
    finally:
        stop.set()
        thread.join(timeout=START_TIMEOUT_S)
        assert not thread.is_alive(), "the server did not stop"
    if not handoff.empty():
        raise handoff.get()


def test_two_approvers_through_the_ui_run_the_transfer_once(server: Server) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    seed = server.seed
    detail_url = f"{server.url}/ui/approvals/{seed.request_id}"

    def sign_in(page: Page, who: str) -> None:
        page.goto(server.url + "/ui")
        expect(page).to_have_url(server.url + "/ui/login")
        page.get_by_label("API token").fill(seed.tokens[who])
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(server.url + "/ui")
        expect(page.get_by_text(f"Signed in as {who}")).to_be_visible()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # ann finds the request in the queue, with why it is there, and approves it
            page = browser.new_context().new_page()
            sign_in(page, "ann")
            row = page.locator(f'tr[data-request-id="{seed.request_id}"]')
            expect(row).to_contain_text("two-person rule")
            expect(row).to_contain_text("0 of 2")
            row.get_by_role("link").click()
            expect(page).to_have_url(detail_url)
            quorum = page.locator('[data-field="quorum"]')
            expect(quorum).to_have_text("Two-person rule: 0 of 2 approvals (2 more needed)")
            approve = page.get_by_role("button", name="Approve")
            reject = page.get_by_role("button", name="Reject")
            a, r = approve.bounding_box(), reject.bounding_box()
            assert a is not None and r is not None
            assert (a["width"], a["height"]) == (r["width"], r["height"]), "equally prominent"
            expect(page.locator('[data-field="payload-hash"]')).to_have_text(
                page.locator('input[name="payload_hash"]').get_attribute("value") or "?"
            )
            approve.click()
            expect(page.locator('[data-flash="ok"]')).to_have_text("Approved — 1 of 2")
            expect(quorum).to_have_text("Two-person rule: 1 of 2 approvals (1 more needed)")
            # ... and cannot approve a second time
            expect(approve).to_be_disabled()
            expect(page.locator('[data-field="blocked"]')).to_contain_text(
                "operator ann has already decided this request"
            )

            # the operator who started the run may not decide, even by forcing the form
            page = browser.new_context().new_page()
            sign_in(page, "requester")
            page.goto(detail_url)
            expect(page.get_by_role("button", name="Approve")).to_be_disabled()
            expect(page.locator('[data-field="blocked"]')).to_contain_text("cannot decide on it")
            page.evaluate(
                "document.querySelectorAll('[disabled]').forEach(e => e.disabled = false)"
            )
            page.get_by_role("button", name="Approve").click()
            expect(page.locator('[data-flash="error"]')).to_contain_text("cannot decide on it")
            expect(page.locator('[data-field="quorum"]')).to_contain_text("1 of 2")

            # bob's approval completes the quorum
            page = browser.new_context().new_page()
            sign_in(page, "bob")
            page.goto(detail_url)
            page.get_by_role("button", name="Approve").click()
            expect(page.locator('[data-flash="ok"]')).to_have_text(
                "Approved — 2 of 2: the request is approved and the run continues"
            )
            expect(page.locator('[data-field="status"]')).to_have_text("approved")
        finally:
            browser.close()

    status = None
    auth = {"Authorization": f"Bearer {seed.tokens['bob']}"}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = httpx.get(f"{server.url}/runs/{seed.run_id}", headers=auth).json()["status"]
        if status == "completed":
            break
        time.sleep(0.05)
    assert status == "completed"
    transfers = [e for e in server.ledger.entries() if " transfer " in e]
    assert len(transfers) == 1 and transfers[0].endswith("transfer acme 2500.0")
