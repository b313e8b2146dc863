"""The one "did you mean" hint (core/suggest.py)."""

from __future__ import annotations

import pytest

from cronflow.core.suggest import closest, did_you_mean


@pytest.mark.parametrize(("word", "choices", "expected"), [
    ("comand", ("command", "schedule"), "command"),
    ("schedul", {"schedule", "timezone"}, "schedule"),
    ("zzzz", ("command",), None),
    ("x", (), None),
])
def test_closest_is_the_nearest_spelling_or_none(word, choices, expected):
    assert closest(word, choices) == expected


def test_did_you_mean_has_one_phrasing_and_is_empty_without_a_match():
    assert did_you_mean("webhok", ["webhook", "command"]) == " (did you mean 'webhook'?)"
    assert did_you_mean("on_run_finsh", ("on_run_finish",)) == " (did you mean 'on_run_finish'?)"
    assert did_you_mean("zzzz", ["webhook"]) == ""


def test_the_order_of_the_choices_does_not_change_the_answer():
    words = ["delay", "max_delay", "jitter"]
    assert did_you_mean("delya", words) == did_you_mean("delya", reversed(words))
