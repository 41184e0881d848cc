"""An exact, fast L2 order book.

Prices and quantities arrive as decimal text (the venue's wire format) and are kept exact.  The
hot path is applying diffs, so each side keeps three structures:

* ``price text -> qty text``, updated per message with ``dict.update``: a diff of levels we
  already know costs no Python-level work per level and no number parsing;
* ``price units <-> text``: a new price is parsed once, and a venue spelling one price two ways
  still maps to one level;
* a sorted list of integer keys with the best level at its end; removed levels are dropped
  lazily when they reach the end.

Price units are integers at ``price_scale`` decimals, so ordering and comparisons are exact
integer operations; quantities are parsed to ``Decimal`` only when someone reads depth.  A value
with more decimals than the book's scale is refused (``ValueError``): the caller treats that as a
corrupt message and resyncs.
"""

from __future__ import annotations

import hashlib
from bisect import insort
from collections.abc import Iterable, Iterator
from decimal import Decimal

from hufimm.core.money import MONEY_CONTEXT, from_units
from hufimm.market.types import Side

Level = tuple[Decimal, Decimal]
TextLevel = tuple[str, str]


def parse_units(text: str, scale: int) -> int:
    """Exact integer units of a non-negative decimal string at ``scale`` decimals."""
    dot = text.find(".")
    if dot < 0:
        digits, decimals = text, 0
    else:
        digits, decimals = text[:dot] + text[dot + 1 :], len(text) - dot - 1
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"not a non-negative decimal: {text!r}")
    if decimals == scale:  # the venue's usual fixed format
        return int(digits)
    if decimals < scale:
        return int(digits + "0" * (scale - decimals))
    cut = decimals - scale
    if digits[-cut:].strip("0"):
        raise ValueError(f"{text!r} has more than {scale} decimals")
    return int(digits[:-cut] or "0")


def as_text(value: str | Decimal) -> str:
    """Fixed-point text of a price or quantity (``Decimal`` may print in exponent form)."""
    return value if isinstance(value, str) else format(value, "f")


def text_pairs(levels: Iterable[tuple[str | Decimal, str | Decimal]]) -> list[tuple[str, str]]:
    """Levels as fixed-point text pairs.

    ``str()`` is several times faster than fixed-point formatting and gives the same text for
    every value a venue sends, except exponent forms (``0E-8``, ``1E+3``): those few are redone.
    """
    pairs = [(str(p), str(q)) for p, q in levels]
    for price, qty in pairs:
        if "E" in price or "E" in qty:
            return [(_fixed(p), _fixed(q)) for p, q in pairs]
    return pairs


def _fixed(text: str) -> str:
    return format(Decimal(text), "f") if "E" in text else text


class BookSide:
    """One side of the book; ``descending`` for bids (best = highest).

    ``_qty`` maps price text to quantity text; a message naming only known prices is applied with
    one ``dict.update`` (C speed).  A level whose quantity becomes zero stays in the map as a zero
    until it surfaces at the best end of the side (then it is dropped) or a compaction runs.
    A message naming a price not currently in the map is applied pair by pair: the new price
    gets its integer units (parsed once and remembered) and is inserted into ``_keys``, a list
    sorted so that the best level is at its end: popping a dead best level is O(1) and new
    levels arrive near the end.
    """

    __slots__ = (
        "_admitted",
        "_keys",
        "_qty",
        "_scale",
        "_sign",
        "_text_of",
        "_units_of",
        "descending",
    )

    def __init__(self, scale: int, descending: bool) -> None:
        self._scale = scale
        self.descending = descending
        self._sign = 1 if descending else -1  # key = sign * units, best key = largest
        self._qty: dict[str, str] = {}  # price text -> qty text ("0..." = removed)
        self._units_of: dict[str, int] = {}  # price text -> price units (parse cache)
        self._text_of: dict[int, str] = {}  # key -> price text, for keys in _keys
        self._keys: list[int] = []  # sorted ascending; best level last
        self._admitted = 0  # levels admitted since the last compaction check

    def __len__(self) -> int:
        return sum(1 for q in self._qty.values() if q.strip("0."))

    def clear(self) -> None:
        self._qty.clear()
        self._units_of.clear()
        self._text_of.clear()
        self._keys.clear()

    def apply_pairs(self, pairs: list[list[str]] | list[tuple[str, str]]) -> None:
        """Set each ``(price, qty)`` level in order; a zero quantity removes the level."""
        qty = self._qty
        if [price for price, _ in pairs if price not in qty]:
            self.apply_pairs_with_new_prices(pairs)
        else:
            qty.update(pairs)  # type: ignore[arg-type]  # any 2-item sequences work

    def apply_pairs_with_new_prices(self, pairs: list[list[str]] | list[tuple[str, str]]) -> None:
        """The careful path, pair by pair, for a message that names a price not in the map."""
        sign, qty, units_of, text_of, keys = (
            self._sign,
            self._qty,
            self._units_of,
            self._text_of,
            self._keys,
        )
        for price, amount in pairs:
            if price in qty:
                qty[price] = amount
                continue
            units = units_of.get(price)
            if units is None:
                units = units_of[price] = parse_units(price, self._scale)
            key = sign * units
            known = text_of.get(key)
            if known is not None:  # the same price spelled differently: keep one spelling
                qty[known] = amount
                continue
            qty[price] = amount
            text_of[key] = price
            insort(keys, key)
            self._admitted += 1
        if self._admitted > 4096:  # amortised: counting dead levels costs a scan
            self._admitted = 0
            if len(keys) > 512 and len(keys) > 2 * len(self):
                self._compact()

    def _compact(self) -> None:
        """Forget removed levels (bounded memory however far the market drifts)."""
        dead = [price for price, q in self._qty.items() if not q.strip("0.")]
        for price in dead:
            del self._qty[price]
            del self._text_of[self._sign * self._units_of.pop(price)]
        self._units_of = {p: u for p, u in self._units_of.items() if p in self._qty}
        self._keys = sorted(self._text_of)

    def apply(self, price: str, qty: str) -> None:
        self.apply_pairs([(price, qty)])

    def best_units(self) -> int | None:
        keys, qty, text_of = self._keys, self._qty, self._text_of
        while keys:
            key = keys[-1]
            text = text_of[key]
            if qty[text].strip("0."):
                return self._sign * key
            keys.pop()  # a removed level reached the top: forget it now
            del qty[text], text_of[key]
        return None

    def iter_text(self) -> Iterator[tuple[int, str, str]]:
        """``(price_units, price_text, qty_text)`` of live levels, best first."""
        qty, text_of, sign = self._qty, self._text_of, self._sign
        for key in reversed(self._keys):
            text = text_of[key]
            amount = qty[text]
            if amount.strip("0."):
                yield sign * key, text, amount

    def qty_text(self, units: int) -> str | None:
        text = self._text_of.get(self._sign * units)
        if text is None:
            return None
        amount = self._qty[text]
        return amount if amount.strip("0.") else None


class OrderBook:
    """An L2 book for one market: snapshot + diffs, exact reads."""

    __slots__ = ("asks", "bids", "price_scale", "seq", "symbol")

    def __init__(self, symbol: str, price_scale: int = 8) -> None:
        self.symbol = symbol
        self.price_scale = price_scale
        self.bids = BookSide(price_scale, descending=True)
        self.asks = BookSide(price_scale, descending=False)
        self.seq = 0  # last sequence applied (venue's update id)

    # ------------------------------------------------------------------ writes
    def load_snapshot(
        self,
        seq: int,
        bids: Iterable[tuple[str | Decimal, str | Decimal]],
        asks: Iterable[tuple[str | Decimal, str | Decimal]],
    ) -> None:
        """Replace the whole book."""
        self.bids.clear()
        self.asks.clear()
        self.apply_diff(seq, bids, asks)

    def apply_diff(
        self,
        seq: int,
        bids: Iterable[tuple[str | Decimal, str | Decimal]],
        asks: Iterable[tuple[str | Decimal, str | Decimal]],
    ) -> None:
        """Apply absolute level quantities (zero deletes); sequence checks are the caller's."""
        self.bids.apply_pairs(text_pairs(bids))
        self.asks.apply_pairs(text_pairs(asks))
        self.seq = seq

    def apply_text_diff(self, seq: int, bids: list[list[str]], asks: list[list[str]]) -> None:
        """:meth:`apply_diff` for wire-format text pairs, without per-level conversion."""
        # BookSide.apply_pairs inlined: this is the tracker's hottest loop.
        if bids:
            qty = self.bids._qty
            if [price for price, _ in bids if price not in qty]:
                self.bids.apply_pairs_with_new_prices(bids)
            else:
                qty.update(bids)  # type: ignore[arg-type]  # 2-item lists work
        if asks:
            qty = self.asks._qty
            if [price for price, _ in asks if price not in qty]:
                self.asks.apply_pairs_with_new_prices(asks)
            else:
                qty.update(asks)  # type: ignore[arg-type]  # 2-item lists work
        self.seq = seq

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self.seq = 0

    # ------------------------------------------------------------------ reads
    def _side(self, side: Side) -> BookSide:
        """The side an order of ``side`` rests on (buy orders rest on the bid side)."""
        return self.bids if side is Side.BUY else self.asks

    def _level(self, book_side: BookSide) -> Level | None:
        units = book_side.best_units()
        if units is None:
            return None
        qty = book_side.qty_text(units)
        assert qty is not None
        return from_units(units, self.price_scale), Decimal(qty)

    def best_bid(self) -> Level | None:
        return self._level(self.bids)

    def best_ask(self) -> Level | None:
        return self._level(self.asks)

    def best_bid_units(self) -> int | None:
        return self.bids.best_units()

    def best_ask_units(self) -> int | None:
        return self.asks.best_units()

    def is_crossed(self) -> bool:
        bid, ask = self.bids.best_units(), self.asks.best_units()
        return bid is not None and ask is not None and bid >= ask

    def mid(self) -> Decimal | None:
        bid, ask = self.bids.best_units(), self.asks.best_units()
        if bid is None or ask is None:
            return None
        return MONEY_CONTEXT.divide(from_units(bid + ask, self.price_scale), Decimal(2))

    def spread(self) -> Decimal | None:
        bid, ask = self.bids.best_units(), self.asks.best_units()
        if bid is None or ask is None:
            return None
        return from_units(ask - bid, self.price_scale)

    def microprice(self) -> Decimal | None:
        """Size-weighted mid: leans toward the side with less size (the likelier next move)."""
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None or ask is None:
            return None
        (bp, bq), (ap, aq) = bid, ask
        total = bq + aq
        if total == 0:
            return self.mid()
        ctx = MONEY_CONTEXT
        value = ctx.divide(ctx.add(ctx.multiply(bp, aq), ctx.multiply(ap, bq)), total)
        # A reference price, not an amount: four digits finer than the book's prices suffice.
        return value.quantize(Decimal(1).scaleb(-(self.price_scale + 4)), context=ctx)

    def levels(self, side: Side, limit: int | None = None) -> list[Level]:
        """Levels of the side a ``side`` order rests on, best first."""
        out: list[Level] = []
        for units, _, qty in self._side(side).iter_text():
            if limit is not None and len(out) >= limit:
                break
            out.append((from_units(units, self.price_scale), Decimal(qty)))
        return out

    def depth_to_price(self, side: Side, limit_price: Decimal) -> Decimal:
        """Total quantity resting on ``side`` at prices at least as good as ``limit_price``."""
        limit_units = int(MONEY_CONTEXT.multiply(limit_price, Decimal(10) ** self.price_scale))
        total = Decimal(0)
        for units, _, qty in self._side(side).iter_text():
            if (units < limit_units) if side is Side.BUY else (units > limit_units):
                break
            total = MONEY_CONTEXT.add(total, Decimal(qty))
        return total

    def vwap(self, side: Side, size: Decimal) -> Decimal | None:
        """Average price to *take* ``size`` by a ``side`` order (a buy consumes the asks).

        ``None`` when the book does not hold that much.
        """
        if size <= 0:
            raise ValueError("size must be positive")
        book_side = self.asks if side is Side.BUY else self.bids
        remaining, cost = size, Decimal(0)
        for units, _, qty_text in book_side.iter_text():
            qty = Decimal(qty_text)
            take = qty if qty < remaining else remaining
            cost = MONEY_CONTEXT.add(
                cost, MONEY_CONTEXT.multiply(take, from_units(units, self.price_scale))
            )
            remaining = MONEY_CONTEXT.subtract(remaining, take)
            if remaining == 0:
                return MONEY_CONTEXT.divide(cost, size)
        return None

    def fingerprint(self, depth: int = 50) -> str:
        """A digest of the top ``depth`` levels, spelling-independent, for comparing books."""
        digest = hashlib.sha256()
        for book_side in (self.bids, self.asks):
            for count, (units, _, qty) in enumerate(book_side.iter_text()):
                if count >= depth:
                    break
                digest.update(f"{units}:{Decimal(qty).normalize(MONEY_CONTEXT)};".encode())
            digest.update(b"|")
        return digest.hexdigest()[:16]
