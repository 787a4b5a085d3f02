"""`-k EXPR`: choosing scenarios by words, as pytest's -k does.

A word matches when it occurs (case-insensitively) in the scenario's name, its file path
or one of its tags; words combine with `and`, `or`, `not` and parentheses:
`-k "roster and not refresh"`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Predicate = Callable[[str], bool]
TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


class KeywordError(ValueError):
    pass


def compile_keywords(expression: str) -> Callable[[list[str]], bool]:
    """A predicate on the texts describing a scenario (name, path, tags)."""
    tokens = TOKEN.findall(expression)
    if not tokens:
        raise KeywordError("-k needs an expression")
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise KeywordError(f"-k {expression!r}: the expression ends too early")
        position += 1
        return tokens[position - 1]

    def either() -> Predicate:
        left = both()
        while peek() == "or":
            take()
            right, first = both(), left
            left = lambda t, a=first, b=right: a(t) or b(t)  # noqa: E731
        return left

    def both() -> Predicate:
        left = negation()
        while peek() == "and":
            take()
            right, first = negation(), left
            left = lambda t, a=first, b=right: a(t) and b(t)  # noqa: E731
        return left

    def negation() -> Predicate:
        if peek() == "not":
            take()
            inner = negation()
            return lambda t: not inner(t)
        return atom()

    def atom() -> Predicate:
        token = take()
        if token == "(":
            inner = either()
            if take() != ")":
                raise KeywordError(f"-k {expression!r}: missing ')'")
            return inner
        if token in (")", "and", "or"):
            raise KeywordError(f"-k {expression!r}: unexpected {token!r}")
        word = token.lower()
        return lambda text: word in text

    predicate = either()
    if position != len(tokens):
        raise KeywordError(f"-k {expression!r}: unexpected {tokens[position]!r}")
    return lambda texts: predicate("\n".join(texts).lower())
