"""Step outputs: key=value parsing with a cap, env names, item lists."""

from __future__ import annotations

import pytest

from cronflow.core.flow.outputs import env_name, merge_outputs, output_env, parse_outputs, split_items


def test_key_value_lines_comments_and_last_wins():
    values, warnings = parse_outputs(b"# comment\ncount=3\n\nfiles=a.csv,b.csv\ncount=4\r\nurl=x=y\n")
    assert values == {"count": "4", "files": "a.csv,b.csv", "url": "x=y"}
    assert warnings == []


def test_malformed_lines_are_ignored_with_a_warning():
    values, warnings = parse_outputs(b"no equals here\nbad key=1\nok=1\n")
    assert values == {"ok": "1"}
    assert [w.split(":")[0] for w in warnings] == ["line 1", "line 2"]


def test_cap_cuts_at_the_last_complete_line():
    data = b"a=1\nb=" + b"x" * 100 + b"\n"
    values, warnings = parse_outputs(data, cap=20)
    assert values == {"a": "1"}
    assert "larger than 20 bytes" in warnings[0]
    values, _ = parse_outputs(b"a=" + b"x" * 50, cap=10)
    assert values == {}


def test_invalid_utf8_is_replaced_not_fatal():
    values, _ = parse_outputs(b"k=\xff\n")
    assert values == {"k": "\ufffd"}


@pytest.mark.parametrize("step,key,expected", [
    ("extract", "count", "CRONFLOW_OUT_EXTRACT_COUNT"),
    ("load-db", "rows", "CRONFLOW_OUT_LOAD_DB_ROWS"),
    ("a.b", "my-key", "CRONFLOW_OUT_A_B_MY_KEY"),
])
def test_env_names(step, key, expected):
    assert env_name(step, key) == expected


def test_output_env_only_for_the_given_steps():
    outputs = {"a": {"n": "1"}, "b": {"n": "2"}}
    assert output_env(outputs, ["a"]) == {"CRONFLOW_OUT_A_N": "1"}


def test_merge_outputs_later_items_win():
    assert merge_outputs([{"a": "1", "b": "1"}, {"b": "2"}]) == {"a": "1", "b": "2"}


@pytest.mark.parametrize("text,items", [
    ("AAPL,MSFT,GOOGL", ("AAPL", "MSFT", "GOOGL")),
    (" a , ,b ", ("a", "b")),
    ("", ()),
    ('["x", "y z", 3]', ("x", "y z", "3")),
])
def test_split_items(text, items):
    assert split_items(text) == items


@pytest.mark.parametrize("text", ["[1,", '[["nested"]]', "[null]"])
def test_split_items_rejects_bad_json(text):
    with pytest.raises(ValueError):
        split_items(text)
