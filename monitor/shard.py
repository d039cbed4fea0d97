"""Which checks this process probes when replicas split the work (`monitor run --shard i/n`).

Like Prometheus' hashmod: a stable hash of the check key `site/check`, modulo the number of
shards. Every replica reads the same config and probes only its own checks; all write to one
Postgres. Incidents are per check, so each replica continues only its own after a restart.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_SHARD = re.compile(r"(\d+)/(\d+)")


@dataclass(frozen=True, slots=True)
class Shard:
    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`i/n` with 0 <= i < n (a StatefulSet's ordinal and its replica count)."""
        match = _SHARD.fullmatch(text.strip())
        if match is None or not 0 <= int(match.group(1)) < int(match.group(2)):
            raise ValueError(f"invalid --shard {text!r} (use i/n with 0 <= i < n, e.g. 0/3)")
        return cls(int(match.group(1)), int(match.group(2)))

    def owns(self, key: str) -> bool:
        """Whether the check with this key (`site/check`) is probed by this shard."""
        if self.count == 1:
            return True
        # Its own personalisation, so the shard does not correlate with the schedule offset.
        digest = hashlib.blake2b(key.encode(), digest_size=8, person=b"shard").digest()
        return int.from_bytes(digest, "big") % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


ALL = Shard()
