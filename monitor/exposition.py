"""The Prometheus text format, written fast and byte for byte as prometheus-client writes it.

Per-check families are written here from plain values instead of prometheus-client's labelled
children (with 10,000 checks those took 180 MB and 7 s of CPU per scrape). What to write comes
from `monitor.metrics`' family table; this module only knows the format: how a number, a label
value, a family header and a histogram are spelled, and in which order a sample's labels go.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

Kind = Literal["gauge", "counter", "histogram"]


def escape(value: str) -> str:
    """Escape a label value for the text exposition format."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def number(value: float) -> str:
    """A sample value written exactly as prometheus-client writes it (`floatToGoString`)."""
    if type(value) is int and -1_000_000 < value < 1_000_000:  # counts: the common case
        return f"{value}.0"
    text = repr(float(value))
    if text[-1] in "fn":  # inf, -inf, nan
        return {"inf": "+Inf", "-inf": "-Inf"}.get(text, "NaN")
    dot = text.find(".")
    if value > 0 and dot > 6:  # Go switches to exponents sooner than Python
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def header(name: str, kind: Kind, help: str) -> bytes:
    """The HELP and TYPE lines that open a family."""
    return f"# HELP {name} {help}\n# TYPE {name} {kind}\n".encode()


class Histogram:
    """Bucket counts (not cumulative) and sum of one histogram series."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bucket (le is inclusive).
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value


class Layout:
    """Where a family's labels go in its samples: sorted by name, as prometheus-client writes
    them, some from the check (`own`: check, site, ...) and the rest from each sample's key.

    A sample key is a tuple of already escaped label values, in the order of `keys`.
    """

    __slots__ = ("_slots", "keys", "standard")

    def __init__(self, own: Sequence[str], keys: Sequence[str], standard: Sequence[str]) -> None:
        self.keys = tuple(keys)
        position = {name: i for i, name in enumerate(self.keys)}
        # (label name, index in the key or None for the check's own), in written order.
        self._slots = tuple((name, position.get(name)) for name in sorted((*own, *keys)))
        # The check's usual label set with nothing else: its pre-rendered text is used as is.
        self.standard = not self.keys and tuple(sorted(own)) == tuple(sorted(standard))

    def text(self, own: Mapping[str, str], key: tuple[str, ...] = ()) -> str:
        """The label text of one sample; `own` maps a label name to its rendered `name="v"`."""
        return ",".join(own[name] if i is None else f'{name}="{key[i]}"' for name, i in self._slots)

    def around(self, own: Mapping[str, str], key: tuple[str, ...], open: str) -> tuple[str, str]:
        """The label text before and after the value of label `open` (not in `key`)."""
        before: list[str] = []
        after: list[str] = []
        side = before
        for name, i in self._slots:
            if name == open:
                side = after
            else:
                side.append(own[name] if i is None else f'{name}="{key[i]}"')
        head = ",".join(before)
        tail = ",".join(after)
        return (f'{head},{open}="' if head else f'{open}="'), (f'",{tail}' if tail else '"')


class Writer:
    """Writes the samples of one family for one check, given its value.

    The value is what `monitor.metrics` keeps: a number (None: no series) for a family
    without keys; (key, number) pairs or a key -> number dict with keys; a Histogram, or a
    key -> Histogram dict, for histograms.
    """

    __slots__ = ("bucket_layout", "kind", "layout", "le", "name")

    def __init__(
        self,
        name: str,
        kind: Kind,
        own: Sequence[str],
        keys: Sequence[str],
        standard: Sequence[str],
        buckets: tuple[float, ...] = (),
    ) -> None:
        self.name = name
        self.kind = kind
        self.layout = Layout(own, keys, standard)
        self.bucket_layout = Layout(own, (*keys, "le"), standard)
        self.le = (*(repr(bound) for bound in buckets), "+Inf")

    def lines(self, value: object, own: Mapping[str, str], labels: str, out: list[str]) -> None:
        """Append the samples of `value` to `out`; `labels` is the check's standard label text."""
        if value is None:
            return
        name = self.name
        layout = self.layout
        if self.kind == "histogram":
            if isinstance(value, Histogram):
                self._histogram(value, own, (), out)
            else:
                assert isinstance(value, dict)
                for key, histogram in list(value.items()):
                    self._histogram(histogram, own, key, out)
            return
        if not layout.keys:
            assert isinstance(value, int | float)
            text = labels if layout.standard else layout.text(own)
            out.append(f"{name}{{{text}}} {number(value)}\n")
            return
        assert isinstance(value, dict | tuple)
        samples: Iterable[tuple[tuple[str, ...], float]] = (
            list(value.items()) if isinstance(value, dict) else value
        )
        if len(layout.keys) == 1:
            head, tail = layout.around(own, (), layout.keys[0])
            for key, sample in samples:
                out.append(f"{name}{{{head}{key[0]}{tail}}} {number(sample)}\n")
        else:
            for key, sample in samples:
                out.append(f"{name}{{{layout.text(own, key)}}} {number(sample)}\n")

    def _histogram(
        self, histogram: Histogram, own: Mapping[str, str], key: tuple[str, ...], out: list[str]
    ) -> None:
        name = self.name
        head, tail = self.bucket_layout.around(own, key, "le")
        cumulative = 0
        for le, count in zip(self.le, histogram.counts, strict=True):
            cumulative += count
            out.append(f"{name}_bucket{{{head}{le}{tail}}} {number(cumulative)}\n")
        labels = self.layout.text(own, key)
        out.append(f"{name}_sum{{{labels}}} {number(histogram.sum)}\n")
        out.append(f"{name}_count{{{labels}}} {number(cumulative)}\n")
