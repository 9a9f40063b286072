"""The refund example of "What an approver needs", in a real headless Chromium against the real
server: one approver below the 500 USD tier, two above; the pages state the rule in words, what
the approval runs (type, amount, currency, customer), the action's own payload with its hash, and
after quorum whether the refund ran and what it returned."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import refund_app
from maestro_helix import Maestro
from maestro_helix.api import serve
from maestro_helix.governance.identity import add_operator
from maestro_helix.governance.policy import Role, parse_policy, payload_hash
from maestro_helix.store.base import RunStatus
from maestro_helix.store.sqlite import SQLiteStore
from test_ui_browser import CHROMIUM, CHROMIUM_ARGS, START_TIMEOUT_S, _free_port, require_chromium


@dataclass(frozen=True)
class Seed:
    tokens: dict[str, str]
    small: str  # request id of the 300 USD refund (one person)
    big: str  # request id of the 899 USD refund (two people)
    hashes: dict[str, str]  # request id -> the payload hash stored when it was made


async def _run(
    db: Path,
    refunds: refund_app.Refunds,
    port: int,
    handoff: queue.Queue[Seed | BaseException],
    stop: threading.Event,
) -> None:
    async with Maestro.open(
        SQLiteStore(db),
        agents=refund_app.agents(),
        action_types=refund_app.actions(refunds),
        policy=parse_policy(refund_app.POLICY, "refund policy"),
    ) as m:
        tokens = {
            name: (await add_operator(m.store, name, Role.APPROVER))[1]
            for name in ("ann", "bob", "requester")
        }
        ids, hashes = [], {}
        for amount in (300, 899):
            run_id = await m.engine.submit(
                refund_app.FLOW, {"customer": "C-11", "amount": amount}, operator_id="requester"
            )
            assert (await m.engine.wait(run_id)).status is RunStatus.ESCALATED
            (req,) = await m.store.list_requests(run_id=run_id)
            ids.append(req.request_id)
            hashes[req.request_id] = req.payload_hash
        serving = asyncio.create_task(serve(m, "127.0.0.1", port))
        handoff.put(Seed(tokens, ids[0], ids[1], hashes))
        while not stop.is_set() and not serving.done():
            await asyncio.sleep(0.05)
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving


@dataclass(frozen=True)
class Server:
    url: str
    seed: Seed
    refunds: refund_app.Refunds


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    require_chromium()
    port = _free_port()
    refunds = refund_app.Refunds(tmp_path / "refunds.jsonl")
    handoff: queue.Queue[Seed | BaseException] = queue.Queue()
    stop = threading.Event()

    def main() -> None:
        try:
            asyncio.run(_run(tmp_path / "ui.db", refunds, port, handoff, stop))
        except BaseException as e:
            handoff.put(e)

    thread = threading.Thread(target=main, name="maestro-refund-server")
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
        yield Server(url, got, refunds)
    finally:
        stop.set()
        thread.join(timeout=START_TIMEOUT_S)
        assert not thread.is_alive(), "the server did not stop"


def test_refund_one_approver_below_the_tier_two_above_with_the_rule_and_the_result(
    server: Server,
) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    seed = server.seed

    def sign_in(page: Page, who: str) -> None:
        page.goto(server.url + "/ui")
        page.get_by_label("API token").fill(seed.tokens[who])
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text(f"Signed in as {who}")).to_be_visible()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            sign_in(page, "ann")
            big_row = page.locator(f'tr[data-request-id="{seed.big}"]')
            expect(big_row.locator('[data-field="rule"]')).to_have_text(
                "refunds above 500 USD need two people"
            )
            expect(big_row.locator('[data-field="action-line"]')).to_have_text(
                "crm.refund of 899.00 USD to customer C-11"
            )
            small_row = page.locator(f'tr[data-request-id="{seed.small}"]')
            expect(small_row.locator('[data-field="rule"]')).to_have_text(
                "refunds above 100 up to 500 USD need one person"
            )
            expect(small_row).to_contain_text("0 of 1")

            # below the tier: one approver, and the page says the refund ran and what it returned
            small_row.get_by_role("link").click()
            expect(page.locator('[data-field="action-line"]')).to_have_text(
                "Approve runs crm.refund of 300.00 USD to customer C-11"
            )
            expect(page.locator('[data-field="result-status"]')).to_have_count(0)
            page.get_by_role("button", name="Approve").click()
            expect(page.locator('[data-flash="ok"]')).to_have_text(
                "Approved — 1 of 1: the request is approved and the run continues"
            )
            expect(page.locator('[data-field="result-status"]')).to_have_text("ran (succeeded)")
            expect(page.locator('[data-field="result-value"]')).to_contain_text("R-0001")

            # above the tier: the rule, what runs, the action's own payload with its hash
            page.goto(f"{server.url}/ui/approvals/{seed.big}")
            expect(page.locator('[data-field="rule"]')).to_have_text(
                "refunds above 500 USD need two people"
            )
            expect(page.locator('[data-field="amount"]')).to_have_text("899.00 USD")
            expect(page.locator('[data-field="display-customer"]')).to_have_text("C-11")
            own = page.locator('[data-field="action-payload"]').inner_text()
            assert '"amount": 899.0' in own and '"customer": "C-11"' in own
            assert '"currency": "USD"' in own
            # the hashes shown are the ones approvals bind to, not whatever the page says
            refund = {"customer": "C-11", "amount": 899.0, "currency": "USD"}
            expect(page.locator('[data-field="action-payload-hash"]')).to_have_text(
                payload_hash("crm.refund", refund)
            )
            expect(page.locator('[data-field="payload-hash"]')).to_have_text(seed.hashes[seed.big])
            page.get_by_role("button", name="Approve").click()
            expect(page.locator('[data-flash="ok"]')).to_have_text("Approved — 1 of 2")
            expect(page.locator('[data-field="result-status"]')).to_have_count(0)
            assert len(server.refunds.entries()) == 1, "one approval is not enough above 500"

            page = browser.new_context().new_page()
            sign_in(page, "bob")
            page.goto(f"{server.url}/ui/approvals/{seed.big}")
            page.get_by_role("button", name="Approve").click()
            expect(page.locator('[data-field="status"]')).to_have_text("approved")
            expect(page.locator('[data-field="result-status"]')).to_have_text("ran (succeeded)")
            expect(page.locator('[data-field="result-value"]')).to_contain_text("R-0002")
        finally:
            browser.close()
    assert [e["amount"] for e in server.refunds.entries()] == [300.0, 899.0]
