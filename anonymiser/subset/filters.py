"""Root filters of subset datasets: one boolean expression over one table's own columns.

A filter is text from a YAML file that ends up inside SQL run against production, so it is
parsed with PostgreSQL's own parser (pglast) and accepted only if every node of the
expression is on an allow-list: column names, constants, boolean logic, comparison and
arithmetic operators, a few pure functions and casts to plain types. Anything else - a
second statement, a subquery, another table or schema, a parameter, an aggregate or window,
a function outside the list (pg_sleep, pg_read_file, dblink, set_config, lo_import, ...) - is
refused. The SQL that runs is *deparsed from the parse tree*, never the text as written, so
comments and quoting tricks cannot smuggle anything past the check.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pglast
from pglast import ast, enums
from pglast.stream import RawStream

__all__ = ["ALLOWED_FUNCTIONS", "ALLOWED_OPERATORS", "FilterError", "RowFilter", "parse_filter"]


class FilterError(ValueError):
    """A filter that is not a single allowed boolean expression (message says why)."""


ALLOWED_OPERATORS = frozenset(
    {"=", "<>", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "||",
     "~~", "!~~", "~~*", "!~~*", "~", "~*", "!~", "!~*"}
)  # fmt: skip
ALLOWED_FUNCTIONS = frozenset(
    {"lower", "upper", "length", "char_length", "btrim", "ltrim", "rtrim", "substr",
     "substring", "left", "right", "abs", "round", "floor", "ceil", "date_trunc", "date_part",
     "extract", "now", "coalesce", "nullif", "greatest", "least", "make_date",
     "to_date", "mod"}
)  # fmt: skip
ALLOWED_TYPES = frozenset(
    {"int2", "int4", "int8", "smallint", "integer", "int", "bigint", "numeric", "decimal",
     "float4", "float8", "real", "text", "varchar", "bpchar", "char", "date", "timestamp",
     "timestamptz", "interval", "bool", "boolean"}
)  # fmt: skip
_EXPR_KINDS = {
    enums.A_Expr_Kind.AEXPR_OP,
    enums.A_Expr_Kind.AEXPR_OP_ANY,
    enums.A_Expr_Kind.AEXPR_OP_ALL,
    enums.A_Expr_Kind.AEXPR_DISTINCT,
    enums.A_Expr_Kind.AEXPR_NOT_DISTINCT,
    enums.A_Expr_Kind.AEXPR_NULLIF,
    enums.A_Expr_Kind.AEXPR_IN,
    enums.A_Expr_Kind.AEXPR_LIKE,
    enums.A_Expr_Kind.AEXPR_ILIKE,
    enums.A_Expr_Kind.AEXPR_BETWEEN,
    enums.A_Expr_Kind.AEXPR_NOT_BETWEEN,
    enums.A_Expr_Kind.AEXPR_BETWEEN_SYM,
    enums.A_Expr_Kind.AEXPR_NOT_BETWEEN_SYM,
}
_BETWEEN_NAMES = {"BETWEEN", "NOT BETWEEN", "BETWEEN SYMMETRIC", "NOT BETWEEN SYMMETRIC"}
# SELECT clauses that must stay empty around the expression
_OTHER_CLAUSES = (
    "distinctClause", "intoClause", "fromClause", "groupClause", "havingClause",
    "windowClause", "valuesLists", "sortClause", "limitOffset", "limitCount",
    "lockingClause", "withClause", "larg", "rarg",
)  # fmt: skip


@dataclass(frozen=True)
class RowFilter:
    """A checked filter: its canonical SQL text and the columns it reads."""

    sql: str
    columns: frozenset[str]


def parse_filter(text: str) -> RowFilter:
    """Check `text` and return its canonical form; raises FilterError saying what is refused."""
    if not isinstance(text, str) or not text.strip():
        raise FilterError('the filter is empty: write a boolean expression such as "year >= 2024"')
    if "\x00" in text:
        raise FilterError("the filter holds a NUL character")
    prefix = "SELECT 1 WHERE "
    try:
        statements = pglast.parse_sql(prefix + text)
    except pglast.parser.ParseError as exc:
        offset = exc.args[1] if len(exc.args) > 1 else None
        at = f" (character {max(0, offset - len(prefix)) + 1})" if isinstance(offset, int) else ""
        raise FilterError(f"not a valid SQL expression: {exc.args[0]}{at}") from None
    if len(statements) != 1:
        raise FilterError("a filter is one expression, not several statements")
    stmt = statements[0].stmt
    if not isinstance(stmt, ast.SelectStmt) or stmt.op != enums.SetOperation.SETOP_NONE:
        raise FilterError("a filter is one boolean expression (no UNION or other clauses)")
    if any(getattr(stmt, name, None) for name in _OTHER_CLAUSES) or len(stmt.targetList or ()) != 1:
        raise FilterError("a filter is one boolean expression (no FROM, GROUP BY, LIMIT, ...)")
    columns: set[str] = set()
    where = stmt.whereClause
    if where is None:
        raise FilterError("the filter is empty")
    _check(where, columns)
    return RowFilter(sql=RawStream()(where), columns=frozenset(columns))


def _names(nodes: Iterable[ast.Node] | None) -> list[str]:
    return [getattr(n, "sval", "?") for n in nodes or ()]


def _check(node: object, columns: set[str]) -> None:
    if node is None:
        return
    if isinstance(node, tuple | list):
        for item in node:
            _check(item, columns)
        return
    match node:
        case ast.A_Const():
            return
        case ast.ColumnRef(fields=fields):
            first = fields[0] if fields and len(fields) == 1 else None
            if not isinstance(first, ast.String) or first.sval is None:
                raise FilterError(
                    "only the table's own columns may be named, unqualified "
                    f"(found {'.'.join(_names(fields)) or '*'})"
                )
            columns.add(first.sval)
        case ast.BoolExpr(args=args) | ast.CoalesceExpr(args=args) | ast.MinMaxExpr(args=args):
            _check(args, columns)
        case ast.RowExpr(args=args):
            _check(args, columns)
        case ast.A_ArrayExpr(elements=elements):
            _check(elements, columns)
        case ast.NullTest(arg=arg) | ast.BooleanTest(arg=arg):
            _check(arg, columns)
        case ast.A_Expr():
            _check_operator(node)
            _check(node.lexpr, columns)
            _check(node.rexpr, columns)
        case ast.TypeCast(arg=arg, typeName=type_name):
            if type_name is None:
                raise FilterError("a cast without a type is not allowed")
            _check_type(type_name)
            _check(arg, columns)
        case ast.FuncCall():
            _check_function(node)
            _check(node.args, columns)
        case ast.SQLValueFunction():
            return  # CURRENT_DATE, CURRENT_TIMESTAMP, LOCALTIMESTAMP, ...
        case ast.CaseExpr(arg=arg, args=whens, defresult=default):
            _check(arg, columns)
            for when in whens or ():
                _check(when.expr, columns)
                _check(when.result, columns)
            _check(default, columns)
        case ast.SubLink():
            raise FilterError("subqueries are not allowed: a filter reads only its own table")
        case ast.ParamRef():
            raise FilterError("parameters ($1) are not allowed")
        case _:
            raise FilterError(f"{type(node).__name__} is not allowed in a filter")


def _check_operator(node: ast.A_Expr) -> None:
    if node.kind is None or node.kind not in _EXPR_KINDS:
        kind = node.kind.name if node.kind is not None else "unknown"
        raise FilterError(f"{kind} expressions are not allowed")
    name = _names(node.name)
    if len(name) != 1:
        raise FilterError(f"schema-qualified operators are not allowed ({'.'.join(name)})")
    if name[0] not in ALLOWED_OPERATORS and name[0] not in _BETWEEN_NAMES:
        raise FilterError(f"operator {name[0]} is not allowed")


def _check_function(node: ast.FuncCall) -> None:
    name = _names(node.funcname)
    qualified = ".".join(name)
    if len(name) == 2 and name[0] == "pg_catalog":
        name = name[1:]
    if len(name) != 1 or name[0].lower() not in ALLOWED_FUNCTIONS:
        raise FilterError(f"function {qualified} is not allowed in a filter")
    # resolve in pg_catalog whatever the session's search_path: no user function can shadow it
    node.funcname = (ast.String(sval="pg_catalog"), ast.String(sval=name[0].lower()))
    if node.agg_star or node.agg_distinct or node.agg_filter or node.agg_order or node.over:
        raise FilterError(f"aggregates and window functions are not allowed ({qualified})")
    if node.func_variadic or node.agg_within_group:
        raise FilterError(f"VARIADIC and WITHIN GROUP are not allowed ({qualified})")


def _check_type(type_name: ast.TypeName) -> None:
    name = _names(type_name.names)
    qualified = ".".join(name)
    if len(name) == 2 and name[0] == "pg_catalog":
        name = name[1:]
    if len(name) != 1 or name[0].lower() not in ALLOWED_TYPES or type_name.setof:
        raise FilterError(f"cast to {qualified} is not allowed")
    if type_name.arrayBounds:
        raise FilterError(f"cast to an array of {qualified} is not allowed")
