"""``--where`` expressions: a small SQL-like language over data-ID keys.

Examples: ``visit > 3 AND band = 'r'``, ``visit IN (1, 2, 5)``,
``NOT (tract = 0 OR detector != 2)``. Keys are the repository's dimensions
(:data:`diffim.repo.datasets.DIMENSIONS`); values are integers or quoted strings;
operators ``= == != <> < <= > >=``, ``[NOT] IN (...)``, ``AND``, ``OR``, ``NOT``
and parentheses (keywords in any case). The expression becomes an SQLAlchemy
clause, so it runs in the registry's database, and nothing of it is pasted
into SQL text.
"""
from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import and_, not_, or_
from sqlalchemy.sql.elements import ColumnElement

from ..errors import InputError
from .datasets import DIMENSIONS

_TOKEN = re.compile(r"""\s*(?:(?P<number>-?\d+)|(?P<string>'[^']*'|"[^"]*")
                    |(?P<op><=|>=|==|!=|<>|=|<|>)|(?P<punct>[(),])
                    |(?P<word>[A-Za-z_][A-Za-z0-9_]*))""", re.VERBOSE)

_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "==": operator.eq, "!=": operator.ne, "<>": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}

_KEYWORDS = {"AND", "OR", "NOT", "IN"}


def _tokens(text: str) -> list[tuple[str, Any, int]]:
    """``(kind, value, position)`` of each token, ending with ``("end", None, len)``."""
    tokens, position = [], 0
    while text[position:].strip():
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            start = len(text) - len(text[position:].lstrip())
            raise InputError(f"--where {text!r}: unexpected {text[start]!r} at character "
                             f"{start + 1} (expected a key, a value, an operator or a "
                             "parenthesis)")
        kind = match.lastgroup
        start = match.start(kind)
        value: Any = match.group(kind)
        if kind == "number":
            value = int(value)
        elif kind == "string":
            value = value[1:-1]
        elif kind == "word" and value.upper() in _KEYWORDS:
            kind, value = "keyword", value.upper()
        tokens.append((kind, value, start))
        position = match.end()
    tokens.append(("end", None, len(text)))
    return tokens


class _Parser:
    """Recursive descent over the tokens of one expression."""

    def __init__(self, text: str, columns: Mapping[str, Any]) -> None:
        self.text = text
        self.columns = columns
        self.tokens = _tokens(text)
        self.index = 0

    def fail(self, expected: str) -> InputError:
        kind, value, position = self.tokens[self.index]
        found = "the end" if kind == "end" else repr(str(value))
        return InputError(f"--where {self.text!r}: expected {expected} at character "
                          f"{position + 1}, found {found}")

    def peek(self, kind: str, value: Any = None) -> bool:
        tokenKind, tokenValue, _ = self.tokens[self.index]
        return tokenKind == kind and (value is None or tokenValue == value)

    def take(self, kind: str, value: Any = None, expected: str = "") -> Any:
        if not self.peek(kind, value):
            raise self.fail(expected or (repr(value) if value is not None else kind))
        token = self.tokens[self.index]
        self.index += 1
        return token[1]

    def parse(self) -> ColumnElement:
        clause = self.disjunction()
        if not self.peek("end"):
            raise self.fail("AND, OR or the end")
        return clause

    def disjunction(self) -> ColumnElement:
        terms = [self.conjunction()]
        while self.peek("keyword", "OR"):
            self.index += 1
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else or_(*terms)

    def conjunction(self) -> ColumnElement:
        terms = [self.negation()]
        while self.peek("keyword", "AND"):
            self.index += 1
            terms.append(self.negation())
        return terms[0] if len(terms) == 1 else and_(*terms)

    def negation(self) -> ColumnElement:
        if self.peek("keyword", "NOT"):
            self.index += 1
            return not_(self.negation())
        if self.peek("punct", "("):
            self.index += 1
            clause = self.disjunction()
            self.take("punct", ")", "')'")
            return clause
        return self.comparison()

    def comparison(self) -> ColumnElement:
        key = self.take("word", expected=f"a key ({', '.join(DIMENSIONS)})")
        if key not in DIMENSIONS:
            self.index -= 1
            raise self.fail(f"a key ({', '.join(DIMENSIONS)})")
        column = self.columns[key]
        if self.peek("op"):
            op = self.take("op")
            return _COMPARISONS[op](column, self.value(key))
        negated = self.peek("keyword", "NOT")
        if negated:
            self.index += 1
        self.take("keyword", "IN", "an operator (= != < <= > >=) or IN")
        self.take("punct", "(", "'('")
        values = [self.value(key)]
        while self.peek("punct", ","):
            self.index += 1
            values.append(self.value(key))
        self.take("punct", ")", "')' or ','")
        clause = column.in_(values)
        return not_(clause) if negated else clause

    def value(self, key: str) -> int | str:
        kind = DIMENSIONS[key]
        expected = "an integer" if kind is int else "a quoted string"
        if kind is int and self.peek("number"):
            return self.take("number")
        if kind is str and self.peek("string"):
            return self.take("string")
        raise self.fail(f"{expected} (the value of {key})")


def parseWhere(text: str, columns: Mapping[str, Any]) -> ColumnElement:
    """The SQLAlchemy clause of a ``--where`` expression.

    Parameters
    ----------
    text : str
        The expression.
    columns : mapping
        Data-ID key -> the SQLAlchemy column holding it.

    Raises
    ------
    InputError
        If the expression is not valid; the message quotes it and says where and
        what was expected.
    """
    if not text.strip():
        raise InputError("--where '': empty expression (expected e.g. \"visit > 3 AND band = "
                         "'r'\")")
    return _Parser(text, columns).parse()
