"""A user's mistakes that used to give silent wrong answers: commands run from another
directory, read-only commands on a data directory that holds nothing, two monitors probing
the same checks into one store. Real `monitor` commands, the real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import load_config
from monitor.runtime import Runtime
from monitor.shard import Shard
from monitor.store import StoreError
from monitor.store.embedded import DataDirLock
from tests.service import ROOT
from tests.stack import free_port

CONFIG = """
storage: {{database_url: "{url}", data_dir: ./monitor-data}}
server: {{listen: "127.0.0.1:{port}"}}
sites:
  - id: s
    checks: [{{id: c, type: http, url: "http://127.0.0.1:9/", interval: 1h, timeout: 1s}}]
"""


def write_config(directory: Path, url: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "monitor.yaml"
    path.write_text(CONFIG.format(url=url, port=free_port()), encoding="utf-8")
    return path


def test_relative_paths_are_read_from_the_config_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`data_dir: ./monitor-data` and a relative `tls.ca_file` name places next to the config,
    whatever the current directory."""
    path = write_config(tmp_path / "etc")
    text = path.read_text().replace("interval: 1h,", "interval: 1h, tls: {ca_file: ca/x.pem},")
    path.write_text(text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config("../etc/monitor.yaml")
    assert config.storage.data_dir == tmp_path / "etc" / "monitor-data"
    (check,) = config.checks()
    assert check.tls.ca_file == tmp_path / "etc" / "ca" / "x.pem"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "command", [["incidents"], ["report", "--quarter", "2026Q3"]], ids=["incidents", "report"]
)
def test_read_only_commands_never_create_a_database(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """`incidents` and `report` on an empty data directory say "no data under …", exit 1,
    and leave no database behind."""
    path = write_config(tmp_path / "etc")
    monkeypatch.chdir(tmp_path)
    assert main([*command, "-c", str(path)]) == 1
    out, err = capsys.readouterr()
    data_dir = tmp_path / "etc" / "monitor-data"
    assert err.startswith(f"error: no data under {data_dir}: ") and err.count("\n") == 1
    assert out == ""
    assert not (data_dir / "postgres").exists()
    assert not (tmp_path / "monitor-data").exists()


async def test_a_second_monitor_run_on_one_data_directory_is_refused(tmp_path: Path) -> None:
    """While one `monitor run` holds the data directory, another exits 1 with one line."""
    path = write_config(tmp_path)
    held = DataDirLock(tmp_path / "monitor-data")
    held.acquire()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "-c", str(path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
        )  # fmt: skip
        try:
            _, err = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    finally:
        held.release()
    assert proc.returncode == 1
    lines = err.decode().splitlines()
    assert lines[-1] == (
        f"error: another `monitor run` (pid {os.getpid()}) already uses "
        f"{tmp_path / 'monitor-data'}; stop it first, or give this one its own storage.data_dir"
    )
    assert not (tmp_path / "monitor-data" / "postgres").exists()


async def test_a_second_process_for_one_location_and_shard_on_one_database_is_refused(
    tmp_path: Path,
    pg_url: str,
) -> None:
    """Two runtimes for the same location and shard on one database: the second is refused;
    another shard of the same location is not."""
    config = load_config(write_config(tmp_path, pg_url))
    first = Runtime(config)
    await first.start(serve=False)
    try:
        second = Runtime(config)
        with pytest.raises(StoreError) as refused:
            await second.start(serve=False)
        await second.stop()
        assert str(refused.value).startswith(
            "another `monitor run` already probes location 'default' shard 0/1 into "
        )
        other_shard = Runtime(config, shard=Shard(1, 2))
        await other_shard.start(serve=False)
        await other_shard.stop()
    finally:
        await first.stop()
    # Once the first has stopped, its lock is gone.
    again = Runtime(config)
    await again.start(serve=False)
    await again.stop()


async def test_output_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    """`monitor check --json | head -c5`: five bytes out, no traceback on stderr."""
    checks = ", ".join(
        f'{{id: c{i}, type: http, url: "http://127.0.0.1:9/", interval: 1h, timeout: 1s}}'
        for i in range(300)
    )
    path = tmp_path / "monitor.yaml"
    path.write_text(f"sites: [{{id: s, checks: [{checks}]}}]\n", encoding="utf-8")
    proc = await asyncio.create_subprocess_shell(
        f"{sys.executable} -m monitor check -c {path} --json | head -c5",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert out == b"[\n  {"
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()[-2000:]
