"""The simulated recording oracle: tokens, scoring rules, results files, wire format."""

from __future__ import annotations

import hashlib
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND, VirtualTimeSource
from hufimm.market import Side
from hufimm.sim.hufi import (
    ENROLMENT_PERMISSIONS,
    HufiWorld,
    OracleConfig,
    RecordedResults,
    SimCampaign,
    SimTrade,
    TradeBook,
    load_campaigns,
    new_campaign,
)
from hufimm.sim.hufi.campaigns import DAY_NS, CampaignDefaults
from hufimm.sim.hufi.oracle import User
from hufimm.sim.hufi.tokens import nonce_message
from hufimm.sim.hufi.wire import dumps, snake_keys

HOUR_NS = 3600 * NS_PER_SECOND


def _key(index: int) -> str:
    return hashlib.sha256(f"sim-oracle-user/{index}".encode()).hexdigest()


def _world(time: VirtualTimeSource, **config: Any) -> tuple[HufiWorld, TradeBook, RecordedResults]:
    book = TradeBook(("mexc",))
    sink = RecordedResults()
    world = HufiWorld(
        time, SeededRng(1), book, oracle_config=OracleConfig(**config), results_sink=sink
    )
    return world, book, sink


def _campaign(world: HufiWorld, time: VirtualTimeSource, **overrides: Any) -> SimCampaign:
    fields: dict[str, Any] = {
        "chain_id": 137,
        "type": "MARKET_MAKING",
        "exchange_name": "mexc",
        "symbol": "HMT/USDT",
        "details": {"daily_volume_target": Decimal(1_000_000)},
        "start_ns": time.time_ns(),
        "end_ns": time.time_ns() + 2 * DAY_NS,
        "fund_units": 2_000 * 10**6,
        "created_ns": time.time_ns(),
    }
    fields.update(overrides)
    campaign = new_campaign(world.defaults, name="sim", **fields)
    world.add_campaigns([campaign])
    return campaign


def _participant(world: HufiWorld, book: TradeBook, index: int, deposit: str) -> User:
    key = _key(index)
    address = Account.from_key(key).address
    nonce = world.oracle.nonce_for(address)
    signature = Account.sign_message(encode_defunct(text=nonce_message(nonce)), key)
    world.oracle.authenticate(address, signature.signature.to_0x_hex())
    user = world.oracle.users[address.lower()]
    account = f"acct-{index}"
    book.add_account("mexc", account, eth_address=deposit)
    book.issue_key("mexc", account, f"k{index}", f"s{index}", ENROLMENT_PERMISSIONS)
    world.oracle.upsert_key(user, "mexc", f"k{index}", f"s{index}", {})
    return user


def _trade(
    trade_id: str, ts: int, cost_qty: str, *, maker: bool, side: Side = Side.BUY
) -> SimTrade:
    price, qty = Decimal("0.5"), Decimal(cost_qty)
    return SimTrade(trade_id, "HMT/USDT", side, price, qty, price * qty, maker, ts)


def test_results_files_batch_99_hash_named_cumulative_and_anchored() -> None:
    time = VirtualTimeSource()
    world, book, sink = _world(time)
    campaign = _campaign(world, time)
    users = []
    for index in range(150):
        user = _participant(world, book, index, f"0x{index:040x}")
        world.oracle.join(user, 137, campaign.address)
        users.append(user)
        book.record_trade(
            "mexc", f"acct-{index}", _trade(f"t{index}", time.time_ns() + HOUR_NS, "10", maker=True)
        )
    time.advance_ns(DAY_NS + 1800 * NS_PER_SECOND)
    world.oracle.catch_up()
    url = campaign.intermediate_results_url
    assert url is not None and url.startswith("http://oracle.sim/results/")
    path = url.split("/results/", 1)[1]
    body = world.oracle.files[path]
    assert path == f"{campaign.address}/{hashlib.sha256(body).hexdigest()}.json"
    document = json.loads(body, parse_float=Decimal)
    (cycle,) = document["results"]
    assert (cycle["from"], cycle["to"]) == ("2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z")
    assert [len(b["results"]) for b in cycle["participants_outcomes_batches"]] == [99, 51]
    assert all(uuid.UUID(b["id"]).version == 4 for b in cycle["participants_outcomes_batches"])
    # 150 × 5 USDT of volume against a 1 000 000 target: the pool is a truncated fraction.
    daily = Decimal("970")  # 2000 × 97 % over 2 days
    assert cycle["total_volume"] == Decimal(750)
    assert Decimal(cycle["reserved_funds"]) == daily * 750 / 1_000_000
    assert sink.calls[0].funds_to_reserve == 727_500
    assert campaign.reserved_funds == 727_500

    time.advance_ns(DAY_NS)
    world.oracle.catch_up()
    assert campaign.intermediate_results_url is not None
    second = json.loads(world.oracle.files[campaign.intermediate_results_url.split("/results/")[1]])
    assert len(second["results"]) == 2  # cumulative: the first cycle is kept
    assert len(sink.calls) == 2


def test_scores_weights_sybils_and_joined_at() -> None:
    time = VirtualTimeSource()
    world, book, _ = _world(time)
    campaign = _campaign(world, time)
    first = _participant(world, book, 1, "0x" + "11" * 20)
    twin = _participant(world, book, 2, "0x" + "11" * 20)  # same deposit address: a sybil
    late = _participant(world, book, 3, "0x" + "33" * 20)
    t0 = time.time_ns()
    world.oracle.join(first, 137, campaign.address)
    world.oracle.join(twin, 137, campaign.address)
    for index in (1, 2, 3):
        book.record_trade("mexc", f"acct-{index}", _trade(f"m{index}", t0 + 10, "100", maker=True))
        book.record_trade("mexc", f"acct-{index}", _trade(f"b{index}", t0 + 20, "100", maker=False))
        book.record_trade(
            "mexc",
            f"acct-{index}",
            _trade(f"s{index}", t0 + 3 * HOUR_NS, "100", maker=False, side=Side.SELL),
        )
    time.advance_ns(HOUR_NS)
    world.oracle.join(late, 137, campaign.address)  # its first two trades predate the join
    time.advance_ns(3 * HOUR_NS)
    board = world.oracle.leaderboard(137, campaign.address)
    scores = {row[0].address: row[0].score for row in board.rows}
    assert scores == {
        first.address: Decimal("50") + Decimal("0.42") * 50 + Decimal("0.1") * 50,
        late.address: Decimal("0.1") * 50,
    }
    assert board.total == Decimal(150) + Decimal(50)


async def test_tokens_expire_on_the_clock_and_tampering_fails() -> None:
    time = VirtualTimeSource()
    world, _, _ = _world(time, access_ttl_s=60, refresh_ttl_s=120)
    key = _key(9)
    address = Account.from_key(key).address
    transport = httpx.ASGITransport(app=world.oracle_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://ro") as client:
        signature = Account.sign_message(encode_defunct(text='{"nonce":"signup"}'), key)
        tokens = (
            await client.post(
                "/auth", json={"address": address, "signature": signature.signature.to_0x_hex()}
            )
        ).json()
        bearer = {"authorization": f"Bearer {tokens['access_token']}"}
        assert (await client.get("/me", headers=bearer)).status_code == 200
        tampered = tokens["access_token"][:-4] + (
            "AAAA" if not tokens["access_token"].endswith("AAAA") else "BBBB"
        )
        assert (
            await client.get("/me", headers={"authorization": f"Bearer {tampered}"})
        ).status_code == 401
        time.advance(61)
        expired = await client.get("/me", headers=bearer)
        assert (expired.status_code, expired.json()["message"]) == (401, "Unauthorized")
        time.advance(60)
        refused = await client.post("/auth/refresh", json={"refreshToken": tokens["refresh_token"]})
        assert refused.json()["message"] == "Refresh token expired"
        bad = await client.post("/auth", json={"address": address, "signature": "0x12"})
        assert bad.status_code == 400 and bad.json()["validation_errors"]


def test_deleting_a_key_drops_active_participations() -> None:
    time = VirtualTimeSource()
    world, book, _ = _world(time)
    campaign = _campaign(world, time)
    user = _participant(world, book, 4, "0x" + "44" * 20)
    world.oracle.join(user, 137, campaign.address)
    world.oracle.delete_key(user, "mexc")
    assert world.oracle.check_join_status(user, 137, campaign.address) == {"status": "can_join"}


def test_wire_numbers_are_exact_and_input_keys_are_snake_cased() -> None:
    big = Decimal("123456789012345678901234567890.123456789012345678901")
    assert dumps({"a": Decimal("0.10"), "b": big, "c": [Decimal(0), 5, None, True]}) == (
        b'{"a":0.1,"b":123456789012345678901234567890.123456789012345678901,"c":[0,5,null,true]}'
    )
    assert json.loads(dumps({"x": big}), parse_float=Decimal)["x"] == big
    assert snake_keys({"chainId": 1, "nested": [{"refreshToken": "t"}]}) == {
        "chain_id": 1,
        "nested": [{"refresh_token": "t"}],
    }


def test_campaign_files_load_and_bad_files_are_refused(tmp_path: Path) -> None:
    good = tmp_path / "campaigns.json"
    good.write_text(
        json.dumps(
            [
                {
                    "chain_id": 137,
                    "type": "MARKET_MAKING",
                    "exchange_name": "kucoin",
                    "symbol": "BTC/USDT",
                    "details": {"daily_volume_target": 10000.5},
                    "start_date": "2026-02-01T00:00:00Z",
                    "end_date": "2026-02-11T00:00:00.000Z",
                    "fund_amount": "5000000000",
                }
            ]
        )
    )
    (loaded,) = load_campaigns(good, CampaignDefaults(), 0)
    assert loaded.details["daily_volume_target"] == Decimal("10000.5")
    assert loaded.end_ns - loaded.start_ns == 10 * DAY_NS and loaded.manifest_ok()
    bad = tmp_path / "bad.json"
    bad.write_text('[{"chain_id": 137}]')
    with pytest.raises(ValueError, match="campaign #0"):
        load_campaigns(bad, CampaignDefaults(), 0)
