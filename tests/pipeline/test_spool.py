from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from townsquare.pipeline.spool import Spool, SpoolFull


def _drain(spool: Spool) -> list[bytes]:
    records = list(spool.replay())
    if records:
        spool.acknowledge(records[-1])
    return [record.payload for record in records]


def test_records_replay_in_the_order_they_were_written(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=64)
    batches = [f"batch-{i}".encode() * (i + 1) for i in range(20)]
    for batch in batches:
        spool.append(batch)
    assert len(spool) == 20
    assert spool.stats().segments > 1
    assert _drain(spool) == batches
    assert len(spool) == 0
    assert spool.size_bytes() == 0
    assert _drain(spool) == []


def test_spool_survives_a_restart(tmp_path: Path) -> None:
    Spool(tmp_path).append(b"first")
    Spool(tmp_path).append(b"second")
    reopened = Spool(tmp_path)
    assert len(reopened) == 2
    assert _drain(reopened) == [b"first", b"second"]


def test_partial_acknowledgement_replays_only_the_rest(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for payload in (b"a", b"b", b"c"):
        spool.append(payload)
    records = list(spool.replay())
    spool.acknowledge(records[0])
    assert len(spool) == 2
    reopened = Spool(tmp_path)
    assert _drain(reopened) == [b"b", b"c"]


def test_torn_tail_from_a_crash_mid_append_is_cut_off(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(b"complete")
    spool.append(b"also complete")
    segment = next(tmp_path.glob("*.spool"))
    data = segment.read_bytes()
    segment.write_bytes(data[:-5])  # the process died while writing the last record
    reopened = Spool(tmp_path)
    assert _drain(reopened) == [b"complete"]
    reopened.append(b"after restart")
    assert _drain(Spool(tmp_path)) == [b"after restart"]


def test_checksum_mismatch_sets_the_segment_aside(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(b"good record")
    spool.append(b"will be damaged")
    segment = next(tmp_path.glob("*.spool"))
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0xFF
    segment.write_bytes(bytes(data))
    reopened = Spool(tmp_path)
    assert list(tmp_path.glob("*.corrupt")) != []
    assert _drain(reopened) == []


def test_full_spool_refuses_with_a_clear_error_and_keeps_what_it_has(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=100)
    spool.append(b"x" * 50)
    with pytest.raises(SpoolFull) as caught:
        spool.append(b"y" * 50)
    assert "full" in caught.value.message
    assert caught.value.status == 503
    assert _drain(spool) == [b"x" * 50]
    spool.append(b"y" * 50)  # room again once replayed
    assert _drain(spool) == [b"y" * 50]


@settings(max_examples=50, deadline=None)
@given(
    batches=st.lists(st.binary(max_size=40), max_size=30),
    segment_bytes=st.integers(min_value=16, max_value=200),
    ack_after=st.integers(min_value=0, max_value=30),
)
def test_acknowledged_records_never_return_and_the_rest_always_do(
    tmp_path_factory: pytest.TempPathFactory,
    batches: list[bytes],
    segment_bytes: int,
    ack_after: int,
) -> None:
    directory = tmp_path_factory.mktemp("spool")
    spool = Spool(directory, segment_bytes=segment_bytes)
    for batch in batches:
        spool.append(batch)
    records = list(spool.replay())
    assert [r.payload for r in records] == batches
    acked = min(ack_after, len(records))
    if acked:
        spool.acknowledge(records[acked - 1])
    assert len(spool) == len(batches) - acked
    assert [r.payload for r in Spool(directory, segment_bytes=segment_bytes).replay()] == batches[
        acked:
    ]
