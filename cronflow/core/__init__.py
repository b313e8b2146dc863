"""The functional core: pure functions of their arguments (no I/O, no clock, no click,
no pluggy). Text -> definitions -> schedules -> fire decisions -> run transitions ->
what is shown. It imports only the standard library's pure parts, croniter, and
``cronflow.model``/``errors``/``durations`` (tests/meta/test_layout.py checks this).
"""
