"""Config loading: defaults, durations, substitution, secrets, and one clear line per bad input."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest
import structlog

from monitor.cli import main
from monitor.config import ConfigError, config_warnings, load_config
from monitor.configtypes import parse_duration, parse_size
from monitor.probes import CHECK_TYPES

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

GOOD = """
sites:
  - id: petrochem
    name: 石化离退休干部局网站
    owner: petrochem-it
    checks:
      - id: home
        type: http
        url: https://example.gov.cn/
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "monitor.yaml") + ": ")
    return message.split(": ", 1)[1]


def test_defaults_apply_to_checks(tmp_path: Path) -> None:
    """A check without its own settings gets the documented defaults and its site's owner."""
    config = load_config(write(tmp_path, GOOD))
    (check,) = config.checks()
    assert (check.interval, check.timeout) == (300.0, 15.0)
    assert (check.failure_threshold, check.success_threshold) == (3, 2)
    assert (check.site, check.owner, check.key) == ("petrochem", "petrochem-it", "petrochem/home")
    assert config.server.listen == "127.0.0.1:9108"
    assert config.scheduler.max_concurrency == 256
    assert config.timezone == "Asia/Shanghai"


def test_check_settings_override_defaults(tmp_path: Path) -> None:
    """Check-level interval and timeout win over `defaults`, which win over built-ins."""
    config = load_config(
        write(
            tmp_path,
            """
        defaults: {interval: 2m, failure_threshold: 5}
        sites:
          - id: a
            checks:
              - {id: home, type: http, url: "http://example.gov.cn/", interval: 90s, timeout: 10s}
              - {id: other, type: http, url: "http://example.gov.cn/x"}
        """,
        )
    )
    home, other = config.checks()
    assert (home.interval, home.timeout, home.failure_threshold) == (90.0, 10.0, 5)
    assert (other.interval, other.timeout) == (120.0, 15.0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("14d", 14 * 86400), ("1h30m", 5400), ("500ms", 0.5), (30, 30)],
)
def test_durations(text: str | int, seconds: float) -> None:
    """Durations read as people write them."""
    assert parse_duration(text) == seconds


def test_sizes() -> None:
    """Sizes accept binary and decimal units."""
    assert parse_size("10MiB") == 10 * 1024 * 1024
    assert parse_size("512KB") == 512_000
    assert parse_size(4096) == 4096


# The examples the docs point to (docs/config.md, docs/security.md, README).
DOCUMENTED_EXAMPLES = {
    "sasac.yaml",
    "checks-feed.yaml",
    "checks-freshness.yaml",
    "checks-interaction.yaml",
    "checks-links.yaml",
    "checks-login.yaml",
    "checks-security.yaml",
}


def test_examples_validate() -> None:
    """Every shipped example config is valid, the documented ones are all there, and together
    they show every check type."""
    paths = sorted(EXAMPLES.glob("*.yaml"))
    assert {path.name for path in paths} >= DOCUMENTED_EXAMPLES
    types_shown: set[str] = set()
    for path in paths:
        checks = list(load_config(path).checks())
        assert checks, f"{path.name} has no check"
        types_shown |= {check.type for check in checks}
    assert types_shown == set(CHECK_TYPES)


def test_environment_and_file_substitution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """${VAR}, ${VAR:-default} and ${file:/path} are substituted."""
    monkeypatch.setenv("SITE_URL", "https://example.gov.cn/")
    monkeypatch.delenv("MONITOR_LOCATION", raising=False)
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    config = load_config(
        write(
            tmp_path,
            f"""
        location: ${{MONITOR_LOCATION:-shanghai}}
        sites:
          - id: a
            checks:
              - id: home
                type: http
                url: ${{SITE_URL}}
                headers: {{Authorization: "Bearer ${{file:{token}}}"}}
        """,
        )
    )
    (check,) = config.checks()
    assert config.location == "shanghai"
    assert check.url == "https://example.gov.cn/"  # type: ignore[attr-defined]
    assert check.headers["Authorization"].get_secret_value() == "Bearer s3cret-token"  # type: ignore[attr-defined]


def test_secrets_never_show_in_repr_or_logs(tmp_path: Path) -> None:
    """Printing or logging a config shows no header token or database password."""
    config = load_config(
        write(
            tmp_path,
            """
        storage: {database_url: "postgresql://monitor:hunter2@db/monitor"}
        sites:
          - id: a
            checks:
              - id: home
                type: http
                url: http://example.gov.cn/
                headers: {Authorization: "Bearer hunter2"}
        """,
        )
    )
    with structlog.testing.capture_logs() as logs:
        structlog.get_logger().info("config", config=config)
    for text in (repr(config), str(config), str(logs), config.model_dump_json()):
        assert "hunter2" not in text
    logging.getLogger().info("%s", config)


BAD_INPUTS = [
    (
        "unknown key",
        "sites: [{id: a, checks: [{id: h, type: http, url: 'http://x.gov.cn', tiemout: 5s}]}]",
        "sites[0].checks[0].tiemout: unknown key",
    ),
    (
        "unknown top-level key",
        "sities: []",
        "sities: unknown key",
    ),
    (
        "bad duration",
        "sites: [{id: a, checks: [{id: h, type: http, url: 'http://x.gov.cn', timeout: 15 secs}]}]",
        "sites[0].checks[0].timeout: invalid duration '15 secs' (use e.g. 500ms, 90s, 5m, 1h30m, 14d)",
    ),
    (
        "bad default duration",
        "defaults: {interval: fast}",
        "defaults.interval: invalid duration 'fast' (use e.g. 500ms, 90s, 5m, 1h30m, 14d)",
    ),
    (
        "bad URL scheme",
        "sites: [{id: a, checks: [{id: h, type: http, url: 'ftp://x.gov.cn/'}]}]",
        "sites[0].checks[0].url: URL must start with http:// or https://, got 'ftp://x.gov.cn/'",
    ),
    (
        "URL without host",
        "sites: [{id: a, checks: [{id: h, type: http, url: 'http:///path'}]}]",
        "sites[0].checks[0].url: URL has no host: 'http:///path'",
    ),
    (
        "duplicate site id",
        "sites: [{id: a}, {id: b}, {id: a}]",
        "sites[2].id: duplicate site id 'a' (also sites[0])",
    ),
    (
        "duplicate check id",
        "sites: [{id: a, checks: [{id: h, type: http, url: 'http://x.gov.cn'},"
        " {id: h, type: http, url: 'http://y.gov.cn'}]}]",
        "sites[0].checks[1].id: duplicate check id 'h' in site 'a' (also checks[0])",
    ),
    (
        "unknown check type",
        "sites: [{id: a, checks: [{id: h, type: ping}]}]",
        "sites[0].checks[0].type: unknown check type 'ping'",
    ),
    (
        "missing required key",
        "sites: [{id: a, checks: [{id: h, type: http}]}]",
        "sites[0].checks[0].url: required key missing",
    ),
    (
        "bad id",
        "sites: [{id: Petro Chem}]",
        "sites[0].id: String should match pattern",
    ),
    (
        "timeout longer than interval",
        "sites: [{id: a, checks: [{id: h, type: http, url: 'http://x.gov.cn',"
        " interval: 10s, timeout: 15s}]}]",
        "sites[0].checks[0].timeout: 15s is longer than the interval (10s); probes would overlap",
    ),
    (
        "bad status",
        "sites: [{id: a, checks: [{id: h, type: http, url: 'http://x.gov.cn',"
        " expect: {status: [700]}}]}]",
        "sites[0].checks[0].expect.status: status 700 is not an HTTP status code",
    ),
    (
        "bad regex",
        "sites: [{id: a, checks: [{id: h, type: http, url: 'http://x.gov.cn',"
        " expect: {body_regex: ['(unclosed']}}]}]",
        "sites[0].checks[0].expect.body_regex: invalid regex '(unclosed'",
    ),
    (
        "duplicate YAML key",
        "sites: []\nsites: []",
        "line 2: invalid YAML: duplicate key 'sites'",
    ),
    (
        "broken YAML",
        "sites: [",
        "line 1: invalid YAML: expected the node content",
    ),
    (
        "unknown time zone",
        "timezone: Asia/Beijing",
        "timezone: unknown time zone 'Asia/Beijing'",
    ),
    (
        "a check's unknown time zone (the same rule as the config's)",
        "sites: [{id: a, checks: [{id: f, type: freshness, url: 'http://x.gov.cn',"
        " date: {css: li}, max_age: 1d, timezone: ''}]}]",
        "sites[0].checks[0].timezone: unknown time zone ''",
    ),
    (
        "a links check's ignore regex",
        "sites: [{id: a, checks: [{id: l, type: links, url: 'http://x.gov.cn',"
        " ignore: ['(unclosed']}]}]",
        "sites[0].checks[0].ignore[0]: invalid regex '(unclosed'",
    ),
    (
        "maintenance for an unknown site",
        "maintenance: [{sites: [nope], weekly: {days: [sat], start: '02:00', duration: 2h}}]",
        "maintenance[0].sites[0]: no site with id 'nope'",
    ),
    (
        "unset environment variable",
        "location: ${MONITOR_TEST_UNSET_VARIABLE}",
        "location: environment variable MONITOR_TEST_UNSET_VARIABLE is not set",
    ),
    (
        "unreadable secret file",
        "location: ${file:/nonexistent/secret}",
        "location: cannot read secret file /nonexistent/secret: No such file or directory",
    ),
    (
        "bad listen address",
        "server: {listen: 9108}",
        "server.listen: Input should be a valid string",
    ),
    (
        "nesting 1000 deep",
        "a: " + "[" * 1000 + "]" * 1000,
        "line 1: invalid YAML: nested deeper than 64 levels",
    ),
    (
        "recursive alias",
        "x: &x [*x]",
        "line 1: invalid YAML: an alias refers to itself (recursive alias)",
    ),
    (
        "complex key",
        "? [a]\n: 1",
        "line 1: invalid YAML: a key must be a plain value, not a list or mapping",
    ),
    (
        "alias bomb",
        "".join(
            f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9 if i else ["lol"] * 9) + "]\n"
            for i in range(9)
        ),
        "line 1: invalid YAML: expands to more than 2,000,000 values (an alias bomb?)",
    ),
    (
        "impossible date",
        "maintenance: [{start: 2026-02-30, end: 2026-03-01}]",
        "invalid YAML value: day is out of range for month",
    ),
    (
        "interval not a number",
        "defaults: {interval: .nan}",
        "defaults.interval: duration must be positive and finite, got nan",
    ),
    (
        "infinite interval",
        "defaults: {interval: .inf}",
        "defaults.interval: duration must be positive and finite, got inf",
    ),
    (
        "timeout not a number",
        "sites: [{id: a, checks: [{id: h, type: http, url: 'http://x.gov.cn', timeout: .nan}]}]",
        "sites[0].checks[0].timeout: duration must be positive and finite, got nan",
    ),
    (
        "duration past a century",
        "storage: {retention: 99999999d}",
        "storage.retention: duration '99999999d' is longer than 100 years",
    ),
    (
        "threshold past the database column",
        "sites: [{id: a, checks: [{id: h, type: http, url: 'http://x.gov.cn',"
        " failure_threshold: 3000000000}]}]",
        "sites[0].checks[0].failure_threshold: Input should be less than or equal to 2147483647",
    ),
    (
        "default threshold past the database column",
        "defaults: {success_threshold: 3000000000}",
        "defaults.success_threshold: Input should be less than or equal to 2147483647",
    ),
    (
        "space in the host",
        "sites: [{id: a, checks: [{id: h, type: http, url: 'http://exa mple.gov.cn/'}]}]",
        "sites[0].checks[0].url: URL host 'exa mple.gov.cn' is not a valid host name",
    ),
]


@pytest.mark.parametrize(("kind", "text", "expected"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_one_clear_line(tmp_path: Path, kind: str, text: str, expected: str) -> None:
    """Each kind of bad input fails at load with the config path and what is wrong."""
    assert error_of(tmp_path, text).startswith(expected)


def test_substituted_value_is_not_echoed_in_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad value that came from ${VAR} is named by path, never shown (it may be a secret)."""
    monkeypatch.setenv("CHECK_TIMEOUT", "hunter2")
    message = error_of(
        tmp_path,
        """
        sites: [{id: a, checks: [{id: h, type: http, url: 'http://x.gov.cn', timeout: "${CHECK_TIMEOUT}"}]}]
        """,
    )
    assert "hunter2" not in message
    assert message.startswith("sites[0].checks[0].timeout: invalid duration")


def test_validate_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`monitor validate` exits 0 on a good config and 2 with the one-line error on a bad one."""
    good = write(tmp_path, GOOD)
    assert main(["validate", "-c", str(good)]) == 0
    assert "ok (1 sites, 1 checks)" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("defaults: {interval: soon}\n")
    assert main(["validate", "-c", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == f"error: {bad}: defaults.interval: invalid duration 'soon' (use e.g. 500ms, 90s, 5m, 1h30m, 14d)"
    )


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config file that does not exist is exit 2 with its name."""
    assert main(["validate", "-c", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: cannot read config: No such file or directory" in capsys.readouterr().err


def test_maintenance_start_with_offset_and_end_without_compare_in_the_config_zone(
    tmp_path: Path,
) -> None:
    """A zone-aware start and a naive end (read in `timezone`) load, and a reversed pair is refused."""
    window = "maintenance: [{{start: '2026-07-01T10:00:00+08:00', end: '{end}'}}]"
    config = load_config(write(tmp_path, window.format(end="2026-07-01 10:30:00")))
    assert len(config.maintenance) == 1
    # 09:30 in Shanghai is before 10:00+08:00, though 09:30 UTC would be after it.
    message = error_of(tmp_path, window.format(end="2026-07-01 09:30:00"))
    assert message == "maintenance[0].end: must be after start"


def test_a_status_or_a_marker_alone_is_a_list_of_one(tmp_path: Path) -> None:
    """`expect.status: 200` and `body_contains: 石化` are read as one-entry lists."""
    text = GOOD.replace(
        "url: https://example.gov.cn/",
        "url: https://example.gov.cn/\n        expect: {status: 200, body_contains: 石化}",
    )
    (check,) = load_config(write(tmp_path, text)).checks()
    assert check.expect.status == (200,)  # type: ignore[attr-defined]
    assert check.expect.body_contains == ("石化",)  # type: ignore[attr-defined]


def test_an_empty_config_validates_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config without checks is valid, but validate warns that run would probe nothing."""
    path = write(tmp_path, "")
    assert main(["validate", "-c", str(path)]) == 0
    err = capsys.readouterr().err
    assert err == f"warning: {path}: no checks configured: `monitor run` would probe nothing\n"


def test_points_default_to_one_location_without_canaries(tmp_path: Path) -> None:
    """Without a `points` section the location is alone: quorum 1, no canary is probed (so no
    test and no deployment that never asked reaches the default canaries)."""
    config = load_config(write(tmp_path, "location: beijing\n"))
    points = config.probe_points
    assert points.locations("beijing") == ("beijing",)
    assert points.majority("beijing") == 1
    assert points.canaries == ()


def test_points_quorum_defaults_to_a_majority_and_canaries_to_the_documented_three(
    tmp_path: Path,
) -> None:
    """Three expected: quorum 2; four: 3; a `points` section without `canaries` probes the
    three documented defaults, `canaries: []` none."""
    three = load_config(write(tmp_path, "points: {expected: [ct, cu, cm]}\n")).probe_points
    assert three.majority("ct") == 2
    assert [c.id for c in three.canaries] == ["baidu", "qq", "gov"]
    four = load_config(write(tmp_path, "points: {expected: [a, b, c, d], canaries: []}\n"))
    assert four.probe_points.majority("a") == 3 and four.probe_points.canaries == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("points: {expected: [a, b], quorum: 3}", "points.quorum: 3 is more than the 2 expected"),
        ("points: {quorum: 2}", "points.quorum: 2 is more than the 1 expected"),
        ("points: {expected: [a, a]}", "points.expected[1]: location 'a' is listed twice"),
        ("points: {expected: [a], quorum: 0}", "points.quorum: Input should be greater than"),
        ("points: {canaries: [{id: x, url: 'ftp://x'}]}", "points.canaries[0].url: URL must"),
        (
            "points: {canaries: [{id: x, url: 'http://x/', timeout: 40s}]}",
            "points.canaries[0].timeout: 40s is longer than the interval (30s)",
        ),
        (
            "points: {canaries: [{id: x, url: 'http://x/'}, {id: x, url: 'http://y/'}]}",
            "points.canaries[1].id: duplicate canary id 'x'",
        ),
        ("points: {blind_ratio: 1.5}", "points.blind_ratio: Input should be less than or equal"),
        ("points: {expeted: [a]}", "points.expeted: unknown key"),
    ],
)
def test_bad_points_are_refused_with_their_path(tmp_path: Path, text: str, expected: str) -> None:
    """Each bad `points` key is one line naming its path."""
    assert expected in error_of(tmp_path, text + "\n")


def test_a_location_not_expected_is_a_warning_not_an_error(tmp_path: Path) -> None:
    """`monitor report` loads the same file with the default location: a location outside
    `points.expected` loads, and validate warns that it never votes."""
    config = load_config(write(tmp_path, "location: elsewhere\npoints: {expected: [ct, cu]}\n"))
    assert any("never vote" in w for w in config_warnings(config))
