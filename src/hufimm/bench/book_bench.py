"""Order book diff-apply throughput: ours vs ccxt's Python book vs nautilus_trader's Rust book.

All three consume the same seeded stream of Binance-style depth diffs (decimal text, as on the
wire), each through its own cheapest public ingestion path, and their final top 20 levels are
compared so a fast-but-wrong book cannot win.  Peers come from the ``bench`` extra; a missing
peer is reported, not faked.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from hufimm.bench.harness import BenchOptions, Figure
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import Stopwatch
from hufimm.market.orderbook import OrderBook
from hufimm.market.types import Side

Message = tuple[int, list[list[str]], list[list[str]]]
SCALE = 8


def _fmt(units: int) -> str:
    return f"{units // 10**SCALE}.{units % 10**SCALE:08d}"


def depth_stream(
    seed: int, messages: int, mean_levels: float = 8.0
) -> tuple[Message, list[Message]]:
    """A snapshot and ``messages`` diffs of a drifting two-sided book (tick 0.01, 8-dp text).

    Each diff carries about ``mean_levels`` level changes near the top: mostly new quantities
    for existing levels, some removals, some new levels, and removals of levels the drifting
    mid crosses, roughly like a liquid pair's 100 ms diff stream.
    """
    rng = SeededRng(seed)
    tick = 10**6  # 0.01 at 8 decimals
    mid = 100_000 * 10**SCALE
    book: dict[bool, dict[int, int]] = {True: {}, False: {}}  # is_bid -> price -> qty
    for i in range(1, 201):
        book[True][mid - i * tick] = rng.randint(1, 10**8)
        book[False][mid + i * tick] = rng.randint(1, 10**8)

    def side_text(levels: dict[int, int]) -> list[list[str]]:
        return [[_fmt(p), _fmt(q)] for p, q in levels.items()]

    snapshot: Message = (0, side_text(book[True]), side_text(book[False]))
    out: list[Message] = []
    for seq in range(1, messages + 1):
        changes: dict[bool, dict[int, int]] = {True: {}, False: {}}
        if rng.chance(0.3):  # the mid drifts a tick; levels it crosses go away
            mid += tick if rng.chance(0.5) else -tick
            for is_bid in (True, False):
                for price in [p for p in book[is_bid] if (p >= mid) == is_bid]:
                    del book[is_bid][price]
                    changes[is_bid][price] = 0
        for _ in range(max(1, round(rng.expovariate(1 / mean_levels)))):
            is_bid = rng.chance(0.5)
            levels = book[is_bid]
            roll = rng.random()
            depth = min(int(rng.expovariate(0.1)), 60)
            price = mid - (1 + depth) * tick if is_bid else mid + (1 + depth) * tick
            if roll < 0.2 and price in levels:
                del levels[price]
                changes[is_bid][price] = 0
            else:
                levels[price] = changes[is_bid][price] = rng.randint(1, 10**9)
        out.append((seq, side_text(changes[True]), side_text(changes[False])))
    return snapshot, out


def _ours(snapshot: Message, stream: list[Message]) -> tuple[float, list[tuple[str, str]]]:
    book = OrderBook("BTC/USDT", SCALE)
    book.apply_text_diff(*snapshot)
    watch = Stopwatch()
    for seq, bids, asks in stream:
        book.apply_text_diff(seq, bids, asks)
    elapsed = watch.elapsed_ns()
    top = [(str(p), str(q)) for side in Side for p, q in book.levels(side, 20)]
    return elapsed / 1e9, top


def _ours_decimal(snapshot: Message, stream: list[Message]) -> tuple[float, list[tuple[str, str]]]:
    """The trackers' path: connectors hand over ``Decimal`` levels (conversion not timed)."""
    book = OrderBook("BTC/USDT", SCALE)
    book.apply_text_diff(*snapshot)
    elapsed = 0
    chunk = 50_000  # converted piecewise: a million diffs of Decimals would not fit in memory
    for start in range(0, len(stream), chunk):
        part = [
            (
                seq,
                [(Decimal(p), Decimal(q)) for p, q in bids],
                [(Decimal(p), Decimal(q)) for p, q in asks],
            )
            for seq, bids, asks in stream[start : start + chunk]
        ]
        watch = Stopwatch()
        for seq, bids, asks in part:
            book.apply_diff(seq, bids, asks)
        elapsed += watch.elapsed_ns()
    top = [(str(p), str(q)) for side in Side for p, q in book.levels(side, 20)]
    return elapsed / 1e9, top


def _ccxt(snapshot: Message, stream: list[Message]) -> tuple[float, list[tuple[str, str]]]:
    from ccxt.async_support.base.ws.order_book import OrderBook as CcxtBook

    book = CcxtBook({})
    bids, asks = book["bids"], book["asks"]

    def apply(message: Message) -> None:
        _, b, a = message
        for price, qty in b:
            bids.store(float(price), float(qty))
        for price, qty in a:
            asks.store(float(price), float(qty))

    apply(snapshot)
    watch = Stopwatch()
    for message in stream:
        apply(message)
    elapsed = watch.elapsed_ns()
    top = [(_fmt_float(p), _fmt_float(q)) for side in (bids, asks) for p, q in list(side)[:20]]
    return elapsed / 1e9, top


def _fmt_float(value: float) -> str:
    # Only for comparing the peer's final book with ours in the report.
    return str(Decimal(repr(value)).quantize(Decimal("0.00000001")).normalize())


def _nautilus(snapshot: Message, stream: list[Message]) -> tuple[float, list[tuple[str, str]]]:
    from nautilus_trader.model.book import OrderBook as NautilusBook
    from nautilus_trader.model.data import OrderBookDelta
    from nautilus_trader.model.enums import BookAction, BookType, OrderSide
    from nautilus_trader.model.identifiers import InstrumentId
    from nautilus_trader.model.objects import FIXED_PRECISION

    instrument = InstrumentId.from_str("BTCUSDT.BINANCE")
    book = NautilusBook(instrument, BookType.L2_MBP)
    scale_up = 10 ** (FIXED_PRECISION - SCALE)
    update, delete = BookAction.UPDATE, BookAction.DELETE
    buy, sell = OrderSide.BUY, OrderSide.SELL
    from_raw, apply_delta = OrderBookDelta.from_raw, book.apply_delta

    def apply(message: Message) -> None:
        seq, b, a = message
        for side, levels in ((buy, b), (sell, a)):
            for price, qty in levels:
                size = int(qty.replace(".", "")) * scale_up
                apply_delta(
                    from_raw(
                        instrument,
                        update if size else delete,
                        side,
                        int(price.replace(".", "")) * scale_up,
                        SCALE,
                        size,
                        SCALE,
                        0,
                        0,
                        seq,
                        0,
                        0,
                    )
                )

    apply(snapshot)
    watch = Stopwatch()
    for message in stream:
        apply(message)
    elapsed = watch.elapsed_ns()
    top = []
    for levels in (book.bids(), book.asks()):
        for level in levels[:20]:
            top.append(
                (
                    str(Decimal(str(level.price)).normalize()),
                    str(Decimal(str(level.size())).normalize()),
                )
            )
    return elapsed / 1e9, top


def _normalize(top: list[tuple[str, str]]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal(q)) for p, q in top]


def run(options: BenchOptions) -> list[Figure]:
    messages = 100_000 if options.quick else 1_000_000
    snapshot, stream = depth_stream(seed=7, messages=messages)
    levels = sum(len(b) + len(a) for _, b, a in stream)
    ours_s, ours_top = _ours(snapshot, stream)
    ours_rate = messages / ours_s
    case = f"{messages:,} diffs, {levels / messages:.1f} levels each"
    figures = [
        Figure("book", case, "ours", ours_rate, "diffs/s", extra={"levels_per_s": levels / ours_s})
    ]
    decimal_s, decimal_top = _ours_decimal(snapshot, stream)
    figures.append(
        Figure(
            "book",
            case,
            "ours, Decimal levels" + ("" if decimal_top == ours_top else " (BOOK DIFFERS)"),
            messages / decimal_s,
            "diffs/s",
            extra={"path": "OrderBook.apply_diff, as the trackers feed it"},
        )
    )
    peers: list[
        tuple[str, Callable[[Message, list[Message]], tuple[float, list[tuple[str, str]]]], str]
    ] = [
        ("ccxt OrderBook (Python)", _ccxt, ">= 3x peer"),
        ("nautilus_trader OrderBook (Rust)", _nautilus, ">= 0.5x peer"),
    ]
    for name, runner, goal in peers:
        try:
            seconds, top = runner(snapshot, stream)
        except ImportError as exc:
            figures.append(
                Figure(
                    "book",
                    case,
                    f"vs {name}",
                    0.0,
                    "x",
                    peer=name,
                    goal=goal,
                    extra={"missing": str(exc)},
                )
            )
            continue
        same = _normalize(top) == _normalize(ours_top)
        figures.append(
            Figure(
                "book",
                case,
                "ours / peer" if same else "ours / peer (FINAL BOOKS DIFFER)",
                ours_rate / (messages / seconds),
                "x",
                peer=name,
                peer_value=messages / seconds,
                goal=goal,
                extra={"same_final_book": same},
            )
        )
    return figures
