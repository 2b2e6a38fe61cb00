"""Time as the broker core sees it: injected, so TTLs and timeouts are testable."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds (message expiry is stored on disk in this time)."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable: ...


class _Never:
    def cancel(self) -> None:
        pass


class ManualClock:
    """A clock for tests: time moves only when ``advance`` is called."""

    def __init__(self, start: float = 1_700_000_000.0):
        self.now = start
        self._timers: list[tuple[float, int, Callable[[], None], list[bool]]] = []
        self._counter = 0

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        cancelled = [False]
        self._counter += 1
        self._timers.append((self.now + delay, self._counter, callback, cancelled))

        class Handle:
            def cancel(self) -> None:
                cancelled[0] = True

        return Handle()

    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while True:
            due = sorted(t for t in self._timers if t[0] <= target and not t[3][0])
            if not due:
                break
            when, _, callback, _ = due[0]
            self._timers.remove(due[0])
            self.now = max(self.now, when)
            callback()
        self.now = target


class SystemClock:
    """Wall time, with timers on an event loop's ``call_later``."""

    def __init__(self, call_later: Callable[[float, Callable[[], None]], Cancellable] | None):
        self._call_later = call_later

    def time(self) -> float:
        return time.time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        if self._call_later is None:
            return _Never()
        return self._call_later(delay, callback)
