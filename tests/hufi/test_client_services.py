"""Launcher and oracle calls against the simulated services over real HTTP on loopback."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from hufimm.core.timesource import NS_PER_SECOND
from hufimm.hufi.errors import HufiProtocolError, HufiRejected, HufiUnavailable
from hufimm.hufi.launcher import CampaignLauncherClient
from hufimm.hufi.oracle import RecordingOracleClient
from hufimm.market import Side
from hufimm.sim.hufi import Fault, SimCampaign, generate_campaigns, new_campaign
from hufimm.sim.hufi.campaigns import DAY_NS, THRESHOLD_MARKET_MAKING
from tests.hufi.support import HufiEnv, hufi_env, trade, wallet_key


def _campaign(env: HufiEnv, name: str, **overrides: Any) -> SimCampaign:
    now = env.time.time_ns()
    fields: dict[str, Any] = {
        "chain_id": 137,
        "type": "MARKET_MAKING",
        "exchange_name": "mexc",
        "symbol": "HMT/USDT",
        "details": {"daily_volume_target": Decimal(1000)},
        "start_ns": now - DAY_NS // 2,
        "end_ns": now + 10 * DAY_NS,
        "fund_units": 10_000 * 10**6,
        "created_ns": now - DAY_NS,
    }
    fields.update(overrides)
    campaign = new_campaign(env.world.defaults, name=name, **fields)
    env.world.add_campaigns([campaign])
    return campaign


async def test_paging_250_campaigns_with_an_invalid_one_in_the_middle() -> None:
    async with hufi_env() as env:
        generated = generate_campaigns(
            env.rng.child("gen"),
            env.world.defaults,
            count=250,
            chain_id=137,
            now_ns=env.time.time_ns(),
        )
        env.world.add_campaigns(generated)
        listing_order = env.world.listing(137)
        listing_order[50].manifest_valid = False  # the launcher silently drops it
        first_page = await env.launcher.list_campaigns(137, limit=100)
        assert first_page.has_more is False  # too early: 101 read, 1 dropped, 100 left
        assert len(first_page.campaigns) == 100
        listing = await env.launcher.all_campaigns(137, page_size=100)
        expected = [c.address for c in listing_order if c.manifest_valid]
        assert [c.address for c in listing.campaigns] == expected
        assert len(listing.campaigns) == 249
        assert listing.pages == 4 and not listing.truncated and not listing.rejected
        skips = [entry for entry in env.world.launcher_faults.log if entry.path == "/campaigns"]
        assert len(skips) == 5  # the single page plus the four of the listing
        campaign = listing.campaigns[0]
        source = env.world.campaign(137, campaign.address)
        assert campaign.fund_amount == source.fund_amount  # base units, exactly
        assert campaign.fund_token == source.fund_token
        assert campaign.created_ns == source.created_ns // 1_000_000 * 1_000_000


async def test_launcher_validation_and_details() -> None:
    async with hufi_env() as env:
        campaign = _campaign(env, "details")
        async with httpx.AsyncClient(base_url=env.urls.launcher) as raw:
            zero = await raw.get("/campaigns", params={"chain_id": 137, "skip": 0})
            assert zero.status_code == 400
            assert zero.json()["validation_errors"] == ["skip must be a positive number"]
            big = await raw.get("/campaigns", params={"chainId": 137, "limit": 1001})
            assert "limit must not be greater than 1000" in big.json()["validation_errors"]
            missing = await raw.get("/campaigns")
            assert missing.status_code == 400
        details = await env.launcher.campaign(137, campaign.address)
        assert details.fees.total_percent == Decimal(3)
        assert details.campaign.detail("daily_volume_target") == Decimal(1000)
        with pytest.raises(HufiRejected) as unknown:
            await env.launcher.campaign(137, "0x" + "1" * 40)
        assert unknown.value.status == 404
        exchanges = {e.name: e for e in await env.launcher.exchanges()}
        assert exchanges["mexc"].type == "cex" and exchanges["pancakeswap"].type == "dex"


async def _enrolled(env: HufiEnv, name: str) -> RecordingOracleClient:
    wallet = env.wallet(wallet_key(name))
    api_key, secret = env.exchange_account("mexc", name)
    await wallet.oracle.enroll_exchange_key("mexc", api_key, secret)
    return wallet.oracle


async def test_join_already_joined_not_found_yet_and_full() -> None:
    async with hufi_env() as env:
        open_campaign = _campaign(env, "open")
        fresh = _campaign(env, "fresh", indexed_at_ns=env.time.time_ns() + 600 * NS_PER_SECOND)
        full = _campaign(
            env,
            "full",
            type=THRESHOLD_MARKET_MAKING,
            details={"minimum_volume_target": Decimal(100), "max_participants": 1},
        )
        oracle = await _enrolled(env, "joiner")
        rival = await _enrolled(env, "rival")

        assert (
            await oracle.check_join_status(137, open_campaign.address)
        ).status == "not_available"
        joined = await oracle.join(137, open_campaign.address)
        assert not joined.already_joined and joined.ro_campaign_id
        again = await oracle.join(137, open_campaign.address)
        assert again.already_joined  # the oracle's 422 "already joined" is success
        status = await oracle.check_join_status(137, open_campaign.address)
        assert (
            status.status == "already_joined"
            and status.joined_at_ns == env.time.time_ns() // 1_000_000 * 1_000_000
        )

        with pytest.raises(HufiRejected) as not_found:
            await oracle.join(137, fresh.address)
        assert (not_found.value.status, not_found.value.message) == (422, "Campaign not found")
        env.time.advance(601)
        assert not (await oracle.join(137, fresh.address)).already_joined

        await rival.join(137, full.address)
        closed = await oracle.check_join_status(137, full.address)
        assert (closed.status, closed.reason) == ("join_closed", "max_participants_reached")
        with pytest.raises(HufiRejected, match=r"maximum number of participants\. Total: 1"):
            await oracle.join(137, full.address)

        joined_list = await oracle.joined_campaigns(chain_id=137)
        assert {c.address for c in joined_list} == {open_campaign.address, fresh.address}
        listed = next(c for c in joined_list if c.address == open_campaign.address)
        assert listed.fund_amount == Decimal(10_000)  # token units on the oracle side
        assert listed.fund_token == "USDT0" and listed.fund_amount_net == Decimal(9_700)


async def test_key_enrollment_checks_permissions_and_is_an_upsert() -> None:
    async with hufi_env() as env:
        wallet = env.wallet(wallet_key("keys"))
        api_key, secret = env.exchange_account(
            "mexc", "no-history", permissions=("VIEW_ACCOUNT_BALANCE", "VIEW_DEPOSIT_ADDRESS")
        )
        with pytest.raises(HufiRejected) as refused:
            await wallet.oracle.enroll_exchange_key("mexc", api_key, secret)
        assert refused.value.status == 422
        assert refused.value.details["missing_permissions"] == ["VIEW_SPOT_TRADING_HISTORY"]
        good_key, good_secret = env.exchange_account("mexc", "good")
        first_id = await wallet.oracle.enroll_exchange_key("mexc", good_key, good_secret)
        second_id = await wallet.oracle.enroll_exchange_key("mexc", good_key, good_secret)
        assert first_id == second_id
        keys = await wallet.oracle.exchange_keys()
        assert [(k.exchange_name, k.is_valid) for k in keys] == [("mexc", True)]
        with pytest.raises(HufiRejected, match="Incomplete credentials"):
            await wallet.oracle.enroll_exchange_key("kucoin", good_key, good_secret)


async def test_leaderboard_scores_are_exact() -> None:
    async with hufi_env() as env:
        campaign = _campaign(env, "board", start_ns=env.time.time_ns())
        ours = await _enrolled(env, "ours")
        theirs = await _enrolled(env, "theirs")
        await ours.join(137, campaign.address)
        await theirs.join(137, campaign.address)
        t0 = env.time.time_ns()
        env.book.record_trade(
            "mexc", "ours", trade("o1", t0 + 1, Side.BUY, "0.0312", "1000.5", maker=True)
        )
        env.book.record_trade(
            "mexc", "ours", trade("o2", t0 + 2, Side.SELL, "0.0313", "77", maker=False)
        )
        env.book.record_trade(
            "mexc", "theirs", trade("t1", t0 + 3, Side.BUY, "0.0311", "500", maker=False)
        )
        env.time.advance(600)
        board = await ours.leaderboard(137, campaign.address)
        mine = board.entry_for(ours.wallet)
        other = board.entry_for(theirs.wallet)
        assert mine is not None and other is not None
        assert (
            mine.score
            == Decimal("0.0312") * Decimal("1000.5") + Decimal("0.1") * Decimal("0.0313") * 77
        )
        assert other.score == Decimal("0.42") * Decimal("0.0311") * 500
        assert board.total == mine.result + other.result
        assert [e.address for e in board.entries] == [ours.wallet, theirs.wallet]  # by score
        env.world.finish(137, campaign.address)
        with pytest.raises(HufiRejected, match="Campaign already finished"):
            await ours.leaderboard(137, campaign.address)


async def test_5xx_storms_are_retried_with_backoff_then_reported() -> None:
    async with hufi_env() as env:
        _campaign(env, "storm")
        env.world.launcher_faults.add(Fault("status", path="/campaigns", status=503, times=2))
        page = await env.launcher.list_campaigns(137)
        assert len(page.campaigns) == 1
        assert len(env.time.sleeps) == 2 and env.time.sleeps[1] > env.time.sleeps[0] * 0.6
        env.world.launcher_faults.add(Fault("status", path="/campaigns", status=500, times=-1))
        with pytest.raises(HufiUnavailable, match="HTTP 500 after 4 attempts"):
            await env.launcher.list_campaigns(137)
        assert env.metrics.value("hufi_request_retries_total", {"service": "launcher"}) == 5


async def test_malformed_json_and_missing_fields_are_protocol_errors() -> None:
    async with hufi_env() as env:
        campaign = _campaign(env, "bad-input")
        env.world.launcher_faults.add(Fault("malformed", path="/campaigns"))
        with pytest.raises(HufiProtocolError, match="not JSON"):
            await env.launcher.list_campaigns(137)
        env.world.launcher_faults.add(Fault("strip", path="/campaigns", field="fund_amount"))
        page = await env.launcher.list_campaigns(137)
        assert page.campaigns == [] and "results[0].fund_amount: missing" in page.rejected[0]
        env.world.launcher_faults.add(Fault("strip", path="/campaigns/", field="reserved_funds"))
        with pytest.raises(HufiProtocolError, match="reserved_funds: missing"):
            await env.launcher.campaign(137, campaign.address)
        env.world.launcher_faults.add(Fault("strip", path="/campaigns", field="has_more"))
        with pytest.raises(HufiProtocolError, match="has_more: missing"):
            await env.launcher.list_campaigns(137)


async def test_timeouts_are_retried_as_network_errors() -> None:
    async with hufi_env() as env:
        http = env.http(env.urls.launcher, "slow", attempts=2, timeout_s=0.2)
        env.world.launcher_faults.add(Fault("delay", path="/exchanges", delay_s=1.0, times=-1))
        with pytest.raises(HufiUnavailable, match="ReadTimeout"):
            await CampaignLauncherClient(http).exchanges()


def test_the_client_cannot_delete_an_exchange_key() -> None:
    names = [name for name in dir(RecordingOracleClient) if "delete" in name.lower()]
    assert names == []
