"""Keys of the PostgreSQL advisory locks that coordinate Townsquare's processes.

An advisory lock key is one signed 64-bit integer shared by every client of the database,
so each kind of lock gets its own namespace in the top 16 bits and its subject (a
community id) in the low 48 bits; two kinds can never collide, and an unrelated
application using small keys (the migration lock is ``0x70537175``) cannot collide with
us either. Both namespaces stay below 0x8000, so every key is a positive ``bigint``.

* ``0x5453`` ("TS"): one community. The pipeline writer holds it (session level) while it
  owns the community, so member state needs no row locks; reconciliation's corrections
  need it too (`townsquare.pipeline.reconcile.try_lock_community`).
* ``0x544D`` ("TM"): maintenance of the event lake's partitions (creation, retention).
"""

from __future__ import annotations

COMMUNITY_NAMESPACE = 0x5453
MAINTENANCE_NAMESPACE = 0x544D
_SUBJECT_BITS = 48
_MAX_SUBJECT = (1 << _SUBJECT_BITS) - 1

# Creating, moving into, detaching and dropping partitions of ``events``.
PARTITION_MAINTENANCE_LOCK_KEY = (MAINTENANCE_NAMESPACE << _SUBJECT_BITS) | 1


def community_lock_key(community_id: int) -> int:
    """The advisory lock key of one community (whoever holds it owns its derived state)."""
    if isinstance(community_id, bool) or not 0 <= community_id <= _MAX_SUBJECT:
        raise ValueError(f"community id {community_id!r} does not fit an advisory lock key")
    return (COMMUNITY_NAMESPACE << _SUBJECT_BITS) | community_id
