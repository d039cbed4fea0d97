"""The store's read interface: documented, implemented whole, and the only way to SQL."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from monitor.store import Store
from monitor.store.reader import StoreReader

PACKAGE = Path(__file__).resolve().parents[1] / "monitor"
SQL = re.compile(r"\b(SELECT\s|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)")


def _read_methods() -> list[str]:
    return [
        name
        for name, member in vars(StoreReader).items()
        if not name.startswith("_") and inspect.iscoroutinefunction(member)
    ]


def test_every_read_method_has_one_doc_line() -> None:
    """Each method of StoreReader says in one line what it returns."""
    methods = _read_methods()
    assert len(methods) >= 10
    for name in methods:
        doc = inspect.getdoc(getattr(StoreReader, name))
        assert doc, f"StoreReader.{name} has no doc line"
        assert "\n" not in doc, f"StoreReader.{name}: one line, not {doc!r}"


def test_store_implements_every_read_method_with_its_signature() -> None:
    """Store has each StoreReader method, taking the same parameters."""
    for name in _read_methods():
        wanted = inspect.signature(getattr(StoreReader, name))
        have = inspect.signature(getattr(Store, name))
        assert list(have.parameters) == list(wanted.parameters), name
        for param, spec in wanted.parameters.items():
            assert have.parameters[param].kind == spec.kind, (name, param)
            assert have.parameters[param].default == spec.default, (name, param)


def test_no_sql_outside_the_store() -> None:
    """Only monitor/store/ holds SQL: the report, pages and CLI read through StoreReader."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.is_relative_to(PACKAGE / "store"):
            continue
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            if SQL.search(line):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
