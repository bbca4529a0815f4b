"""Odoo domains (prefix-notation filters) checked and evaluated against simulator records.

Semantics follow Odoo 18's expression module where clients can observe them:
- implicit '&' between terms, `!`, `|`, TRUE/FALSE leaves;
- `('f', '=', False)` matches unset values (and empty strings), `('f', '!=', False)` set ones;
- negative operators (`!=`, `not in`, `not like`, `not ilike`, `not any`) are the negation of the
  positive one, so they also match unset values;
- many2one compared by id, or by display name when the value is a string (like name_search);
- dotted paths become nested `any` on the relational fields (as `_anyfy_leaves` does);
- a datetime field compared with a date-only string gets " 00:00:00" (" 23:59:59" for `>` and `<=`);
  other strings are parsed with microseconds, so `('write_date', '>', '...:30')` keeps a row stamped
  at :30.4 even though it reads back as ":30";
- a non-stored field without a search method is ignored (TRUE leaf) with an error in the log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .orm import BaseModel

_logger = logging.getLogger("simulators.odoo.expression")

TERM_OPERATORS = (
    "=",
    "!=",
    "<=",
    "<",
    ">",
    ">=",
    "=?",
    "=like",
    "=ilike",
    "like",
    "not like",
    "ilike",
    "not ilike",
    "in",
    "not in",
    "child_of",
    "parent_of",
    "any",
    "not any",
)
NEGATIONS = {"!=": "=", "not in": "in", "not like": "like", "not ilike": "ilike", "not any": "any"}
TRUE_LEAF = (1, "=", 1)
FALSE_LEAF = (0, "=", 1)

Predicate = Callable[[int], bool]


def _is_leaf(element: Any) -> bool:
    return (
        isinstance(element, (list, tuple))
        and len(element) == 3
        and isinstance(element[1], str)
        and element[1].lower() in TERM_OPERATORS
        and (isinstance(element[0], str) or tuple(element) in (TRUE_LEAF, FALSE_LEAF))
    )


def normalize(domain: Any) -> list:
    """Odoo's normalize_domain: explicit '&' operators, leaves as tuples."""
    if not isinstance(domain, (list, tuple)):
        raise ValueError("Domains to normalize must have a 'domain' form: a list or tuple of domain components")
    if not domain:
        return [TRUE_LEAF]
    result: list = []
    expected = 1
    arity = {"!": 1, "&": 2, "|": 2}
    for token in domain:
        if expected == 0:
            result[0:0] = ["&"]
            expected = 1
        if isinstance(token, (list, tuple)):
            if not _is_leaf(token):
                raise ValueError(f"Invalid leaf {tuple(token)!r}" if len(token) == 3 else f"Invalid leaf {token!r}")
            expected -= 1
            result.append(tuple(token))
        elif token in arity:
            expected += arity[token] - 1
            result.append(token)
        else:
            raise ValueError(f"Invalid leaf {token!r}")
    if expected != 0:
        raise ValueError(f"This domain is syntactically not correct: {domain}")
    return result


class DomainCompiler:
    """Turns a normalized domain into a predicate over record ids of one model, in one environment."""

    def __init__(self, model: BaseModel):
        self.model = model

    def compile(self, domain: Any) -> Predicate:
        tokens = normalize(domain)
        predicate, rest = self._parse(self.model, tokens)
        assert not rest
        return predicate

    def _parse(self, model: BaseModel, tokens: list) -> tuple[Predicate, list]:
        head, rest = tokens[0], tokens[1:]
        if head == "!":
            inner, rest = self._parse(model, rest)
            return (lambda rid: not inner(rid)), rest
        if head in ("&", "|"):
            left, rest = self._parse(model, rest)
            right, rest = self._parse(model, rest)
            if head == "&":
                return (lambda rid: left(rid) and right(rid)), rest
            return (lambda rid: left(rid) or right(rid)), rest
        return self._leaf(model, head), rest

    # -- leaves -------------------------------------------------------------------------------------
    def _leaf(self, model: BaseModel, leaf: tuple) -> Predicate:
        if leaf == TRUE_LEAF:
            return lambda rid: True
        if leaf == FALSE_LEAF:
            return lambda rid: False
        path, operator, value = leaf
        operator = operator.lower()
        names = path.split(".")
        fields = model._fields
        field = fields.get(names[0])
        if field is None:
            raise ValueError(f"Invalid field {model._name}.{names[0]} in leaf {leaf!r}")
        if field.relation and field.relation not in model.env and (len(names) > 1 or operator == "any"):
            raise ValueError(f"Invalid field {model._name}.{path} in leaf {leaf!r}: {field.relation} is not simulated")
        if len(names) > 1:
            if field.relation is None:
                raise ValueError(f"Invalid field {model._name}.{path} in leaf {leaf!r}")
            comodel = model.env[field.relation]
            sub = DomainCompiler(comodel)
            rest = ".".join(names[1:])
            if names[1] == "id" and len(names) == 2:
                return self._leaf(model, (names[0], operator, value))
            inner = sub.compile([(rest, operator, value)])
            return self._any(model, field, inner)
        if not field.searchable:
            _logger.error("Non-stored field %s.%s cannot be searched.", model._name, field.name)
            return lambda rid: True
        if operator in NEGATIONS:
            positive = self._leaf(model, (path, NEGATIONS[operator], value))
            return lambda rid: not positive(rid)
        if operator == "=?":
            if value is None or value is False:
                return lambda rid: True
            operator = "="
        if operator == "any":
            if field.relation is None:
                raise ValueError(f"Binary operator 'any' is only for relational fields, not {field.name}")
            inner = DomainCompiler(model.env[field.relation]).compile(value)
            return self._any(model, field, inner)
        if operator in ("child_of", "parent_of"):
            return self._hierarchy(model, field, operator, value)
        matcher = self._matcher(model, field, operator, value)
        if field.type in ("many2many", "one2many"):
            return lambda rid: (
                any(matcher(v) for v in model._get(rid, field.name))
                or (not model._get(rid, field.name) and matcher(None))
            )
        return lambda rid: matcher(model._get(rid, field.name))

    def _any(self, model: BaseModel, field, inner: Predicate) -> Predicate:
        def check(rid: int) -> bool:
            value = model._get(rid, field.name)
            if field.type in ("many2many", "one2many"):
                return any(inner(v) for v in value)
            return bool(value) and inner(value)

        return check

    def _hierarchy(self, model: BaseModel, field, operator: str, value: Any) -> Predicate:
        target = model if field.name == "id" else model.env[field.relation] if field.relation else None
        if target is None or not target._parent_name:
            raise ValueError(f"Invalid field {model._name}.{field.name} for {operator}")
        roots = set(value if isinstance(value, (list, tuple)) else [value])
        parent = target._parent_name
        related: set[int] = set()
        all_ids = target._all_ids()
        if operator == "child_of":
            frontier = set(roots)
            while frontier:
                related |= frontier
                frontier = {i for i in all_ids if target._get(i, parent) in frontier} - related
        else:
            for rid in roots:
                while rid and rid not in related:
                    related.add(rid)
                    rid = target._get(rid, parent)

        def check(rid: int) -> bool:
            current = rid if field.name == "id" else model._get(rid, field.name)
            if isinstance(current, (list, tuple)):
                return any(c in related for c in current)
            return current in related

        return check

    def _matcher(self, model: BaseModel, field, operator: str, value: Any) -> Callable[[Any], bool]:
        ftype = field.type
        if ftype in ("many2one", "many2many", "one2many") and field.relation in model.env and _names_value(value):
            comodel = model.env[field.relation]
            return _display_name_matcher(comodel, operator, value)
        if operator in ("like", "ilike", "=like", "=ilike"):
            if value is False or value is None:
                value = ""
            pattern = str(value)
            if operator in ("like", "ilike"):
                if not pattern:
                    return lambda v: True
                pattern = f"%{pattern}%"
            regex = _like_regex(pattern, case_insensitive=operator.endswith("ilike"))
            return lambda v: v is not None and v is not False and regex.fullmatch(str(v)) is not None
        if operator == "in":
            values = value if isinstance(value, (list, tuple, set)) else [value]
            want_null = any(v is False or v is None for v in values)
            coerced = {_coerce(field, v, operator) for v in values if v is not False and v is not None}
            if ftype == "boolean":
                return lambda v: bool(v) in coerced or (want_null and not v)
            return lambda v: (v in coerced) if not _is_null(field, v) else want_null
        if operator == "=":
            if value is False or value is None:
                if ftype == "boolean":
                    return lambda v: not v
                return lambda v: _is_null(field, v)
            if ftype == "boolean":
                return lambda v: bool(v) == bool(value)
            wanted = _coerce(field, value, operator)
            return lambda v: not _is_null(field, v) and v == wanted
        if operator in ("<", "<=", ">", ">="):
            if value is False or value is None:
                return lambda v: False
            wanted = _coerce(field, value, operator)
            compare = {
                "<": lambda a, b: a < b,
                "<=": lambda a, b: a <= b,
                ">": lambda a, b: a > b,
                ">=": lambda a, b: a >= b,
            }[operator]

            def ordered(v: Any) -> bool:
                if _is_null(field, v):
                    return False
                try:
                    return compare(v, wanted)
                except TypeError:
                    return False

            return ordered
        raise ValueError(f"Invalid operator {operator!r}")


def _names_value(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, str) for v in value)


def _display_name_matcher(comodel: BaseModel, operator: str, value: Any) -> Callable[[Any], bool]:
    names_op = {"=": "=", "in": "in", "like": "like", "ilike": "ilike", "=like": "=like", "=ilike": "=ilike"}
    op = names_op.get(operator, "ilike")
    if op == "in":
        wanted = set(value if isinstance(value, (list, tuple)) else [value])
        matching = {rid for rid in comodel._all_ids() if comodel._display_name(rid) in wanted}
    elif op == "=":
        matching = {rid for rid in comodel._all_ids() if comodel._display_name(rid) == value}
    else:
        pattern = f"%{value}%" if op in ("like", "ilike") else str(value)
        regex = _like_regex(pattern, case_insensitive=op.endswith("ilike"))
        matching = {rid for rid in comodel._all_ids() if regex.fullmatch(comodel._display_name(rid) or "")}
    return lambda v: v in matching


def _is_null(field, value: Any) -> bool:
    if value is None or value is False:
        return True
    return field.type in ("char", "text", "html", "selection") and value == ""


def _coerce(field, value: Any, operator: str) -> Any:
    ftype = field.type
    if ftype == "datetime" and isinstance(value, str):
        text = value.strip()
        if len(text) == 10:
            text += " 23:59:59" if operator in (">", "<=") else " 00:00:00"
        return datetime.fromisoformat(text)
    if ftype == "date" and isinstance(value, str):
        return date.fromisoformat(value[:10])
    if ftype in ("integer", "many2one", "one2many", "many2many", "many2one_reference") and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    if ftype in ("float", "monetary") and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _like_regex(pattern: str, *, case_insensitive: bool) -> re.Pattern:
    # SQL LIKE: % is any run, _ any one character, backslash escapes the next character.
    out = []
    escaped = False
    for char in pattern:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if case_insensitive else 0))
