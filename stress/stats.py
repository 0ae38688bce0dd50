"""Latency histograms: constant memory, cheap to record from many threads, percentiles.

A `Histogram` counts nanosecond samples in log-linear buckets: 8 per power of two, so a
percentile read back is within 9% of the true sample (the bucket's upper bound is reported).
Each thread records into its own histograms (no lock on the hot path); `merge` adds them up at
the end of a run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: Sub-buckets per power of two (3 bits of mantissa).
_SUB_BITS = 3
_SUB = 1 << _SUB_BITS

#: The percentiles every latency figure reports, by name.
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p99.9", 0.999),
)


def bucket_of(ns: int) -> int:
    """The bucket index of a sample in nanoseconds (samples below 1 ns count as 0)."""
    if ns < _SUB:
        return max(ns, 0)
    b = ns.bit_length() - 1 - _SUB_BITS
    return ((b + 1) << _SUB_BITS) | ((ns >> b) & (_SUB - 1))


def bucket_high(index: int) -> int:
    """The largest sample (ns) that falls in bucket `index`."""
    if index < _SUB:
        return index
    b = (index >> _SUB_BITS) - 1
    return (((index & (_SUB - 1)) | _SUB) + 1 << b) - 1


class Histogram:
    """Counts of nanosecond samples by log-linear bucket, plus the exact count, sum and max."""

    __slots__ = ("buckets", "count", "max_ns", "total_ns")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.total_ns = 0
        self.max_ns = 0

    def add(self, ns: int) -> None:
        if ns < _SUB:  # bucket_of, inlined: this runs once per handle
            i = max(ns, 0)
        else:
            b = ns.bit_length() - 1 - _SUB_BITS
            i = ((b + 1) << _SUB_BITS) | ((ns >> b) & (_SUB - 1))
        self.buckets[i] = self.buckets.get(i, 0) + 1
        self.count += 1
        self.total_ns += ns
        if ns > self.max_ns:
            self.max_ns = ns

    def merge(self, other: Histogram) -> None:
        for i, n in list(other.buckets.items()):
            self.buckets[i] = self.buckets.get(i, 0) + n
        self.count += other.count
        self.total_ns += other.total_ns
        self.max_ns = max(self.max_ns, other.max_ns)

    def percentile(self, q: float) -> int:
        """The smallest bucket bound under which a fraction `q` of the samples fall (ns)."""
        if not self.count:
            return 0
        rank = q * self.count
        seen = 0
        for i in sorted(self.buckets):
            seen += self.buckets[i]
            if seen >= rank:
                return min(bucket_high(i), self.max_ns)
        return self.max_ns

    def summary(self) -> dict[str, Any]:
        """{"count", "mean_ns", "p50", "p90", "p99", "p99.9", "max"} (percentiles in ns)."""
        out: dict[str, Any] = {
            "count": self.count,
            "mean_ns": round(self.total_ns / self.count, 1) if self.count else 0.0,
        }
        for name, q in PERCENTILES:
            out[name] = self.percentile(q)
        out["max"] = self.max_ns
        return out

    def bars(self) -> list[tuple[int, int]]:
        """(bucket upper bound ns, count) for every non-empty bucket, in order."""
        return [(bucket_high(i), self.buckets[i]) for i in sorted(self.buckets)]


def merged(hists: Iterable[Histogram]) -> Histogram:
    out = Histogram()
    for h in hists:
        out.merge(h)
    return out


def fmt_ns(ns: float) -> str:
    """A duration for people: 850 ns, 12.3 us, 4.56 ms, 1.20 s."""
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.1f} us"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e9:.2f} s"


def fmt_summary(s: dict[str, Any]) -> str:
    """'p50 1.2 us, p90 ..., max 3.4 ms (n=1,234)' from `Histogram.summary()`."""
    parts = [f"{name} {fmt_ns(s[name])}" for name, _ in PERCENTILES]
    parts.append(f"max {fmt_ns(s['max'])}")
    return ", ".join(parts) + f" (n={s['count']:,})"
