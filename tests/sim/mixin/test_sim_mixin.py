"""The simulated Mixin checks what real Mixin checks: JWTs, input signatures, balances, keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hufimm.core.ids import IdFactory
from hufimm.core.money import from_units
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import VirtualTimeSource
from hufimm.mixin.client import MixinClient
from hufimm.mixin.errors import MixinDefinitive, MixinNotFound, MixinRetryable
from hufimm.mixin.kernel import (
    FEE_USER_ID,
    Input,
    Output,
    Transaction,
    Withdrawal,
    kernel_asset_id,
    sign_inputs,
    threshold_script,
    transaction_hash,
)
from hufimm.mixin.keystore import Keystore
from hufimm.mixin.models import GhostKeyRequest
from hufimm.mixin.txbuilder import Payee, Selection, build_transaction, select_inputs
from hufimm.sim.mixin import MixinSimApp, MixinWorld, UserKeys
from hufimm.sim.mixin.records import ETH_CHAIN, USDT_ERC20

COIN = 100_000_000


@dataclass
class Sim:
    world: MixinWorld
    app: MixinSimApp
    bot: UserKeys
    keystore: Keystore
    client: MixinClient
    http: httpx.AsyncClient
    time: VirtualTimeSource


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    """In process, through httpx's ASGI transport, in virtual time."""
    time_source = VirtualTimeSource()
    world = MixinWorld(time_source, seed=3)
    bot = world.add_user("bot")
    app = MixinSimApp(world)
    keystore = Keystore.from_hex(
        bot.user_id, bot.session_id, bot.session_private_key, bot.spend_private_key
    )
    transport = httpx.ASGITransport(app=app)
    client = MixinClient(
        keystore,
        time_source,
        IdFactory(time_source, SeededRng(1)),
        base_url="http://mixin.test",
        transport=transport,
    )
    http = httpx.AsyncClient(transport=transport, base_url="http://mixin.test")
    yield Sim(world, app, bot, keystore, client, http, time_source)
    await client.aclose()
    await http.aclose()


def _token(sim: Sim, method: str, uri: str, body: bytes, **override: object) -> str:
    now = sim.time.time_ns() // 1_000_000_000
    claims: dict[str, object] = {
        "uid": sim.bot.user_id,
        "sid": sim.bot.session_id,
        "iat": now,
        "exp": now + 60,
        "jti": "5a1e2f3c-0000-4000-8000-000000000001",
        "scp": "FULL",
        "sig": hashlib.sha256(method.encode() + uri.encode() + body).hexdigest(),
    }
    key = override.pop("key", None) or Ed25519PrivateKey.from_private_bytes(
        sim.keystore.session_seed
    )
    claims.update(override)
    return jwt.encode(claims, key, algorithm="EdDSA")  # type: ignore[arg-type]


async def _get(sim: Sim, uri: str, token: str) -> dict[str, object]:
    response = await sim.http.get(uri, headers={"Authorization": f"Bearer {token}"})
    document: dict[str, object] = response.json()
    return document


async def test_a_correct_token_is_accepted(sim: Sim) -> None:
    assert "data" in await _get(sim, "/safe/me", _token(sim, "GET", "/safe/me", b""))


@pytest.mark.parametrize(
    "forgery",
    ["other_key", "wrong_sig", "wrong_uid", "expired", "other_query", "unknown_session", "hs256"],
)
async def test_forged_tokens_are_rejected(sim: Sim, forgery: str) -> None:
    uri = "/safe/snapshots?limit=10&order=ASC"
    token = {
        "other_key": lambda: _token(
            sim, "GET", uri, b"", key=Ed25519PrivateKey.from_private_bytes(bytes(32))
        ),
        "wrong_sig": lambda: _token(sim, "GET", uri, b"", sig="00" * 32),
        "wrong_uid": lambda: _token(sim, "GET", uri, b"", uid=FEE_USER_ID),
        "expired": lambda: _token(sim, "GET", uri, b"", exp=sim.time.time_ns() // 10**9 - 1),
        "other_query": lambda: _token(sim, "GET", "/safe/snapshots?limit=500&order=ASC", b""),
        "unknown_session": lambda: _token(sim, "GET", uri, b"", sid=FEE_USER_ID),
        "hs256": lambda: jwt.encode({"sid": sim.bot.session_id}, "s" * 32, algorithm="HS256"),
    }[forgery]()
    document = await _get(sim, uri, token)
    assert document["error"]["code"] == 401  # type: ignore[index]


async def test_the_body_is_covered_by_the_signature(sim: Sim) -> None:
    signed_body = json.dumps([sim.bot.user_id]).encode()
    token = _token(sim, "POST", "/users/fetch", signed_body)
    response = await sim.http.post(
        "/users/fetch",
        content=json.dumps([FEE_USER_ID]).encode(),
        headers={"Authorization": f"Bearer {token}", "X-Request-Id": "r-1"},
    )
    assert response.status_code == 202 and response.json()["error"]["code"] == 401
    assert response.headers["x-request-id"] == "r-1"


async def _build(sim: Sim, recipient: str, units: int, request_id: str) -> tuple[Transaction, str]:
    outputs = await sim.client.all_outputs(asset=USDT_ERC20)
    selection = select_inputs(outputs, units)
    assert isinstance(selection, Selection)
    payees = [Payee((recipient,), units)]
    if selection.change(units):
        payees.append(Payee((sim.bot.user_id,), selection.change(units)))
    keys = await sim.client.ghost_keys(
        [
            GhostKeyRequest(p.members, i, f"{i:08d}-0000-4000-8000-{request_id[-12:]}")
            for i, p in enumerate(payees)
        ]
    )
    return build_transaction(USDT_ERC20, selection, payees, keys, b"memo"), request_id


async def test_a_bad_input_signature_is_rejected_and_nothing_moves(sim: Sim) -> None:
    user = sim.world.add_user("user").user_id
    sim.world.inject_transfer(user, sim.bot.user_id, USDT_ERC20, "3")
    tx, rid = await _build(sim, user, COIN, "1b0b0b0b-0000-4000-8000-000000000001")
    raw = tx.unsigned_bytes()
    registered = (await sim.client.create_transaction_requests([(rid, raw.hex())]))[0]
    assert (
        registered.state == "unspent" and registered.transaction_hash == transaction_hash(raw).hex()
    )
    wrong_seed = bytes(range(32))
    forged = sign_inputs(registered.views, wrong_seed, transaction_hash(raw))
    with pytest.raises(MixinDefinitive) as refused:
        await sim.client.submit_transactions(
            [(rid, tx.with_signatures([{0: forged[0]}]).encode().hex())]
        )
    assert refused.value.code == 2000003
    good = sign_inputs(registered.views, sim.keystore.require_spend_seed(), transaction_hash(raw))
    flipped = bytearray(good[0])
    flipped[40] ^= 1
    with pytest.raises(MixinDefinitive):
        await sim.client.submit_transactions(
            [(rid, tx.with_signatures([{0: bytes(flipped)}]).encode().hex())]
        )
    assert sim.world.balance(user, USDT_ERC20) == 0
    assert sim.world.balance(sim.bot.user_id, USDT_ERC20) == 3 * COIN
    # the genuine signature goes through, and submitting it again changes nothing
    signed = tx.with_signatures([{0: good[0]}]).encode().hex()
    done = (await sim.client.submit_transactions([(rid, signed)]))[0]
    assert done.state == "spent" and done.snapshot_id
    await sim.client.submit_transactions([(rid, signed)])
    assert sim.world.balance(user, USDT_ERC20) == COIN
    looked_up = await sim.client.transaction(rid)
    assert looked_up.snapshot_id == done.snapshot_id
    with pytest.raises(MixinNotFound):
        await sim.client.transaction("1b0b0b0b-0000-4000-8000-0000000000ff")


async def test_request_idempotency_and_input_locks(sim: Sim) -> None:
    user = sim.world.add_user("user").user_id
    sim.world.inject_transfer(user, sim.bot.user_id, USDT_ERC20, "3")
    tx, rid = await _build(sim, user, COIN, "2b0b0b0b-0000-4000-8000-000000000001")
    raw = tx.unsigned_bytes().hex()
    first = await sim.client.create_transaction_requests([(rid, raw)])
    again = await sim.client.create_transaction_requests([(rid, raw)])
    assert first[0].views == again[0].views
    other, _ = await _build(sim, user, 2 * COIN, rid)
    with pytest.raises(MixinDefinitive) as reused:
        await sim.client.create_transaction_requests([(rid, other.unsigned_bytes().hex())])
    assert reused.value.code == 20125
    with pytest.raises(MixinRetryable) as locked:
        await sim.client.create_transaction_requests(
            [("2b0b0b0b-0000-4000-8000-000000000002", other.unsigned_bytes().hex())]
        )
    assert locked.value.code == 2000002


async def test_unbalanced_or_unissued_outputs_are_refused(sim: Sim) -> None:
    user = sim.world.add_user("user").user_id
    sim.world.inject_transfer(user, sim.bot.user_id, USDT_ERC20, "3")
    tx, _ = await _build(sim, user, COIN, "3b0b0b0b-0000-4000-8000-000000000001")
    unbalanced = Transaction(tx.asset, tx.inputs, (tx.outputs[0],), extra=tx.extra)
    with pytest.raises(MixinDefinitive) as refused:
        await sim.client.create_transaction_requests(
            [("3b0b0b0b-0000-4000-8000-000000000002", unbalanced.unsigned_bytes().hex())]
        )
    assert refused.value.code == 10002
    made_up = Output(
        tx.outputs[0].amount, (bytes(31) + b"\x01",), tx.outputs[0].mask, threshold_script(1)
    )
    forged = Transaction(tx.asset, tx.inputs, (made_up, tx.outputs[1]), extra=tx.extra)
    with pytest.raises(MixinDefinitive) as refused:
        await sim.client.create_transaction_requests(
            [("3b0b0b0b-0000-4000-8000-000000000003", forged.unsigned_bytes().hex())]
        )
    assert refused.value.code == 2000001
    with pytest.raises(MixinDefinitive):
        await sim.client.create_transaction_requests([("not-a-uuid", "7777")])


async def test_snapshot_offsets_are_inclusive_and_order_desc_works(sim: Sim) -> None:
    user = sim.world.add_user("user").user_id
    for amount in ("1", "2", "3"):
        sim.world.inject_transfer(user, sim.bot.user_id, USDT_ERC20, amount)
    page = await sim.client.snapshots(limit=2)
    assert [s.amount for s in page] == [1, 2]
    nxt = await sim.client.snapshots(offset=page[-1].created_at, limit=2)
    assert nxt[0].snapshot_id == page[-1].snapshot_id  # inclusive: the client must dedupe
    assert [s.amount for s in await sim.client.snapshots(order="DESC", limit=5)] == [3, 2, 1]


def _inputs(selection: Selection) -> tuple[Input, ...]:
    return tuple(Input(bytes.fromhex(o.transaction_hash), o.output_index) for o in selection.inputs)


async def test_chain_deposit_and_withdrawal_with_fee(sim: Sim) -> None:
    entry = await sim.client.deposit_address(ETH_CHAIN)
    assert entry.destination.startswith("0x") and entry.is_primary
    assert (await sim.client.deposit_address(ETH_CHAIN)).destination == entry.destination
    sim.world.inject_chain_deposit(ETH_CHAIN, "0.5", entry.destination, deposit_hash="0xabc")
    pending = await sim.client.pending_deposits(asset=ETH_CHAIN)
    assert [(p.transaction_hash, p.state) for p in pending] == [("0xabc", "pending")]
    sim.world.confirm_deposits()
    assert await sim.client.pending_deposits() == []
    deposit = (await sim.client.snapshots())[0]
    assert deposit.deposit is not None and deposit.deposit.deposit_hash == "0xabc"
    assert deposit.opponent_id == ""
    fee = (await sim.client.withdrawal_fees(ETH_CHAIN))[0]
    fee_units = int(fee.amount * COIN)
    outputs = await sim.client.all_outputs(asset=ETH_CHAIN)
    selection = select_inputs(outputs, 20_000_000 + fee_units)
    assert isinstance(selection, Selection)
    keys = await sim.client.ghost_keys(
        [
            GhostKeyRequest((FEE_USER_ID,), 1, "4b0b0b0b-0000-4000-8000-000000000001"),
            GhostKeyRequest((sim.bot.user_id,), 2, "4b0b0b0b-0000-4000-8000-000000000002"),
        ]
    )
    change = selection.total - 20_000_000 - fee_units
    outs = (
        Output(20_000_000, type=0xA1, withdrawal=Withdrawal("0x" + "ab" * 20)),
        Output(fee_units, keys[0].keys, keys[0].mask, threshold_script(1)),
        Output(change, keys[1].keys, keys[1].mask, threshold_script(1)),
    )
    tx = Transaction(kernel_asset_id(ETH_CHAIN), _inputs(selection), outs)
    rid = "4b0b0b0b-0000-4000-8000-0000000000aa"
    registered = (await sim.client.create_transaction_requests([(rid, tx.unsigned_bytes().hex())]))[
        0
    ]
    sigs = sign_inputs(registered.views, sim.keystore.require_spend_seed(), tx.hash())
    await sim.client.submit_transactions(
        [(rid, tx.with_signatures([{0: s} for s in sigs]).encode().hex())]
    )
    out = next(s for s in await sim.client.snapshots() if s.request_id == rid)
    assert out.amount == -from_units(20_000_000 + fee_units, 8)
    assert out.withdrawal is not None and out.withdrawal.withdrawal_hash == ""
    sim.world.complete_withdrawals()
    out = next(s for s in await sim.client.snapshots() if s.request_id == rid)
    assert out.withdrawal is not None and out.withdrawal.withdrawal_hash.startswith("0x")
    assert sim.world.balance(FEE_USER_ID, ETH_CHAIN) == fee_units


async def test_withdrawal_without_its_fee_is_refused(sim: Sim) -> None:
    entry = await sim.client.deposit_address(ETH_CHAIN)
    sim.world.inject_chain_deposit(ETH_CHAIN, "0.5", entry.destination)
    sim.world.confirm_deposits()
    outputs = await sim.client.all_outputs(asset=ETH_CHAIN)
    selection = select_inputs(outputs, 1)
    assert isinstance(selection, Selection)
    tx = Transaction(
        kernel_asset_id(ETH_CHAIN),
        _inputs(selection),
        (Output(selection.total, type=0xA1, withdrawal=Withdrawal("0x" + "cd" * 20)),),
    )
    with pytest.raises(MixinRetryable) as refused:
        await sim.client.create_transaction_requests(
            [("5b0b0b0b-0000-4000-8000-0000000000aa", tx.unsigned_bytes().hex())]
        )
    assert refused.value.code == 20124


async def test_users_assets_and_oauth(sim: Sim) -> None:
    user = sim.world.add_user("Alice")
    assert (await sim.client.user(user.user_id)).full_name == "Alice"
    assert [u.user_id for u in await sim.client.users([user.user_id])] == [user.user_id]
    asset = await sim.client.asset(USDT_ERC20)
    assert asset.symbol == "USDT" and asset.kernel_asset_id == kernel_asset_id(USDT_ERC20).hex()
    assert [a.asset_id for a in await sim.client.assets([USDT_ERC20, ETH_CHAIN])] == [
        USDT_ERC20,
        ETH_CHAIN,
    ]
    secret = sim.world.register_oauth_app(sim.bot.user_id)
    code = sim.world.issue_oauth_code(sim.bot.user_id, user.user_id)
    token = await sim.client.oauth_exchange(code, secret)
    assert token.access_token and token.scope == "PROFILE:READ"
    assert (await sim.client.oauth_profile(token.access_token)).user_id == user.user_id
    with pytest.raises(MixinDefinitive):
        await sim.client.oauth_exchange(code, secret)  # a code is good once


async def test_hooks_over_http(sim: Sim) -> None:
    made = (await sim.http.post("/_sim/users", json={"full_name": "Hank"})).json()["data"]
    snapshot = (
        await sim.http.post(
            "/_sim/transfers",
            json={
                "sender_id": made["app_id"],
                "recipient_id": sim.bot.user_id,
                "asset_id": USDT_ERC20,
                "amount": "1.25",
                "memo_hex": b"hi".hex(),
            },
        )
    ).json()["data"]
    assert snapshot["amount"] == "1.25" and snapshot["memo"] == "6869"
    await sim.http.post(
        "/_sim/faults", json={"kind": "error", "code": 429, "path_prefix": "/safe/me"}
    )
    with pytest.raises(MixinRetryable):
        await sim.client.me()
    assert (await sim.client.me()).user_id == sim.bot.user_id
    await sim.http.post(f"/_sim/users/{made['app_id']}/safe", json={"has_safe": False})
    assert not (await sim.client.user(made["app_id"])).has_safe
    bad = (await sim.http.post("/_sim/transfers", json={"sender_id": "x"})).json()
    assert bad["error"]["code"] == 10002
