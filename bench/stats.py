"""Latency samples and their percentiles; a process's resident memory."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np


@dataclass
class Timings:
    seconds: list[float] = field(default_factory=list)

    @contextmanager
    def measure(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.seconds.append(time.perf_counter() - started)

    def ms(self, percentile: float) -> float:
        return round(float(np.percentile(self.seconds, percentile)) * 1000, 3)

    @property
    def p50(self) -> float:
        return self.ms(50)

    @property
    def p99(self) -> float:
        return self.ms(99)


def time_each(call: Callable[[object], object], items: list, rounds: int = 1) -> Timings:
    """Time ``call(item)`` for every item, ``rounds`` times, after one untimed call to warm up."""
    call(items[0])
    timings = Timings()
    for _ in range(rounds):
        for item in items:
            with timings.measure():
                call(item)
    return timings


def rss_mb(pid: int | str = "self") -> float:
    """The resident memory of process ``pid`` (this one by default), in MB, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")
