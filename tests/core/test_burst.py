"""The chunks a burst of simultaneous fires is claimed in (cronflow.core.fire.burst)."""

import pytest

from cronflow.core.fire.burst import claim_chunks


def test_chunks_grow_from_a_small_first_claim() -> None:
    assert [len(c) for c in claim_chunks(list(range(500)))] == [4, 16, 64, 256, 160]


def test_chunks_keep_every_item_once_in_order() -> None:
    for n in range(0, 200):
        items = list(range(n))
        chunks = list(claim_chunks(items))
        assert [x for c in chunks for x in c] == items
        assert all(chunks)  # no empty claim


def test_a_small_burst_is_one_claim() -> None:
    assert list(claim_chunks(["a", "b", "c"])) == [["a", "b", "c"]]
    assert list(claim_chunks([])) == []


def test_growth_of_one_gives_equal_chunks() -> None:
    assert [len(c) for c in claim_chunks(list(range(10)), first=3, growth=1)] == [3, 3, 3, 1]


def test_sizes_must_be_positive() -> None:
    with pytest.raises(ValueError):
        list(claim_chunks([1], first=0))
