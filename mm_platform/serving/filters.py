"""Dify's `metadata_condition` language: operators, conditions and the filter applied to records
(a `language is X` under `and` is pushed down into the index search)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from mm_platform.serving.errors import bad_request


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_float(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _as_time(value: Any) -> float | None:
    number = _as_float(value)
    if number is not None:
        return number
    if isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    return None


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _equal(actual: Any, expected: Any) -> bool:
    if _is_number(actual) and _as_float(expected) is not None:
        return float(actual) == _as_float(expected)
    return str(actual) == str(expected) if actual is not None else False


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, list):
        return any(_equal(item, expected) for item in actual)
    return actual is not None and str(expected) in str(actual)


def _value_list(value: Any) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [value]


def _compare(op: Callable[[float, float], bool], convert: Callable[[Any], float | None]):
    def test(actual: Any, expected: Any) -> bool:
        a, b = convert(actual), convert(expected)
        return a is not None and b is not None and op(a, b)
    return test


# operator -> (negated, positive test, needs a value)
_POSITIVE: dict[str, tuple[Callable[[Any, Any], bool], bool]] = {
    "contains": (_contains, True),
    "start with": (lambda a, e: a is not None and str(a).startswith(str(e)), True),
    "end with": (lambda a, e: a is not None and str(a).endswith(str(e)), True),
    "is": (_equal, True),
    "in": (lambda a, e: any(_equal(a, item) for item in _value_list(e)), True),
    "empty": (lambda a, e: _is_empty(a), False),
    "=": (lambda a, e: (_compare(lambda x, y: x == y, _as_float)(a, e)
                        if _as_float(e) is not None and _as_float(a) is not None else _equal(a, e)), True),
    ">": (_compare(lambda x, y: x > y, _as_float), True),
    "<": (_compare(lambda x, y: x < y, _as_float), True),
    "≥": (_compare(lambda x, y: x >= y, _as_float), True),
    "≤": (_compare(lambda x, y: x <= y, _as_float), True),
    "before": (_compare(lambda x, y: x < y, _as_time), True),
    "after": (_compare(lambda x, y: x > y, _as_time), True),
}
_OPERATORS: dict[str, tuple[bool, str]] = {
    **{name: (False, name) for name in _POSITIVE},
    "not contains": (True, "contains"), "is not": (True, "is"), "not in": (True, "in"),
    "not empty": (True, "empty"), "≠": (True, "="),
    # other spellings seen in Dify's docs and clients
    "null": (False, "empty"), "not null": (True, "empty"), "!=": (True, "="), ">=": (False, "≥"),
    "<=": (False, "≤"), "starts with": (False, "start with"), "ends with": (False, "end with"),
    "is empty": (False, "empty"), "is not empty": (True, "empty"),
}
SUPPORTED_OPERATORS = tuple(_OPERATORS)


@dataclass(frozen=True)
class Condition:
    names: tuple[str, ...]
    negated: bool
    positive: str
    value: Any

    def __call__(self, metadata: dict) -> bool:
        test = _POSITIVE[self.positive][0]
        holds = any(test(metadata.get(name), self.value) for name in self.names)
        return not holds if self.negated else holds


@dataclass(frozen=True)
class MetadataFilter:
    conditions: tuple[Condition, ...]
    any_of: bool
    language: str | None  # pushed down into the index search

    def __call__(self, metadata: dict) -> bool:
        results = (c(metadata) for c in self.conditions)
        return any(results) if self.any_of else all(results)


def parse_metadata_condition(raw: Any) -> MetadataFilter | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise bad_request("metadata_condition must be an object")
    logical = raw.get("logical_operator") or "and"
    if not isinstance(logical, str) or logical.lower() not in ("and", "or"):
        raise bad_request("metadata_condition.logical_operator must be 'and' or 'or'")
    items = raw.get("conditions")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise bad_request("metadata_condition.conditions must be a list")
    if len(items) > 32:
        raise bad_request("metadata_condition.conditions: at most 32 conditions")
    conditions = []
    for i, item in enumerate(items):
        where = f"metadata_condition.conditions[{i}]"
        if not isinstance(item, dict):
            raise bad_request(f"{where} must be an object")
        names = item.get("name")
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise bad_request(f"{where}.name must be a non-empty string or list of strings")
        operator = item.get("comparison_operator")
        if not isinstance(operator, str) or operator.strip().lower() not in _OPERATORS:
            raise bad_request(f"{where}.comparison_operator {operator!r} is not supported; "
                              f"supported: {', '.join(SUPPORTED_OPERATORS)}")
        negated, positive = _OPERATORS[operator.strip().lower()]
        value = item.get("value")
        if _POSITIVE[positive][1]:
            if value is None:
                raise bad_request(f"{where}.value is required for {operator!r}")
            if not isinstance(value, (str, int, float, list)) or isinstance(value, bool) or (
                    isinstance(value, list) and not all(isinstance(v, (str, int, float)) for v in value)):
                raise bad_request(f"{where}.value must be a string, a number or a list of strings")
        conditions.append(Condition(tuple(names), negated, positive, value))
    any_of = logical.lower() == "or" and len(conditions) > 1
    language = None
    if not any_of:
        for c in conditions:
            if c.names == ("language",) and not c.negated:
                if c.positive in ("is", "=") and isinstance(c.value, str):
                    language = c.value
                elif c.positive == "in" and len(_value_list(c.value)) == 1 and isinstance(_value_list(c.value)[0], str):
                    language = _value_list(c.value)[0]
    return MetadataFilter(tuple(conditions), any_of, language)
