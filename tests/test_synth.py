"""zhida.synth's `consumers`: fewer consumers than the default, so registers beyond the identity space fit."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from zhida.rules.pack import load_pack
from zhida.synth import PERSON_SPACE, synthesise

PACK = load_pack(Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025")


def test_default_consumers_are_transactions_over_1_3(tmp_path):
    counts = synthesise(PACK, 1, 130, 5, tmp_path)
    subjects = pq.read_table(tmp_path / "subjects.parquet")
    # int(130 / 1.3) = 100 consumers beside 1 enterprise, 1 incubator, 1 institution, 1 bank
    assert pc.sum(pc.equal(subjects.column("kind"), "consumer")).as_py() == 100
    assert counts["subjects"] == 104


def test_fewer_consumers_buy_every_transaction_among_them(tmp_path):
    counts = synthesise(PACK, 1, 100, 5, tmp_path, consumers=40)
    subjects = pq.read_table(tmp_path / "subjects.parquet")
    consumers = set(subjects.filter(pc.equal(subjects.column("kind"), "consumer")).column("subject_id").to_pylist())
    assert len(consumers) == 40 and counts["subjects"] == 44
    events = pq.read_table(tmp_path / "events.parquet")
    trades = events.filter(pc.starts_with(events.column("type"), "trade_in_"))
    assert trades.num_rows == 100
    buyers = trades.column("subject_id").to_pylist()
    assert set(buyers) == consumers  # every consumer buys, none from outside the register
    assert len(set(trades.column("event_id").to_pylist())) == 100


def test_more_consumers_than_identity_numbers_is_refused(tmp_path):
    with pytest.raises(ValueError, match="最多 20454000 名消费者"):
        synthesise(PACK, 1, 10, 5, tmp_path, consumers=PERSON_SPACE + 1)
