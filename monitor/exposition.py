"""The Prometheus text format, written fast and byte for byte as prometheus-client writes it.

Per-check families are written here from plain values instead of prometheus-client's labelled
children (with 10,000 checks those took 180 MB and 7 s of CPU per scrape). What to write comes
from `monitor.metrics`' family table; this module only knows the format: how a number, a label
value, a family header and a histogram are spelled, and in which order a sample's labels go.
A scrape writes every sample of every check, so the common cases take the short paths below.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any, Literal

Kind = Literal["gauge", "counter", "histogram"]


def escape(value: str) -> str:
    """Escape a label value for the text exposition format."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def number(value: float) -> str:
    """A sample value written exactly as prometheus-client writes it (`floatToGoString`)."""
    if -1_000_000 < value < 1_000_000:  # not inf or nan, and short of Go's exponents
        return f"{value}.0" if type(value) is int else repr(float(value))
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


class Labels:
    """The labels of one check, rendered once: `own` maps a name to its `name="value"`.

    `standard` is the usual set (`names`) joined in written order; `cuts` where each of its
    labels ends, so a sample label that goes between two of them is put in by slicing.
    """

    __slots__ = ("cuts", "own", "standard")

    def __init__(self, own: dict[str, str], names: Sequence[str]) -> None:
        self.own = own
        self.standard = ",".join(own[name] for name in names)
        ends, end = [0], -1
        for name in names:
            end += len(own[name]) + 1
            ends.append(end)
        self.cuts = tuple(ends)  # cuts[i]: where the i-th comma (or the end) is

    def around(self, gap: int, label: str) -> tuple[str, str]:
        """The standard text before and after a label put after its first `gap` labels."""
        text, cut = self.standard, self.cuts[gap]
        if gap == 0:
            return f'{label}="', f'",{text}'
        if cut == len(text):
            return f'{text},{label}="', '"'
        return f'{text[:cut]},{label}="', f'",{text[cut + 1 :]}'


class Layout:
    """Where a family's labels go in its samples: sorted by name, as prometheus-client writes
    them, some from the check (`own`: check, site, ...) and the rest from each sample's key.

    A sample key is a tuple of already escaped label values, in the order of `keys`.
    """

    __slots__ = ("_slots", "gap", "keys", "standard")

    def __init__(self, own: Sequence[str], keys: Sequence[str], standard: Sequence[str]) -> None:
        self.keys = tuple(keys)
        position = {name: i for i, name in enumerate(self.keys)}
        # (label name, index in the key or None for the check's own), in written order.
        self._slots = tuple((name, position.get(name)) for name in sorted((*own, *keys)))
        ordered = tuple(sorted(standard))
        # Exactly the check's usual labels: its pre-rendered text is used as is, and
        # with one key label that text is cut where it goes (`gap` labels before it).
        self.standard = tuple(sorted(own)) == ordered
        self.gap = -1
        if self.standard and len(self.keys) == 1:
            self.gap = sum(1 for name in ordered if name < self.keys[0])

    def text(self, labels: Labels, key: tuple[str, ...] = ()) -> str:
        """The label text of one sample."""
        if self.standard and not key:
            return labels.standard
        own = labels.own
        return ",".join(own[name] if i is None else f'{name}="{key[i]}"' for name, i in self._slots)

    def around(self, labels: Labels, key: tuple[str, ...], label: str) -> tuple[str, str]:
        """The label text before and after the value of `label` (the one key not in `key`)."""
        if self.gap >= 0:
            return labels.around(self.gap, label)
        before: list[str] = []
        after: list[str] = []
        side = before
        for name, i in self._slots:
            if name == label:
                side = after
            else:
                side.append(labels.own[name] if i is None else f'{name}="{key[i]}"')
        head = ",".join(before)
        tail = ",".join(after)
        return (f'{head},{label}="' if head else f'{label}="'), (f'",{tail}' if tail else '"')


class Writer:
    """Writes the samples of one family for one check, from the value `monitor.metrics` keeps.

    That value is a number for a family without keys; (key, number) pairs or a key -> number
    dict with keys; a Histogram, or a key -> Histogram dict, for histograms. `text` is the
    samples' text (the value is never None: no value, no series, nothing to write).
    """

    __slots__ = ("bucket_layout", "layout", "le", "name", "text")

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
        self.layout = Layout(own, keys, standard)
        self.bucket_layout = Layout(own, (*keys, "le"), standard)
        self.le = (*(repr(bound) for bound in buckets), "+Inf")
        text: Callable[[Any, Labels], str]
        if kind == "histogram":
            text = self._histograms if keys else self._histogram
        elif not keys:
            text = self._single
        else:
            text = self._keyed if len(keys) == 1 else self._multi
        self.text = text

    def _single(self, value: float, labels: Labels) -> str:
        return f"{self.name}{{{self.layout.text(labels)}}} {number(value)}\n"

    def _keyed(self, value: Any, labels: Labels) -> str:
        name = self.name
        head, tail = self.layout.around(labels, (), self.layout.keys[0])
        samples = value.items() if isinstance(value, dict) else value
        return "".join(
            [f"{name}{{{head}{key[0]}{tail}}} {number(sample)}\n" for key, sample in list(samples)]
        )

    def _multi(self, value: Any, labels: Labels) -> str:
        name, text = self.name, self.layout.text
        samples = value.items() if isinstance(value, dict) else value
        return "".join(
            [f"{name}{{{text(labels, key)}}} {number(sample)}\n" for key, sample in list(samples)]
        )

    def _histograms(self, value: dict[tuple[str, ...], Histogram], labels: Labels) -> str:
        return "".join([self._histogram(h, labels, key) for key, h in list(value.items())])

    def _histogram(self, histogram: Histogram, labels: Labels, key: tuple[str, ...] = ()) -> str:
        name = self.name
        head, tail = self.bucket_layout.around(labels, key, "le")
        lines = []
        cumulative = 0
        for le, count in zip(self.le, histogram.counts, strict=True):
            cumulative += count
            lines.append(f"{name}_bucket{{{head}{le}{tail}}} {number(cumulative)}\n")
        text = self.layout.text(labels, key)
        lines.append(f"{name}_sum{{{text}}} {number(histogram.sum)}\n")
        lines.append(f"{name}_count{{{text}}} {number(cumulative)}\n")
        return "".join(lines)
