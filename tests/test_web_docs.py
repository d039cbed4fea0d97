"""The docs a user keeps: every config key documented, nothing pointing outside the repository."""

from __future__ import annotations

import re
import subprocess
import typing
from pathlib import Path

from pydantic import BaseModel

from monitor import config
from monitor.probes import CHECK_TYPES

ROOT = Path(__file__).resolve().parent.parent
# Filled in by the loader from the check's site: not config keys.
_NOT_KEYS = {"site", "site_name", "owner", "kind"}


def _keys(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    """Every key a model and the models under it accept (aliases as written in YAML)."""
    if model in seen:
        return set()
    seen.add(model)
    keys = set()
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        keys.add(field.alias or name)
        stack = [field.annotation]
        while stack:
            kind = stack.pop()
            stack.extend(typing.get_args(kind))
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                keys |= _keys(kind, seen)
    return keys


def test_every_config_key_is_in_docs_config() -> None:
    """Each key of every section and every check type appears in docs/config.md as `key` or
    `parent.key`, so a key added without its documentation fails here."""
    doc = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    documented = set()
    # Code fences would pair their backticks with the inline ones: keys inside `...` only.
    for code in re.findall(r"`([^`\n]+)`", re.sub(r"```[^\n]*", "", doc)):
        for part in re.split(r"[ ,/]+", code):
            documented |= set(part.split("."))
    seen: set[type[BaseModel]] = set()
    keys = _keys(config.Config, seen)
    for check_type in CHECK_TYPES.values():
        keys |= _keys(check_type.spec, seen)
    missing = sorted(keys - _NOT_KEYS - documented)
    assert missing == []
    for check_type in CHECK_TYPES:
        assert f"### `{check_type}`" in doc


def test_nothing_points_outside_the_repository() -> None:
    """No tracked file refers to the design notes outside the repository (`../shared/...`)."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = []
    for name in files:
        path = ROOT / name
        if name == "tests/test_web_docs.py" or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if re.search(r"\.\./shared/|/work/shared", text):
            offenders.append(name)
    assert offenders == []
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/config.md)" in readme
