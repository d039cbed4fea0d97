"""Where a rendered report goes: stdout, a file, or (CSV tables) a directory of files."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

__all__ = ["OutputError", "save"]


class OutputError(Exception):
    """The output cannot be written as asked; `str()` is one line for the person."""


def save(rendered: bytes | dict[str, bytes], path: str | None, stdout: BinaryIO) -> list[str]:
    """Write `render()`'s result; returns the files written (empty for stdout).

    Bytes go to `path`, or to `stdout` without one. CSV tables (a dict) need `path`: an
    existing directory (or one ending in `/`) receives `sites.csv`, `incidents.csv`, ...;
    any other path `report.csv` gives `report-sites.csv`, `report-incidents.csv`, ...
    """
    try:
        if isinstance(rendered, bytes):
            if path is None or path == "-":
                stdout.write(rendered)
                stdout.flush()
                return []
            Path(path).write_bytes(rendered)
            return [path]
        if path is None or path == "-":
            raise OutputError(
                "--format csv writes one file per table: give -o DIR (or -o report.csv), "
                "or --table NAME for one table on stdout"
            )
        target = Path(path)
        if path.endswith(("/", "\\")) or target.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            files = [target / name for name in rendered]
        else:
            files = [target.with_name(f"{target.stem}-{name}") for name in rendered]
        for file, data in zip(files, rendered.values(), strict=True):
            file.write_bytes(data)
        return [str(f) for f in files]
    except OSError as exc:
        raise OutputError(f"cannot write {exc.filename or path}: {exc.strerror}") from None
