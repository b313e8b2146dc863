"""The TOML key locator: every key path of a valid document -> the line it is written on."""

from __future__ import annotations

import tomllib

import pytest

from cronflow.core.definition.tomllines import locate_keys


def located(text: str) -> dict:
    tomllib.loads(text)  # the locator's precondition: a valid document
    return locate_keys(text).as_dict()


def test_top_level_keys_and_array_elements():
    text = 'name = "x"\n\ncommand = [\n  "a",  # x = 1\n  "b",\n]\n'
    assert located(text) == {
        ("name",): 1, ("command",): 3, ("command", 0): 4, ("command", 1): 5,
    }


def test_table_headers_and_their_keys():
    text = "a = 1\n[retry]\npolicy = 'x'\n\n  attempts = 3\n[env]\nHOME = '/'\n"
    lines = located(text)
    assert lines[("retry",)] == 2
    assert lines[("retry", "policy")] == 3
    assert lines[("retry", "attempts")] == 5
    assert lines[("env", "HOME")] == 7


def test_arrays_of_tables_are_indexed():
    text = "[[notify]]\nvia = 'a'\n[[notify]]\nvia = 'b'\non = ['x']\n"
    lines = located(text)
    assert lines[("notify",)] == 1
    assert lines[("notify", 0)] == 1
    assert lines[("notify", 0, "via")] == 2
    assert lines[("notify", 1)] == 3
    assert lines[("notify", 1, "on", 0)] == 5


def test_nested_arrays_of_tables_resolve_to_the_latest_parent_element():
    text = (
        "[[phases]]\nname = 'p'\n[[phases.steps]]\nname = 'a'\n[[phases.steps]]\nname = 'b'\n"
        "[phases.steps.env]\nX = '1'\n[[phases]]\nname = 'q'\n[[phases.steps]]\nname = 'c'\n"
    )
    lines = located(text)
    assert lines[("phases", 0, "steps", 1, "name")] == 6
    assert lines[("phases", 0, "steps", 1, "env", "X")] == 8
    assert lines[("phases", 1, "name")] == 10
    assert lines[("phases", 1, "steps", 0, "name")] == 12


def test_dotted_and_quoted_keys():
    text = 'retry.attempts = 3\n"quoted key" = 1\n\'lit.eral\' = 2\n[env]\n"A\\u0042" = "x"\na . b = 1\n'
    lines = located(text)
    assert lines[("retry",)] == 1
    assert lines[("retry", "attempts")] == 1
    assert lines[("quoted key",)] == 2
    assert lines[("lit.eral",)] == 3
    assert lines[("env", "AB")] == 5
    assert lines[("env", "a", "b")] == 6


@pytest.mark.parametrize("value", [
    '"""\nfake = 1\n[fake]\n"""',
    "'''\nfake = 1\n[[fake]]\n'''",
    '"""ends with quotes\nfake = 1 """""',
    "'''ends with quotes\nfake = 1 '''''",
    '"""escaped \\""" quote\nfake = 1\n"""',
    '[\n  "fake = 1",\n  # fake = 1\n  [1, 2],\n]',
    "{ a = 1, b = { c = 'fake = 1' } }",
    '"# not a comment [fake]"',
])
def test_keys_inside_values_are_not_mistaken_for_keys(value):
    text = f"first = {value}\nlast = 1\n"
    lines = located(text)
    assert "fake" not in {path[0] for path in lines}
    assert lines[("last",)] == text.count("\n")


def test_inline_tables_record_their_keys_on_their_line():
    text = "x = 1\nretry = { policy = 'fixed', attempts = 2 }\nnotify = [\n  { via = 'a' },\n  { via = 'b' },\n]\n"
    lines = located(text)
    assert lines[("retry", "attempts")] == 2
    assert lines[("notify", 1)] == 5
    assert lines[("notify", 1, "via")] == 5


def test_dates_and_numbers_as_values():
    text = "a = 1979-05-27 07:32:00Z\nb = [1.5, -2, inf, true]\nc = 0x1F # hex\nd = 1"
    lines = located(text)
    assert lines[("b", 3)] == 2
    assert lines[("d",)] == 4


def test_lookup_falls_back_to_the_nearest_written_ancestor():
    lines = locate_keys("a = 1\n[retry]\npolicy = 'x'\n")
    assert lines.line("retry", "attempts") == 2
    assert lines.line("retry", "policy") == 3
    assert lines.line("missing") == 1
    assert lines.get("retry", "attempts") is None


def test_crlf_line_endings():
    text = "a = 1\r\n[env]\r\nB = '2'\r\n"
    assert located(text)[("env", "B")] == 3


# -- property: every key of any document tomli_w writes is located --------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
import tomli_w  # noqa: E402

_keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=6)
_scalars = st.one_of(
    st.integers(), st.booleans(), st.floats(allow_nan=False),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=3)),
    max_leaves=12,
)


def _paths(value, prefix=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield prefix + (key,)
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield prefix + (index,)
            yield from _paths(item, prefix + (index,))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=5), st.booleans())
def test_every_key_tomli_w_writes_is_located(document, multiline):
    text = tomli_w.dumps(document, multiline_strings=multiline)
    lines = located(text)
    text_lines = text.count("\n") + 1
    for path in _paths(document):
        # an array of tables may have no header of its own when empty: fall back upward
        assert 1 <= locate_keys(text).line(*path) <= text_lines
        if isinstance(path[-1], str):
            assert path in lines, (path, text)
            if path[-1].isascii() and path[-1].isalnum():
                # the line found is one that spells the key
                assert path[-1] in text.split("\n")[lines[path] - 1], (path, text)
