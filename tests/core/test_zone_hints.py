"""Unknown time zone names: suggestions are real Region/City zones, never an abbreviation
or a legacy alias (`CEST` used to get "did you mean 'EST'?")."""

from __future__ import annotations

import pytest

from cronflow.core.schedule import resolve_zone
from cronflow.core.schedule.zones import iana_names, zones_using
from cronflow.errors import ScheduleError


def message(name: str) -> str:
    with pytest.raises(ScheduleError) as info:
        resolve_zone(name)
    return str(info.value)


@pytest.mark.parametrize(("name", "expected"), [
    ("CEST", "unknown time zone 'CEST': CEST is an abbreviation, not a time zone; write the "
             "zone of the place, such as 'Europe/Paris', 'Europe/Berlin' or 'Africa/Ceuta'"),
    ("cest", "unknown time zone 'cest': CEST is an abbreviation, not a time zone; write the "
             "zone of the place, such as 'Europe/Paris', 'Europe/Berlin' or 'Africa/Ceuta'"),
    # one abbreviation, three countries: each is offered
    ("IST", "unknown time zone 'IST': IST is an abbreviation, not a time zone; write the "
            "zone of the place, such as 'Europe/Dublin', 'Asia/Kolkata' or 'Asia/Jerusalem'"),
    ("PDT", "unknown time zone 'PDT': PDT is an abbreviation, not a time zone; write the "
            "zone of the place, such as 'America/Los_Angeles', 'America/Ensenada' or "
            "'America/Santa_Isabel'"),
    ("JST", "unknown time zone 'JST': JST is an abbreviation, not a time zone; write the "
            "zone of the place, such as 'Asia/Tokyo'"),
    # case and bare cities
    ("europe/paris", "unknown time zone 'europe/paris' (did you mean 'Europe/Paris'? zone "
                     "names are case-sensitive)"),
    ("Tokyo", "unknown time zone 'Tokyo' (did you mean 'Asia/Tokyo'?)"),
    ("new york", "unknown time zone 'new york' (did you mean 'America/New_York'?)"),
    # typos get the closest Region/City name
    ("Europe/Pariss", "unknown time zone 'Europe/Pariss' (did you mean 'Europe/Paris'?)"),
    ("America/New_Yrok", "unknown time zone 'America/New_Yrok' (did you mean "
                         "'America/New_York'?)"),
    # nothing close: no guess
    ("Mars/Olympus_Mons", "unknown time zone 'Mars/Olympus_Mons'"),
    ("XQZ", "unknown time zone 'XQZ'"),
    ("/etc/localtime", "unknown time zone '/etc/localtime'"),
])
def test_an_unknown_zone_gets_a_real_zone_or_nothing(name, expected):
    assert message(name) == expected


def test_no_suggestion_is_an_abbreviation_or_a_legacy_alias():
    names = iana_names()
    assert "UTC" in names and "Europe/Paris" in names
    for legacy in ("EST", "CET", "GB", "US/Eastern", "Etc/GMT+5", "EST5EDT"):
        assert legacy not in names
        resolve_zone(legacy)  # still accepted where written
    for word in ("CEST", "ESTT", "Europe/Pars", "Eastern", "CETT"):
        text = message(word)
        for legacy in ("'EST'", "'CET'", "'US/", "'Etc/"):
            assert legacy not in text, (word, text)


def test_zones_using_an_abbreviation_show_it_in_winter_or_summer():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    for abbreviation in ("CEST", "CET", "EST", "AEST", "MSK"):
        users = zones_using(abbreviation)
        assert users
        for name in users:
            shown = {datetime(2025, m, 15, 12, tzinfo=ZoneInfo(name)).tzname() for m in (1, 7)}
            assert abbreviation in shown
