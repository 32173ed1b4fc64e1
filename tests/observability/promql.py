"""The metric names a PromQL expression reads (enough PromQL for our rules and dashboards: selectors,
functions, aggregations with by/without, vector matching, durations, numbers)."""

from __future__ import annotations

import re

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'")
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPINGS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "e"}


def metric_names(expr: str) -> set[str]:
    """Names of the series ``expr`` selects; functions, aggregations and keywords are not."""
    text = _GROUPINGS.sub(" ", _RANGES.sub(" ", _MATCHERS.sub(" ", _STRINGS.sub(" ", expr))))
    names = set()
    for match in _IDENTIFIER.finditer(text):
        following = text[match.end():].lstrip()
        preceding = text[:match.start()]
        if following.startswith("(") or match.group().lower() in _KEYWORDS:
            continue  # a function or an aggregation, or an operator keyword
        if preceding and (preceding[-1].isdigit() or preceding[-1] == "."):
            continue  # an exponent or a unit inside a number (1e9)
        names.add(match.group())
    return names
