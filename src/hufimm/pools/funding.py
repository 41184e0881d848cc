"""Funding a pool through the ledger: the user's deposit is locked for a user order.

Until the full user-order lifecycle exists, operators and the demo seed pools this way; every
step is an idempotent ledger command (keys derived from the order id), so running it twice
funds the pool once.
"""

from __future__ import annotations

from decimal import Decimal

from hufimm.core.errors import HufimmError
from hufimm.ledger import Applied, DepositCredit, Duplicate, Ledger, Lock, Outcome, SharesSpec
from hufimm.pools.store import Pool, PoolStore


class FundingRefused(HufimmError):
    """The ledger refused a funding step (e.g. insufficient available funds)."""


def _ok(outcome: Outcome, what: str) -> None:
    original = outcome.original if isinstance(outcome, Duplicate) else outcome
    if not isinstance(original, Applied):
        raise FundingRefused(f"{what}: {original.reason.value} {original.detail}".rstrip())


async def fund_pool(
    ledger: Ledger,
    store: PoolStore,
    pool: Pool,
    *,
    user_id: str,
    order_id: str,
    base_units: int,
    quote_units: int,
    share_price: Decimal,
    deposit_first: bool = False,
) -> None:
    """Lock ``base_units`` and ``quote_units`` of ``user_id`` for ``order_id`` in ``pool``.

    ``deposit_first`` also credits the amounts from custody (what a Mixin deposit would do),
    for seeding a simulated world.  Shares are minted with the quote-side lock at
    ``share_price`` (quote per base), counting both locks.
    """
    store.join(pool.pool_id, order_id, user_id)
    legs = [(pool.base_asset_id, base_units), (pool.quote_asset_id, quote_units)]
    if deposit_first:
        for asset, units in legs:
            if units:
                _ok(
                    await ledger.submit(
                        DepositCredit(
                            idempotency_key=f"seed-deposit:{order_id}:{asset}",
                            ref_type="user_order",
                            ref_id=order_id,
                            owner=user_id,
                            asset_id=asset,
                            amount=units,
                        )
                    ),
                    "seed deposit",
                )
    spec = SharesSpec(pool.pool_id, pool.base_asset_id, pool.quote_asset_id, share_price)
    for index, (asset, units) in enumerate(legs):
        if units:
            _ok(
                await ledger.submit(
                    Lock(
                        idempotency_key=f"pool-lock:{order_id}:{asset}",
                        ref_type="user_order",
                        ref_id=order_id,
                        owner=user_id,
                        order_id=order_id,
                        asset_id=asset,
                        amount=units,
                        shares=spec if index == len(legs) - 1 else None,
                    )
                ),
                "lock",
            )
