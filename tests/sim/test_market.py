"""The simulated market: reproducible from its seed, and its takers fill resting orders."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hufimm.core.errors import InvalidInput
from hufimm.core.timesource import VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.market import Side
from hufimm.sim.exchange import SimExchange, parse_accounts
from tests.exchange.harness import MM, SYMBOL, make_venue


def _trades(seed: int, seconds: float) -> tuple[list[tuple[int, Decimal, Decimal]], Decimal]:
    time_source = VirtualTimeSource()
    venue = make_venue(time_source, seed=seed)

    async def main() -> None:
        await venue.start()
        await time_source.sleep(seconds)
        await venue.stop()

    run_virtual(main(), time_source)
    rows = venue.engine.account_trades("market:taker", SYMBOL)
    return [(r.trade.trade_id, r.trade.price, r.trade.qty) for r in rows], venue.market.reference(
        SYMBOL
    )


def test_the_market_replays_from_its_seed() -> None:
    first, ref1 = _trades(3, 120)
    again, ref2 = _trades(3, 120)
    other, ref3 = _trades(4, 120)
    assert len(first) > 100
    assert (first, ref1) == (again, ref2)
    assert first != other and ref1 != ref3


def test_takers_fill_our_resting_order() -> None:
    time_source = VirtualTimeSource()
    venue: SimExchange = make_venue(time_source)

    async def main() -> str:
        await venue.start()
        best_ask = venue.engine.best(SYMBOL)[1]
        assert best_ask is not None
        venue.place(MM.name, SYMBOL, Side.BUY, best_ask - Decimal("0.01"), Decimal("0.01"), "ours")
        for _ in range(600):
            if venue.order(MM.name, SYMBOL, client_order_id="ours").status == "FILLED":
                break
            await time_source.sleep(1)
        await venue.stop()
        return venue.order(MM.name, SYMBOL, client_order_id="ours").status

    assert run_virtual(main(), time_source) == "FILLED"
    makers = {
        row.trade.maker.client_order_id for row in venue.engine.account_trades(MM.name, SYMBOL)
    }
    assert makers == {"ours"}


def test_accounts_file() -> None:
    accounts = parse_accounts(
        """
        [[account]]
        name = "mm"
        api_key = "k1"
        secret = "s1"
        balances = { BTC = "10", USDT = "100000.5" }

        [[account]]
        api_key = "k2"
        secret = "s2"
        """
    )
    assert [(a.name, a.api_key) for a in accounts] == [("mm", "k1"), ("k2", "k2")]
    assert accounts[0].balances == {"BTC": Decimal(10), "USDT": Decimal("100000.5")}
    for bad in (
        "[[account]]\napi_key = 'k'\n",
        "[[account]]\napi_key = 'k'\nsecret = 's'\nbalances = { BTC = 'x' }\n",
        "[[account]]\napi_key = 'k'\nsecret = 's'\nbalances = { BTC = '-1' }\n",
        "[[account]]\napi_key = 'k'\nsecret = 's'\n[[account]]\napi_key = 'k'\nsecret = 't'\n",
        "nothing = 1\n",
    ):
        with pytest.raises(InvalidInput):
            parse_accounts(bad)
