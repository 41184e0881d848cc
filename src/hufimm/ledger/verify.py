"""Verification: re-fold every journal and check the ledger's invariants (DESIGN §4).

Journals, entries and share entries are streamed together in id order (the writer assigns all
three in the same order, so this is a merge, not a join) and folded into balances per account,
locks per order and outstanding shares per order.  Checked along the way and at the end:

- every applied journal balances per asset and records something; a rejected one records nothing;
- a journal's entries are exactly its recorded id range, of types its journal type allows;
- no user or system account other than ``custody:*``/``pnl:*`` is ever negative, no lock either;
- each entry's ``available_after``/``locked_after`` equals the fold after its journal;
- a reward clearing account is exactly zero after every distribution from it;
- shares: a mint only when none is outstanding and only with LOCK/SHARE_MINT, a burn of exactly
  the outstanding amount only with UNLOCK/SHARE_BURN, no shares left on an order with no funds;
- the read model (balances, locks) equals the fold, row for row.

Memory grows with the number of accounts and orders, not with the number of entries.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from hufimm.core.errors import InvalidInput
from hufimm.ledger.accounts import EXTERNAL_KINDS, OwnerKind, owner_kind
from hufimm.ledger.commands import JournalType
from hufimm.ledger.outcomes import RejectReason, ShareKind
from hufimm.ledger.tables import balances, entries, journals, locks, share_entries
from hufimm.store.db import Database

_ENTRY_TYPES: dict[str, frozenset[str]] = {t.value: frozenset({t.value}) for t in JournalType}
_ENTRY_TYPES[JournalType.WITHDRAW_DEBIT.value] = frozenset(
    {JournalType.WITHDRAW_DEBIT.value, JournalType.FEE_DEBIT.value}
)
_MINT_TYPES = frozenset({JournalType.LOCK.value, JournalType.SHARE_MINT.value})
_BURN_TYPES = frozenset({JournalType.UNLOCK.value, JournalType.SHARE_BURN.value})
_REASONS = frozenset(r.value for r in RejectReason)
_STREAM = 5000


@dataclass
class VerifyReport:
    """The verdict: ``ok`` when no invariant is violated; the first violations are listed."""

    violations: list[str] = field(default_factory=list)
    violation_count: int = 0
    journals: int = 0
    applied: int = 0
    rejected: int = 0
    entries: int = 0
    share_entries: int = 0
    accounts: int = 0
    orders_with_funds: int = 0
    orders_in_market_making: int = 0
    undistributed_clearing: int = 0
    max_listed: int = 50

    @property
    def ok(self) -> bool:
        return self.violation_count == 0

    def violate(self, message: str) -> None:
        self.violation_count += 1
        if len(self.violations) < self.max_listed:
            self.violations.append(message)

    def summary(self) -> list[str]:
        return [
            f"journals: {self.journals} ({self.applied} applied, {self.rejected} rejected)",
            f"entries: {self.entries}, share entries: {self.share_entries}",
            f"accounts: {self.accounts}, orders with locked funds: {self.orders_with_funds}, "
            f"orders in market making: {self.orders_in_market_making}",
            f"reward clearing accounts awaiting distribution: {self.undistributed_clearing}",
            "verdict: OK" if self.ok else f"verdict: {self.violation_count} violation(s)",
        ]


def _stream(conn: Connection, stmt: Any) -> Iterator[Any]:
    result = conn.execution_options(stream_results=True, yield_per=_STREAM).execute(stmt)
    yield from result


class _Fold:
    """Balances, locks and shares as the entries say they are."""

    def __init__(self, report: VerifyReport) -> None:
        self.report = report
        self.accounts: dict[tuple[str, str], list[int]] = {}
        self.locks: dict[tuple[str, str], int] = {}
        self.lock_owner: dict[str, str] = {}
        self.shares: dict[str, int] = {}  # outstanding per order
        self.clearing_distributed: set[tuple[str, str]] = set()
        self._kinds: dict[str, OwnerKind | None] = {}

    def kind(self, owner: str) -> OwnerKind | None:
        if owner not in self._kinds:
            try:
                self._kinds[owner] = owner_kind(owner)
            except InvalidInput:
                self._kinds[owner] = None
                self.report.violate(f"malformed owner {owner!r}")
        return self._kinds[owner]

    def journal(self, j: Any, posted: list[Any], shares: list[Any]) -> None:
        report = self.report
        jid = j.journal_id
        if j.status == "rejected":
            report.rejected += 1
            if j.reason not in _REASONS:
                report.violate(f"journal {jid}: rejected with unknown reason {j.reason!r}")
            if posted or shares:
                report.violate(f"journal {jid}: rejected but has entries")
            return
        if j.status != "applied":
            report.violate(f"journal {jid}: unknown status {j.status!r}")
            return
        report.applied += 1
        if not posted and not shares:
            report.violate(f"journal {jid}: applied but records nothing")
        ids = [e.entry_id for e in posted]
        first = j.first_entry_id
        if j.entry_count != len(ids) or (
            ids and ids != list(range(first or 0, (first or 0) + j.entry_count))
        ):
            report.violate(
                f"journal {jid}: records entries {first}+{j.entry_count}, has {ids[:5]}..."
            )
        sums: Counter[str] = Counter()
        touched: dict[tuple[str, str], list[Any]] = {}
        allowed = _ENTRY_TYPES.get(j.type, frozenset())
        for e in posted:
            self._entry(j, e, allowed)
            sums[e.asset_id] += e.amount
            touched.setdefault((e.owner, e.asset_id), []).append(e)
        for asset, total in sums.items():
            if total != 0:
                report.violate(f"journal {jid}: {asset} postings sum to {total}, not 0")
        for key, posted_here in touched.items():
            live = self.accounts[key]
            kind = self.kind(key[0])
            if kind not in EXTERNAL_KINDS and (live[0] < 0 or live[1] < 0):
                report.violate(f"journal {jid}: {key[0]} {key[1]} negative {live}")
            for e in posted_here:
                if (e.available_after, e.locked_after) != (live[0], live[1]):
                    report.violate(
                        f"entry {e.entry_id}: records balance ({e.available_after}, "
                        f"{e.locked_after}) after journal {jid}, the fold says {tuple(live)}"
                    )
            if kind is OwnerKind.CLEARING and j.type == JournalType.REWARD_CREDIT.value:
                self.clearing_distributed.add(key)
                if live[0] != 0:
                    report.violate(
                        f"journal {jid}: clearing account {key[0]} left at {live[0]} "
                        "after its distribution"
                    )
        for s in shares:
            self._share(j, s)

    def _entry(self, j: Any, e: Any, allowed: frozenset[str]) -> None:
        report = self.report
        where = f"entry {e.entry_id} (journal {j.journal_id})"
        if e.type not in allowed:
            report.violate(f"{where}: type {e.type} inside a {j.type} journal")
        if e.amount == 0:
            report.violate(f"{where}: zero amount")
        kind = self.kind(e.owner)
        account = self.accounts.setdefault((e.owner, e.asset_id), [0, 0])
        if e.order_id is None:
            account[0] += e.amount
            return
        if kind is not OwnerKind.USER:
            report.violate(f"{where}: {e.owner} is not a user but locks funds")
        owner = self.lock_owner.setdefault(e.order_id, e.owner)
        if owner != e.owner:
            report.violate(f"{where}: order {e.order_id} belongs to {owner}, not {e.owner}")
        account[1] += e.amount
        key = (e.order_id, e.asset_id)
        self.locks[key] = self.locks.get(key, 0) + e.amount
        if self.locks[key] < 0:
            report.violate(f"{where}: order {e.order_id} locks a negative {e.asset_id}")

    def _share(self, j: Any, s: Any) -> None:
        report = self.report
        where = f"share entry {s.share_entry_id} (journal {j.journal_id})"
        if s.created_at != j.created_at:
            report.violate(f"{where}: time differs from its journal")
        if s.shares <= 0:
            report.violate(f"{where}: non-positive shares {s.shares}")
        owner = self.lock_owner.get(s.order_id)
        if owner != s.owner:
            report.violate(f"{where}: order {s.order_id} belongs to {owner}, not {s.owner}")
        outstanding = self.shares.get(s.order_id)
        if s.kind == ShareKind.MINT.value:
            if j.type not in _MINT_TYPES:
                report.violate(f"{where}: mint inside a {j.type} journal")
            if outstanding is not None:
                report.violate(f"{where}: order {s.order_id} minted over outstanding shares")
            if s.price is None:
                report.violate(f"{where}: mint without its price")
            self.shares[s.order_id] = s.shares
        elif s.kind == ShareKind.BURN.value:
            if j.type not in _BURN_TYPES:
                report.violate(f"{where}: burn inside a {j.type} journal")
            if outstanding != s.shares:
                report.violate(f"{where}: burns {s.shares}, outstanding {outstanding}")
            self.shares.pop(s.order_id, None)
        else:
            report.violate(f"{where}: unknown kind {s.kind!r}")


def _take_matching(
    rows: Iterator[Any], pending: list[Any], jid: int, id_column: str, report: VerifyReport
) -> list[Any]:
    """Rows of journal ``jid`` from an id-ordered stream (entries of one journal are adjacent)."""
    taken: list[Any] = []
    while True:
        if not pending:
            row = next(rows, None)
            if row is None:
                return taken
            pending.append(row)
        row = pending[0]
        if row.journal_id < jid:
            report.violate(
                f"{id_column} {getattr(row, id_column)}: journal {row.journal_id} missing "
                "or out of order"
            )
            pending.pop()
            continue
        if row.journal_id > jid:
            return taken
        taken.append(pending.pop())


def verify(db: Database, max_listed: int = 50) -> VerifyReport:
    """Check every invariant over the whole ledger; never modifies anything."""
    report = VerifyReport(max_listed=max_listed)
    fold = _Fold(report)
    with db.read(consistent=True) as conn:
        entry_rows = _stream(conn, select(entries).order_by(entries.c.entry_id))
        share_rows = _stream(conn, select(share_entries).order_by(share_entries.c.share_entry_id))
        entry_pending: list[Any] = []
        share_pending: list[Any] = []
        for j in _stream(conn, select(journals).order_by(journals.c.journal_id)):
            report.journals += 1
            posted = _take_matching(entry_rows, entry_pending, j.journal_id, "entry_id", report)
            shares = _take_matching(
                share_rows, share_pending, j.journal_id, "share_entry_id", report
            )
            report.entries += len(posted)
            report.share_entries += len(shares)
            fold.journal(j, posted, shares)
        for leftover in [*entry_pending, *entry_rows]:
            report.violate(f"entry {leftover.entry_id}: journal {leftover.journal_id} missing")
        for leftover in [*share_pending, *share_rows]:
            report.violate(
                f"share entry {leftover.share_entry_id}: journal {leftover.journal_id} missing"
            )
        model_balances = {
            (r.owner, r.asset_id): (r.available, r.locked) for r in _stream(conn, select(balances))
        }
        model_locks = {
            (r.order_id, r.asset_id): (r.owner, r.amount) for r in _stream(conn, select(locks))
        }
    _compare_read_model(fold, model_balances, model_locks, report)
    return report


def _compare_read_model(
    fold: _Fold,
    model_balances: dict[tuple[str, str], tuple[int, int]],
    model_locks: dict[tuple[str, str], tuple[str, int]],
    report: VerifyReport,
) -> None:
    for key, live in fold.accounts.items():
        row = model_balances.get(key)
        if row != (live[0], live[1]):
            report.violate(f"read model: {key[0]} {key[1]} is {row}, the fold says {tuple(live)}")
    for key in model_balances.keys() - fold.accounts.keys():
        report.violate(f"read model: {key[0]} {key[1]} has a balance but no entries")
    for key, amount in fold.locks.items():
        lock_row = model_locks.get(key)
        expected = (fold.lock_owner[key[0]], amount)
        if lock_row != expected:
            report.violate(
                f"read model: lock {key[0]} {key[1]} is {lock_row}, the fold says {expected}"
            )
    for key in model_locks.keys() - fold.locks.keys():
        report.violate(f"read model: lock {key[0]} {key[1]} has no entries")
    funded: set[str] = {order for (order, _), amount in fold.locks.items() if amount > 0}
    for order, shares in fold.shares.items():
        if order not in funded:
            report.violate(f"order {order}: {shares} shares outstanding but no funds locked")
    report.accounts = len(fold.accounts)
    report.orders_with_funds = len(funded)
    report.orders_in_market_making = len(fold.shares)
    report.undistributed_clearing = sum(
        1
        for key, live in fold.accounts.items()
        if fold.kind(key[0]) is OwnerKind.CLEARING and live[0] != 0
    )
