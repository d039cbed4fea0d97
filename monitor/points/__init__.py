"""Probe points: this location's side of confirming failures with the others.

- `blind`: whether this location can see (its canaries; nearly every check failing at once);
- `canaries`: probing the canaries on a schedule of their own;
- `service`: every `points.refresh`, the round trip to PostgreSQL (heartbeat, blind spans,
  settling slots, confirming incidents) and the metrics that show what the locations see.

The decisions themselves are taken in PostgreSQL (migration 0007, `monitor.store.points`),
by whichever location's write completes a quorum: there is no coordinator.
"""
