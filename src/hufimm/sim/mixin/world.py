"""The state of the simulated Mixin and everything that changes it.

Users with sessions and spend keys, assets with fees, the UTXO set (monotonic ``sequence``),
snapshots on both sides of every movement, registered transaction requests, the ghost-key
registry and deposit entries.  The HTTP layer (:mod:`hufimm.sim.mixin.app`) only translates
requests into these methods; tests may call them directly (hooks such as
:meth:`MixinWorld.inject_transfer`) when they play the outside world.

Transactions are decoded strictly and checked as the kernel checks them
(:mod:`hufimm.sim.mixin.checks`).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hufimm.core.ids import IdFactory
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import TimeSource
from hufimm.mixin.kernel import (
    FEE_USER_ID,
    KernelDecodeError,
    base_mult,
    decode_transaction,
    ghost_public_key,
    kernel_asset_id,
    members_hash,
    public_key,
    reduce_wide,
    transaction_hash,
    unique_object_id,
)
from hufimm.sim.mixin.checks import (
    check_outputs,
    check_shape,
    resolve_inputs,
    verify_input_signatures,
)
from hufimm.sim.mixin.errors import (
    FORBIDDEN,
    INVALID_TRACE,
    NOT_FOUND,
    RECEIVERS_INVALID,
    RECIPIENT_NOT_REGISTERED,
    SimError,
    invalid,
)
from hufimm.sim.mixin.records import (
    DepositEntryRecord,
    GhostEntry,
    SimAsset,
    SimDeposit,
    SimOutput,
    SimRequest,
    SimSnapshot,
    SimUser,
    UserKeys,
    default_assets,
    format_amount,
    parse_amount,
)


@dataclass
class _Clock:
    """The world's time: the injected source plus what tests advanced it by."""

    source: TimeSource
    offset_ns: int = 0
    last_ns: int = 0

    def now(self) -> int:
        return self.source.time_ns() + self.offset_ns

    def stamp(self) -> int:
        """A strictly increasing timestamp: the kernel orders snapshots, so do we."""
        self.last_ns = max(self.now(), self.last_ns + 1)
        return self.last_ns


@dataclass
class MixinWorld:
    """All of the simulated Mixin's state.  Methods raise :class:`SimError` like the API."""

    time_source: TimeSource
    seed: int = 1
    hold_confirmations: bool = False
    users: dict[str, SimUser] = field(default_factory=dict)
    sessions: dict[str, SimUser] = field(default_factory=dict)
    assets: dict[str, SimAsset] = field(default_factory=dict)
    outputs: dict[str, SimOutput] = field(default_factory=dict)
    snapshots: dict[str, list[SimSnapshot]] = field(default_factory=dict)
    requests: dict[str, SimRequest] = field(default_factory=dict)
    ghosts: dict[bytes, GhostEntry] = field(default_factory=dict)
    entries: dict[tuple[str, str, int], DepositEntryRecord] = field(default_factory=dict)
    deposits: list[SimDeposit] = field(default_factory=list)
    withdrawal_hashes: dict[str, str] = field(default_factory=dict)
    oauth_codes: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    oauth_tokens: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = SeededRng(self.seed)
        self._ids = IdFactory(self.time_source, self._rng.child("ids"))
        self._key_rng = self._rng.child("keys")
        self._secret = self._rng.child("ghost-secret").randbytes(32)
        self.clock = _Clock(self.time_source)
        self._sequence = 0
        self._by_position: dict[tuple[str, int], str] = {}
        for asset in default_assets():
            self.assets[asset.asset_id] = asset
        self.add_user("Mixin fee", user_id=FEE_USER_ID)

    # ------------------------------------------------------------------ users and assets
    def add_user(
        self, full_name: str, *, user_id: str | None = None, has_safe: bool = True
    ) -> UserKeys:
        """Register a user (or bot) with fresh session and spend keys."""
        user_id = user_id or str(self._ids.fresh_uuid())
        session_seed = self._key_rng.randbytes(32)
        spend_seed = self._key_rng.randbytes(32)
        session_id = str(self._ids.fresh_uuid())
        user = SimUser(
            user_id=user_id,
            full_name=full_name,
            identity_number=str(7_000_000_000 + len(self.users)),
            session_id=session_id,
            session_public=public_key(session_seed),
            spend_public=public_key(spend_seed),
            has_safe=has_safe,
        )
        self.users[user_id] = user
        self.sessions[session_id] = user
        self.snapshots.setdefault(user_id, [])
        return UserKeys(user_id, session_id, session_seed.hex(), spend_seed.hex())

    def user(self, user_id: str) -> SimUser:
        user = self.users.get(user_id)
        if user is None:
            raise SimError(NOT_FOUND, f"user {user_id} not found")
        return user

    def set_has_safe(self, user_id: str, has_safe: bool) -> None:
        self.user(user_id).has_safe = has_safe

    def add_asset(self, asset: SimAsset) -> None:
        self.assets[asset.asset_id] = asset

    def asset(self, asset_id: str) -> SimAsset:
        asset = self.assets.get(asset_id)
        if asset is None:
            raise SimError(NOT_FOUND, f"asset {asset_id} not found")
        return asset

    def _asset_by_kernel(self, kernel: bytes) -> SimAsset | None:
        for asset in self.assets.values():
            if kernel_asset_id(asset.asset_id) == kernel:
                return asset
        return None

    # ------------------------------------------------------------------ ghost keys
    def _derive_view(self, *parts: str) -> bytes:
        digest = hashlib.sha512(self._secret + "|".join(parts).encode()).digest()
        return reduce_wide(digest)

    def ghost_keys(self, caller: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answers = []
        for item in items:
            try:
                receivers = tuple(str(uuid.UUID(r)) for r in item["receivers"])
                index = int(item["index"])
                hint = str(uuid.UUID(str(item["hint"])))
            except (KeyError, ValueError, TypeError):
                raise invalid("each key request needs receivers, index and a UUID hint") from None
            if not receivers or len(set(receivers)) != len(receivers):
                raise SimError(RECEIVERS_INVALID, "receivers empty or duplicated")
            for receiver in receivers:
                user = self.users.get(receiver)
                if user is not None and not user.has_safe:
                    raise SimError(RECIPIENT_NOT_REGISTERED, f"{receiver} has no Safe account")
            members = tuple(sorted(receivers))
            mask_scalar = self._derive_view("mask", hint, str(index), *members)
            mask = base_mult(mask_scalar)
            keys = []
            for receiver in members:
                view = self._derive_view("key", hint, str(index), receiver, *members)
                user = self.users.get(receiver)
                if user is not None and user.spend_public is not None:
                    key = ghost_public_key(view, user.spend_public)
                else:  # unknown spend key: a point nobody can spend from
                    key = base_mult(self._derive_view("blind", hint, receiver))
                self.ghosts.setdefault(key, GhostEntry(members, receiver, view, mask))
                keys.append(key)
            answers.append(
                {"type": "ghost_key", "mask": mask.hex(), "keys": [k.hex() for k in keys]}
            )
        return answers

    # ------------------------------------------------------------------ outputs and snapshots
    def _new_output(
        self,
        *,
        tx_hash: str,
        index: int,
        asset_id: str,
        units: int,
        keys: tuple[bytes, ...],
        mask: bytes,
        receivers: tuple[str, ...],
        threshold: int,
        extra: bytes,
        request_id: str,
        now: int,
    ) -> SimOutput:
        self._sequence += 1
        output = SimOutput(
            output_id=unique_object_id(tx_hash, ":", str(index)),
            transaction_hash=tx_hash,
            output_index=index,
            asset_id=asset_id,
            units=units,
            keys=keys,
            mask=mask,
            receivers=tuple(sorted(receivers)),
            threshold=threshold,
            extra=extra,
            sequence=self._sequence,
            request_id=request_id,
            created_at_ns=now,
        )
        self.outputs[output.output_id] = output
        self._by_position[(tx_hash, index)] = output.output_id
        return output

    def _pay(
        self,
        receiver: str,
        asset_id: str,
        units: int,
        *,
        tx_hash: str,
        index: int,
        extra: bytes,
        request_id: str,
        now: int,
    ) -> SimOutput:
        """An output to ``receiver`` from outside any transaction (injections, deposits)."""
        hint = unique_object_id(tx_hash, str(index))
        ghost = self.ghost_keys(receiver, [{"receivers": [receiver], "index": index, "hint": hint}])
        key = bytes.fromhex(ghost[0]["keys"][0])
        self.ghosts[key].used_by = tx_hash
        return self._new_output(
            tx_hash=tx_hash,
            index=index,
            asset_id=asset_id,
            units=units,
            keys=(key,),
            mask=bytes.fromhex(ghost[0]["mask"]),
            receivers=(receiver,),
            threshold=1,
            extra=extra,
            request_id=request_id,
            now=now,
        )

    def _snapshot(self, user_id: str, now: int, **fields: Any) -> SimSnapshot:
        snapshot = SimSnapshot(
            snapshot_id=str(self._ids.fresh_uuid()), user_id=user_id, created_at_ns=now, **fields
        )
        self.snapshots.setdefault(user_id, []).append(snapshot)
        return snapshot

    def list_snapshots(
        self,
        caller: str,
        *,
        asset: str | None = None,
        opponent: str | None = None,
        offset_ns: int | None = None,
        limit: int = 100,
        descending: bool = False,
    ) -> list[SimSnapshot]:
        """Ascending by ``(created_at, snapshot_id)``; the offset is inclusive on purpose."""
        items = [
            s
            for s in self.snapshots.get(caller, [])
            if (asset is None or s.asset_id == asset)
            and (opponent is None or s.opponent_id == opponent)
        ]
        items.sort(key=lambda s: (s.created_at_ns, s.snapshot_id), reverse=descending)
        if offset_ns is not None:
            if descending:
                items = [s for s in items if s.created_at_ns <= offset_ns]
            else:
                items = [s for s in items if s.created_at_ns >= offset_ns]
        return items[:limit]

    def list_outputs(
        self,
        caller: str,
        *,
        members: str,
        threshold: int,
        asset: str | None,
        state: str | None,
        offset: int | None,
        limit: int,
        descending: bool = False,
    ) -> list[SimOutput]:
        items = []
        for output in self.outputs.values():
            if caller not in output.receivers:
                continue
            if members_hash(output.receivers) != members or output.threshold != threshold:
                continue
            if asset and asset not in (output.asset_id, kernel_asset_id(output.asset_id).hex()):
                continue
            if state and output.state != state:
                continue
            if offset is not None and (
                output.sequence > offset if descending else output.sequence < offset
            ):
                continue
            items.append(output)
        items.sort(key=lambda o: o.sequence, reverse=descending)
        return items[:limit]

    def balance(self, user_id: str, asset_id: str) -> int:
        """Σ unspent outputs owned by ``user_id`` alone (what the Safe wallet shows)."""
        return sum(
            o.units
            for o in self.outputs.values()
            if o.receivers == (user_id,) and o.asset_id == asset_id and o.state == "unspent"
        )

    def balances(self, user_id: str) -> dict[str, int]:
        totals: dict[str, int] = {}
        for output in self.outputs.values():
            if output.receivers == (user_id,) and output.state == "unspent":
                totals[output.asset_id] = totals.get(output.asset_id, 0) + output.units
        return totals

    # ------------------------------------------------------------------ hooks: the outside world
    def inject_transfer(
        self,
        sender: str,
        recipient: str,
        asset_id: str,
        amount: Decimal | str,
        *,
        memo: bytes = b"",
        request_id: str | None = None,
    ) -> SimSnapshot:
        """A transfer made elsewhere (a user's wallet): output + snapshots on both sides."""
        units = parse_amount(str(amount))
        if units <= 0:
            raise invalid("amount must be positive")
        self.asset(asset_id)
        self.user(recipient)
        now = self.clock.stamp()
        request_id = request_id or str(self._ids.fresh_uuid())
        tx_hash = transaction_hash(f"inject:{request_id}:{now}".encode()).hex()
        self._pay(
            recipient,
            asset_id,
            units,
            tx_hash=tx_hash,
            index=0,
            extra=memo,
            request_id=request_id,
            now=now,
        )
        if sender in self.users:
            self._snapshot(
                sender,
                now,
                opponent_id=recipient,
                transaction_hash=tx_hash,
                asset_id=asset_id,
                units=-units,
                memo=memo,
                request_id=request_id,
            )
        return self._snapshot(
            recipient,
            now,
            opponent_id=sender,
            transaction_hash=tx_hash,
            asset_id=asset_id,
            units=units,
            memo=memo,
            request_id=request_id,
        )

    def deposit_entry(
        self, caller: str, chain_id: str, members: list[str], threshold: int
    ) -> DepositEntryRecord:
        if caller not in members:
            raise SimError(FORBIDDEN, "the caller must be a member of the deposit entry")
        chain = self.assets.get(chain_id)
        if chain is None or chain.chain_id != chain_id:
            raise invalid(f"unknown chain {chain_id}")
        key = (chain_id, members_hash(members), threshold)
        entry = self.entries.get(key)
        if entry is None:
            digest = hashlib.sha256(f"deposit:{chain_id}:{key[1]}:{threshold}".encode())
            entry = DepositEntryRecord(
                entry_id=unique_object_id(chain_id, key[1], str(threshold)),
                chain_id=chain_id,
                members=tuple(sorted(members)),
                threshold=threshold,
                destination="0x" + digest.hexdigest()[:40],
            )
            self.entries[key] = entry
        return entry

    def inject_chain_deposit(
        self,
        asset_id: str,
        amount: Decimal | str,
        destination: str,
        *,
        tag: str = "",
        sender: str = "0x" + "5e" * 20,
        deposit_hash: str | None = None,
        output_index: int = 0,
    ) -> SimDeposit:
        """An on-chain transfer to a deposit address: pending until :meth:`confirm_deposits`."""
        asset = self.asset(asset_id)
        entry = next((e for e in self.entries.values() if e.destination == destination), None)
        if entry is None or entry.chain_id != asset.chain_id:
            raise invalid(f"{destination} is not a deposit address on {asset.chain_id}")
        units = parse_amount(str(amount))
        if units <= 0:
            raise invalid("amount must be positive")
        now = self.clock.stamp()
        deposit_hash = (
            deposit_hash or "0x" + hashlib.sha256(f"{destination}:{now}".encode()).hexdigest()
        )
        deposit = SimDeposit(
            deposit_id=unique_object_id(deposit_hash, str(output_index)),
            destination=destination,
            tag=tag,
            chain_id=asset.chain_id,
            asset_id=asset_id,
            units=units,
            transaction_hash=deposit_hash,
            output_index=output_index,
            sender=sender,
            members=entry.members,
            threshold=asset.confirmations,
            created_at_ns=now,
        )
        self.deposits.append(deposit)
        return deposit

    def confirm_deposits(self) -> list[SimSnapshot]:
        """Every pending deposit reaches its confirmations: outputs and deposit snapshots."""
        made = []
        for deposit in self.deposits:
            if deposit.state != "pending":
                continue
            deposit.state = "confirmed"
            deposit.confirmations = deposit.threshold
            now = self.clock.stamp()
            owner = deposit.members[0]
            tx_hash = transaction_hash(f"deposit:{deposit.deposit_id}".encode()).hex()
            self._pay(
                owner,
                deposit.asset_id,
                deposit.units,
                tx_hash=tx_hash,
                index=0,
                extra=b"",
                request_id="",
                now=now,
            )
            made.append(
                self._snapshot(
                    owner,
                    now,
                    opponent_id="",
                    transaction_hash=tx_hash,
                    asset_id=deposit.asset_id,
                    units=deposit.units,
                    memo=b"",
                    request_id="",
                    deposit={
                        "deposit_hash": deposit.transaction_hash,
                        "deposit_index": deposit.output_index,
                        "sender": deposit.sender,
                        "destination": deposit.destination,
                        "tag": deposit.tag,
                    },
                )
            )
        return made

    def complete_withdrawals(self) -> dict[str, str]:
        """Broadcast pending withdrawals: each gets an on-chain hash in its snapshot."""
        done = {}
        for snapshots in self.snapshots.values():
            for snapshot in snapshots:
                if snapshot.withdrawal is not None and not snapshot.withdrawal["withdrawal_hash"]:
                    chain_hash = "0x" + hashlib.sha256(snapshot.snapshot_id.encode()).hexdigest()
                    snapshot.withdrawal["withdrawal_hash"] = chain_hash
                    self.withdrawal_hashes[snapshot.request_id] = chain_hash
                    done[snapshot.request_id] = chain_hash
        return done

    def pending_deposits(self, caller: str, **filters: str | None) -> list[SimDeposit]:
        return [
            d
            for d in self.deposits
            if d.state == "pending"
            and caller in d.members
            and all(not v or getattr(d, k) == v for k, v in filters.items())
        ]

    # ------------------------------------------------------------------ transactions
    def register_requests(self, caller: str, items: list[dict[str, Any]]) -> list[SimRequest]:
        """``POST /safe/transaction/requests``: validate every item, then reserve inputs."""
        planned: list[SimRequest] = []
        reserved_here: set[str] = set()
        now = self.clock.now()
        for item in items:
            request_id, raw = self._parse_item(item)
            existing = self.requests.get(request_id)
            if existing is not None:
                if existing.raw != raw or existing.user_id != caller:
                    raise SimError(
                        INVALID_TRACE, f"request_id {request_id} was used for another transaction"
                    )
                planned.append(existing)
                continue
            request = self._validate(caller, request_id, raw, reserved_here, now)
            reserved_here.update(request.input_ids)
            planned.append(request)
        for request in planned:
            if request.request_id not in self.requests:
                self.requests[request.request_id] = request
                for output_id in request.input_ids:
                    self.outputs[output_id].locked_by = request.request_id
        return planned

    @staticmethod
    def _parse_item(item: Any) -> tuple[str, bytes]:
        try:
            request_id = str(uuid.UUID(str(item["request_id"])))
            raw = bytes.fromhex(str(item["raw"]))
        except (KeyError, ValueError, TypeError):
            raise invalid("each item needs a UUID request_id and a hex raw") from None
        return request_id, raw

    def _validate(
        self, caller: str, request_id: str, raw: bytes, reserved_here: set[str], now: int
    ) -> SimRequest:
        try:
            tx = decode_transaction(raw)
        except KernelDecodeError as exc:
            raise invalid(f"raw transaction: {exc}") from None
        check_shape(tx)
        asset = self._asset_by_kernel(tx.asset)
        if asset is None:
            raise invalid("unknown asset")
        input_ids = resolve_inputs(
            tx, caller, request_id, asset, self._by_position, self.outputs, reserved_here
        )
        total_in = sum(self.outputs[i].units for i in input_ids)
        total_out = sum(o.amount for o in tx.outputs)
        if total_in != total_out:
            raise invalid(f"inputs {format_amount(total_in)} != outputs {format_amount(total_out)}")
        check_outputs(tx, asset, self.ghosts)
        views = tuple(self.ghosts[self.outputs[i].keys[0]].view for i in input_ids)
        return SimRequest(
            request_id=request_id,
            user_id=caller,
            raw=raw,
            tx=tx,
            tx_hash=transaction_hash(raw).hex(),
            input_ids=tuple(input_ids),
            created_at_ns=now,
            updated_at_ns=now,
            views=views,
        )

    def submit(self, caller: str, items: list[dict[str, Any]]) -> list[SimRequest]:
        """``POST /safe/transactions``: verify signatures, spend inputs, make outputs."""
        results = []
        for item in items:
            request_id, raw = self._parse_item(item)
            request = self.requests.get(request_id)
            if request is None or request.user_id != caller:
                raise SimError(NOT_FOUND, f"request {request_id} not found")
            try:
                signed = decode_transaction(raw)
            except KernelDecodeError as exc:
                raise invalid(f"signed raw: {exc}") from None
            if signed.unsigned_bytes() != request.raw:
                raise invalid("the signed transaction differs from the registered one")
            if request.state != "unspent":
                results.append(request)  # resubmission: idempotent
                continue
            keys = [self.outputs[output_id].keys[0] for output_id in request.input_ids]
            verify_input_signatures(keys, bytes.fromhex(request.tx_hash), signed)
            request.signed_raw = raw
            now = self.clock.now()
            request.state = "signed"
            request.updated_at_ns = now
            for output_id in request.input_ids:
                output = self.outputs[output_id]
                output.state = "signed"
                output.signed_at_ns = now
            if not self.hold_confirmations:
                self._finalize(request)
            results.append(request)
        return results

    def confirm_transactions(self) -> list[str]:
        """Finalize every signed transaction (with ``hold_confirmations``)."""
        done = []
        for request in self.requests.values():
            if request.state == "signed":
                self._finalize(request)
                done.append(request.request_id)
        return done

    def _finalize(self, request: SimRequest) -> None:
        now = self.clock.stamp()
        tx = request.tx
        asset = self._asset_by_kernel(tx.asset)
        assert asset is not None  # checked at registration
        for output_id in request.input_ids:
            spent = self.outputs[output_id]
            spent.state = "spent"
            spent.spent_at_ns = now
        paid: dict[tuple[str, ...], int] = {}
        withdrawal: dict[str, Any] | None = None
        for index, output in enumerate(tx.outputs):
            if output.withdrawal is not None:
                withdrawal = {"withdrawal_hash": "", "receiver": output.withdrawal.address}
                paid[()] = paid.get((), 0) + output.amount
                continue
            entry = self.ghosts[output.keys[0]]
            for key in output.keys:
                self.ghosts[key].used_by = request.tx_hash
            self._new_output(
                tx_hash=request.tx_hash,
                index=index,
                asset_id=asset.asset_id,
                units=output.amount,
                keys=output.keys,
                mask=output.mask,
                receivers=entry.receivers,
                threshold=output.script[-1],
                extra=tx.extra,
                request_id=request.request_id,
                now=now,
            )
            if entry.receivers != (request.user_id,):
                paid[entry.receivers] = paid.get(entry.receivers, 0) + output.amount
        sent = sum(paid.values())
        first = next(iter(paid), ())
        sender_snapshot = self._snapshot(
            request.user_id,
            now,
            opponent_id=first[0] if len(first) == 1 else "",
            transaction_hash=request.tx_hash,
            asset_id=asset.asset_id,
            units=-sent,
            memo=tx.extra,
            request_id=request.request_id,
            withdrawal=withdrawal,
        )
        for receivers, units in paid.items():
            if len(receivers) == 1 and receivers[0] in self.users:
                self._snapshot(
                    receivers[0],
                    now,
                    opponent_id=request.user_id,
                    transaction_hash=request.tx_hash,
                    asset_id=asset.asset_id,
                    units=units,
                    memo=tx.extra,
                    request_id=request.request_id,
                )
        request.state = "spent"
        request.snapshot_id = sender_snapshot.snapshot_id
        request.snapshot_at_ns = now
        request.updated_at_ns = now

    def render(self, request: SimRequest) -> dict[str, Any]:
        return request.to_json(self.ghosts, self.withdrawal_hashes.get(request.request_id, ""))

    def request_of(self, caller: str, request_id: str) -> SimRequest:
        request = self.requests.get(request_id)
        if request is None or request.user_id != caller:
            raise SimError(NOT_FOUND, f"request {request_id} not found")
        return request

    # ------------------------------------------------------------------ OAuth
    def register_oauth_app(self, app_id: str) -> str:
        secret = self._key_rng.randbytes(32).hex()
        self.user(app_id).oauth_secret = secret
        return secret

    def issue_oauth_code(self, app_id: str, user_id: str, scope: str = "PROFILE:READ") -> str:
        self.user(user_id)
        code = self._key_rng.randbytes(16).hex()
        self.oauth_codes[code] = (app_id, user_id, scope)
        return code

    def exchange_oauth_code(self, client_id: str, code: str, client_secret: str) -> dict[str, str]:
        grant = self.oauth_codes.pop(code, None)
        app = self.users.get(client_id)
        if grant is None or grant[0] != client_id or app is None:
            raise SimError(FORBIDDEN, "invalid authorization code")
        if not app.oauth_secret or app.oauth_secret != client_secret:
            raise SimError(FORBIDDEN, "invalid client secret")
        token = self._key_rng.randbytes(32).hex()
        self.oauth_tokens[token] = grant[1]
        return {"access_token": token, "scope": grant[2]}
