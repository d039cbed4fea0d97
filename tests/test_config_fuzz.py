"""Hundreds of mutated configs through `monitor validate`, in process, with a fixed seed: each
gets exit 0 or a one-line error with exit 2, in bounded time and memory, and whatever validate
accepts, the service's start-up (schedule, metrics, maintenance) accepts too.
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import resource
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor import cli
from monitor.config import load_config
from monitor.configtypes import MAX_STORED_INT
from monitor.maintenance import MaintenanceSchedule
from monitor.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261202
MUTATIONS = 500
# Far above what validating any of these takes; only a hang reaches it.
HANG_SECONDS = 10

HOSTILE_VALUES: list[Any] = [
    float("nan"),
    float("inf"),
    float("-inf"),
    3_000_000_000,
    2**70,
    -1,
    0,
    1.5,
    "",
    " ",
    None,
    True,
    [],
    {},
    [1, [2, [3]]],
    {"a": {"b": 1}},
    "x" * 5000,
    "\x00",
    "${MONITOR_FUZZ_UNSET}",
    "${MONITOR_FUZZ_UNSET:-}",
    "${file:/nonexistent/secret}",
    "${bad name}",
    "http://exa mple.test/",
    "http://[::1/",
    "ftp://example.test/",
    "2026-13-45",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-12:00",
    "1e400",
    "15 secs",
    "-5m",
    "99999999999999d",
    "[",
    "(?P<",
    "%Y%",
    "Asia/Nowhere",
    "2xx",
    "999",
    "GBK",
    "no-such-encoding",
]

HOSTILE_TEXT = [
    "x: &x [*x]\n",
    "? [a]\n: 1\n",
    "a: " + "[" * 1000 + "]" * 1000 + "\n",
    "a: " + "{a: " * 500 + "1" + "}" * 500 + "\n",
    "".join(
        f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9 if i else ['"lol"'] * 9) + "]\n"
        for i in range(9)
    ),
    "<<: *nowhere\n",
    "k: !!python/object/apply:os.system ['true']\n",
    "\tbad: indent\n",
    "%YAML 9.9\n---\n",
    "---\n---\n",
    "k: 2026-02-30\n",
    "k: 2026-07-01T25:00:00\n",
    "k: !!binary 'not base64'\n",
    "k: !!int 'x'\n",
    "k: !!float 'y'\n",
    "? !!set {a, b}\n",
    "k: &a b\nj: *a\n" * 20,
    "\ufeff\ufffe\n",
    "sites: 7\n",
    "- just\n- a list\n",
]


def base_documents() -> list[tuple[str, Any]]:
    texts = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(ROOT.glob("examples/*.yaml"))]
    return [(name, yaml.safe_load(text)) for name, text in texts]


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a document a value could be swapped."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from paths(value, (*prefix, index))


def structural(rng: random.Random, document: Any) -> str:
    """The document with one to three values swapped, keys dropped or added, items doubled."""
    doc = copy.deepcopy(document)
    for _ in range(rng.randint(1, 3)):
        places = list(paths(doc))
        if not places:
            break
        place = rng.choice(places)
        parent = doc
        for part in place[:-1]:
            parent = parent[part]
        last = place[-1]
        roll = rng.random()
        if roll < 0.7:
            parent[last] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
        elif roll < 0.8:
            del parent[last]
        elif roll < 0.9 and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))  # a duplicate id, most likely
        elif isinstance(parent, dict):
            parent[rng.choice(["extra", "type", "id", "url", "start", "end"])] = rng.choice(
                HOSTILE_VALUES
            )
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def textual(rng: random.Random, text: str) -> str:
    """The text with a hostile snippet put in, a line dropped, or cut short."""
    lines = text.splitlines(keepends=True)
    roll = rng.random()
    at = rng.randrange(len(lines) + 1)
    if roll < 0.5:
        lines.insert(at, rng.choice(HOSTILE_TEXT))
    elif roll < 0.7 and lines:
        del lines[min(at, len(lines) - 1)]
    elif roll < 0.85:
        return text[: rng.randrange(len(text) + 1)]
    else:
        return rng.choice(HOSTILE_TEXT)
    return "".join(lines)


class HangError(Exception):
    """A validation that ran past HANG_SECONDS."""


@contextlib.contextmanager
def hang_guard() -> Iterator[None]:
    def alarm(signum: int, frame: object) -> None:
        raise HangError

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(HANG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def startup_accepts(path: Path) -> None:
    """What `monitor run` does with a config before it probes: schedule, declare, maintenance."""
    config = load_config(path)
    runtime = Runtime(config, config_path=str(path))
    runtime.scheduler.set_checks(config.checks())
    for check in config.checks():
        runtime.metrics.declare(check)
        assert math.isfinite(check.interval_s) and math.isfinite(check.deadline_s)
        assert check.failure_threshold is not None and check.success_threshold is not None
        assert max(check.failure_threshold, check.success_threshold) <= MAX_STORED_INT
    schedule = MaintenanceSchedule(config.maintenance, config.timezone)
    now = datetime.now(UTC)
    for site in config.sites:
        schedule.active(site.id, now)


def test_mutated_configs_exit_0_or_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """500 seeded mutations: exit 0 (and the start-up accepts it) or exit 2 and one error line."""
    monkeypatch.delenv("MONITOR_FUZZ_UNSET", raising=False)
    monkeypatch.setenv("MONITOR_DATABASE_URL", "")
    rng = random.Random(SEED)
    documents = base_documents()
    texts = {name: (ROOT / "examples" / name).read_text(encoding="utf-8") for name, _ in documents}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcomes = {0: 0, 2: 0}
    for n in range(MUTATIONS):
        name, document = rng.choice(documents)
        text = structural(rng, document) if rng.random() < 0.6 else textual(rng, texts[name])
        path = tmp_path / f"m{n}.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        with hang_guard():
            code = cli.main(["validate", "-c", str(path)])
        out, err = capsys.readouterr()
        assert code in (0, 2), f"mutation {n} of {name}: exit {code}\n{text[:2000]}"
        outcomes[code] += 1
        if code == 2:
            assert err.count("\n") == 1 and err.startswith(f"error: {path}"), (n, err, text)
            assert out == ""
        else:
            assert all(line.startswith("warning: ") for line in err.splitlines()), (n, err)
            with hang_guard():
                startup_accepts(path)
    # Both kinds were produced: the mutations reach past the YAML into validation.
    assert outcomes[0] > 20 and outcomes[2] > 200, outcomes
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mib < 500, f"peak memory grew by {grown_mib:.0f} MiB"
