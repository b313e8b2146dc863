"""What to say about a time zone name that is not one: suggestions from IANA names only.

``CEST``, ``PST`` or ``IST`` are abbreviations a zone shows, not zones: they say nothing of
when summer time starts, and several zones share one (IST is India, Ireland and Israel).
Such a name is answered with real ``Region/City`` zones that use it; a typo with the
closest ``Region/City`` name; a bare city (``Tokyo``) with its zone. Legacy names the tz
database keeps for compatibility (``EST``, ``US/Eastern``, ``GB``) are accepted where
written, but never suggested. Reads only the tz database, like the rest of the engine.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from functools import lru_cache

from cronflow.core.suggest import closest

# areas of the tz database whose names are compatibility links, never the name to write
_LEGACY_AREAS = ("Etc/", "US/", "Canada/", "Mexico/", "Brazil/", "Chile/", "SystemV/")
# the zones a person most likely means by a shared abbreviation, offered first
_WELL_KNOWN = (
    "Europe/Paris", "Europe/Berlin", "Europe/London", "Europe/Dublin", "Europe/Lisbon",
    "Europe/Helsinki", "Europe/Athens", "Europe/Moscow", "America/New_York", "America/Chicago",
    "America/Denver", "America/Phoenix", "America/Los_Angeles", "America/Anchorage",
    "Pacific/Honolulu", "America/Halifax", "America/St_Johns", "America/Sao_Paulo",
    "Asia/Kolkata", "Asia/Jerusalem", "Asia/Tokyo", "Asia/Seoul", "Asia/Shanghai",
    "Asia/Hong_Kong", "Asia/Singapore", "Asia/Manila", "Australia/Sydney", "Australia/Brisbane",
    "Australia/Adelaide", "Australia/Perth", "Pacific/Auckland", "Africa/Johannesburg",
    "Africa/Cairo", "Africa/Lagos", "Africa/Nairobi",
)
# a winter and a summer day: together they show both abbreviations of a zone
_SAMPLE_DAYS = (datetime(2025, 1, 15, 12), datetime(2025, 7, 15, 12))
_SHOWN = 3


@lru_cache(maxsize=1)
def all_zone_names() -> frozenset[str]:
    """Every zone name the tz database accepts (legacy ones included)."""
    return frozenset(zoneinfo.available_timezones() - {"localtime", "posixrules", "Factory"})


@lru_cache(maxsize=1)
def iana_names() -> tuple[str, ...]:
    """The ``Region/City`` names worth suggesting, and ``UTC``, sorted."""
    return tuple(sorted(name for name in all_zone_names()
                        if name == "UTC" or ("/" in name and not name.startswith(_LEGACY_AREAS))))


@lru_cache(maxsize=1)
def _abbreviations() -> dict[str, tuple[str, ...]]:
    """Abbreviation (``CEST``) -> the suggestable zones showing it, well-known ones first."""
    found: dict[str, set[str]] = {}
    for name in iana_names():
        zone = zoneinfo.ZoneInfo(name)
        for day in _SAMPLE_DAYS:
            abbreviation = day.replace(tzinfo=zone).tzname()
            if abbreviation and abbreviation.isalpha():
                found.setdefault(abbreviation.upper(), set()).add(name)
    rank = {name: index for index, name in enumerate(_WELL_KNOWN)}
    return {abbreviation: tuple(sorted(names, key=lambda n: (rank.get(n, len(rank)), n)))
            for abbreviation, names in found.items()}


def zones_using(abbreviation: str) -> tuple[str, ...]:
    """The ``Region/City`` zones that show ``abbreviation`` (any case), well-known first."""
    return _abbreviations().get(abbreviation.upper(), ())


def unknown_zone_hint(name: str) -> str:
    """What to add to "unknown time zone 'NAME'": a suggestion, or ``""``."""
    if not name or name.startswith(("/", ".")):
        return ""  # a path is refused on purpose: no suggestion would help
    lowered = name.lower()
    same = [zone for zone in all_zone_names() if zone.lower() == lowered]
    if same:
        return f" (did you mean {same[0]!r}? zone names are case-sensitive)"
    city = lowered.replace(" ", "_")
    cities = [zone for zone in iana_names() if zone.rsplit("/", 1)[-1].lower() == city]
    if cities:
        return f" (did you mean {cities[0]!r}?)"
    if name.isalpha() and 2 <= len(name) <= 6:
        users = zones_using(name)
        if users:
            shown = [repr(zone) for zone in users[:_SHOWN]]
            listed = ", ".join(shown[:-1]) + f" or {shown[-1]}" if len(shown) > 1 else shown[0]
            return (f": {name.upper()} is an abbreviation, not a time zone; write the zone "
                    f"of the place, such as {listed}")
    match = closest(name, iana_names())
    return f" (did you mean {match!r}?)" if match is not None else ""
