"""An asyncio event loop that runs in virtual time.

When no callback is ready and no real work is outstanding, the loop does not block: it moves
its :class:`~hufimm.core.timesource.VirtualTimeSource` forward to the next timer.  Real I/O
still happens (an in-process server on loopback answers within the same select), and work
handed to an executor runs inline so its completion cannot race other tasks.  The result is
that a seeded run interleaves its tasks the same way every time, however fast the machine is.
"""

from __future__ import annotations

import asyncio
import math
import selectors
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Executor
from typing import Any, TypeVar

from hufimm.core.timesource import NS_PER_SECOND, VirtualTimeSource

T = TypeVar("T")


#: Real seconds to wait for loopback I/O before declaring the loop idle (see ``select``).
SETTLE_S = 0.002


class _VirtualSelector(selectors.BaseSelector):
    """Delegates to a real selector but turns an idle wait into a jump of virtual time."""

    def __init__(self, time_source: VirtualTimeSource) -> None:
        self._inner = selectors.DefaultSelector()
        self._time = time_source
        self.internal_fds: set[int] = set()  # the loop's own wake-up pipe

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._inner.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            # No timer at all: only real I/O or another thread can wake the loop.
            return self._inner.select(None)
        if len(self._inner.get_map()) > len(self.internal_fds):
            # Real sockets are open.  Some loopback steps finish in the kernel a moment after
            # the syscall that started them (a connect's handshake, say), so an empty zero-wait
            # select does not yet mean idle: give the kernel a short real moment first.
            ready = self._inner.select(min(timeout, SETTLE_S))
            if ready:
                return ready
        self._time.advance_ns(max(1, math.ceil(timeout * NS_PER_SECOND)))
        return []

    def close(self) -> None:
        self._inner.close()

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()


class VirtualEventLoop(asyncio.SelectorEventLoop):
    """A selector loop whose ``time()`` is the virtual monotonic clock."""

    def __init__(self, time_source: VirtualTimeSource) -> None:
        selector = _VirtualSelector(time_source)
        super().__init__(selector=selector)
        selector.internal_fds = set(selector.get_map())  # registered by the loop itself
        self.time_source = time_source

    def time(self) -> float:
        return self.time_source.monotonic_ns() / NS_PER_SECOND

    def run_in_executor(  # type: ignore[override]
        self, executor: Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        # Inline: a thread finishing at a machine-dependent moment would reorder tasks.
        future: asyncio.Future[T] = self.create_future()
        try:
            future.set_result(func(*args))
        except BaseException as exc:  # the exception belongs to the awaiting caller
            future.set_exception(exc)
        return future


def new_virtual_loop(time_source: VirtualTimeSource) -> VirtualEventLoop:
    return VirtualEventLoop(time_source)


def run_virtual(coro: Coroutine[Any, Any, T], time_source: VirtualTimeSource) -> T:
    """Run ``coro`` to completion on a fresh virtual-time loop (left-over tasks are cancelled)."""
    with asyncio.Runner(loop_factory=lambda: new_virtual_loop(time_source)) as runner:
        return runner.run(coro)
