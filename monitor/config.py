"""Load the YAML config into frozen, validated models; one clear line for anything wrong.

Errors name the file, the config path (`sites[2].checks[0].timeout`) and the problem, and
never echo a secret: every value substituted from `${...}` and every secret field's value is
registered with `monitor.redact` as the config is read, and a ConfigError is scrubbed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal, cast
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator

from monitor.checkspec import CheckSpec
from monitor.configtypes import ID_PATTERN, MAX_STORED_INT, Duration, Model, TimeZoneName, WebURL
from monitor.dates import DEFAULT_TIMEZONE
from monitor.probes import CHECK_TYPES
from monitor.redact import register as register_secret
from monitor.redact import scrub

DEFAULT_CONFIG = "monitor.yaml"
_SUBSTITUTION = re.compile(r"\$\{([^}]*)\}")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Keys whose substituted value names where and how this process runs and is shown by design
# (a metric label, the listen address): these alone are not secrets.
_NOT_SECRET = frozenset({"location", "timezone", "server.listen", "storage.data_dir"})
# Login form fields that hold a credential, by their name.
_CREDENTIAL_FIELD = re.compile(r"pass|pwd|secret|token|key|auth|credential|密码|口令", re.I)


class ConfigError(Exception):
    """A config that cannot be used; `str()` is the one line shown to the person (scrubbed
    of every secret the config holds)."""

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))


class Defaults(Model):
    interval: Duration = 300.0  # official rule needs >= 20 probes a day
    timeout: Duration = 15.0  # official rule: not open after 15 s = unreachable
    failure_threshold: int = Field(default=3, ge=1, le=MAX_STORED_INT)
    success_threshold: int = Field(default=2, ge=1, le=MAX_STORED_INT)


class Storage(Model):
    # Empty: an embedded PostgreSQL under data_dir. A URL may carry a password: kept secret.
    database_url: SecretStr = SecretStr("")
    data_dir: Path = Path("./monitor-data")
    retention: Duration = 35 * 86400.0
    # Probe results held in memory while Postgres is slow or down (about 750 bytes each); past
    # this bound the oldest are dropped and counted. Incident events are never dropped.
    buffer_size: int = Field(default=1_000_000, ge=1)
    # Results per write transaction, and how long a partial batch may wait before it is written.
    batch_size: int = Field(default=2000, ge=1, le=100_000)
    flush_interval: Duration = 1.0
    # How long the database may take to connect or answer one statement (the writer's, an API
    # or CLI read): past it the store counts as unreachable (/readyz 503, the API 503).
    timeout: Duration = 10.0
    # Connections for readers (API, CLI); the writer holds one more of its own.
    pool_size: int = Field(default=4, ge=1, le=100)


class WebAccess(Model):
    """Who may read the web pages (`/`, `/sites/...`, `/reports`); /metrics and the health
    endpoints stay open. Without `token` or `username`/`password` the pages are served only
    when the server listens on loopback, or when `public: true` says so on purpose."""

    token: SecretStr | None = None  # read-only token: `?token=`, a cookie, or `Bearer`
    username: str | None = None  # basic auth, with `password`
    password: SecretStr | None = None
    public: bool = False

    @model_validator(mode="after")
    def _pair(self) -> WebAccess:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together (basic auth)")
        return self


class Server(Model):
    listen: str = "127.0.0.1:9108"
    access: WebAccess = WebAccess()

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"listen must be host:port, got {value!r}")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class Scheduler(Model):
    max_concurrency: int = Field(default=256, ge=1)
    # On SIGTERM, how long running probes may take to finish before they are cancelled.
    shutdown_grace: Duration = 20.0


class WeeklyWindow(Model):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    start: time
    duration: Duration


class MaintenanceWindow(Model):
    """A window during which incidents are recorded but do not page (one-off or weekly)."""

    sites: tuple[str, ...] = ()  # empty: every site
    start: datetime | None = None
    end: datetime | None = None
    weekly: WeeklyWindow | None = None
    reason: str = ""


class Site(Model):
    id: str = Field(pattern=ID_PATTERN, max_length=64)
    name: str = ""
    kind: Literal["website", "new_media"] = "website"
    owner: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]+$")
    checks: tuple[CheckSpec, ...] = ()


_LOCATION_PATTERN = r"^[A-Za-z0-9_.-]+$"


class Canary(Model):
    """A reliable target on the location's own network: when every canary fails, the location
    cannot see (blind), and its failures are the monitor's, not the sites'."""

    id: str = Field(pattern=ID_PATTERN, max_length=64)
    url: WebURL
    interval: Duration = 30.0
    timeout: Duration = 5.0


# Reliable sites on every Chinese network, probed by a location that has a `points:` section
# without `canaries:`. No test reaches them: tests always give their own canaries (or none).
DEFAULT_CANARIES = (
    Canary(id="baidu", url="https://www.baidu.com/"),
    Canary(id="qq", url="https://www.qq.com/"),
    Canary(id="gov", url="https://www.gov.cn/"),
)


class Points(Model):
    """Probe points: which locations are expected, how many must agree, how a location that
    cannot see is told (docs/probe-points.md)."""

    # Empty: this location alone (the config's `location`).
    expected: tuple[Annotated[str, Field(pattern=_LOCATION_PATTERN)], ...] = ()
    # None: a majority of the expected locations.
    quorum: int | None = Field(default=None, ge=1, le=MAX_STORED_INT)
    missing_after: Duration = 90.0
    settle_after: Duration = 120.0
    refresh: Duration = 5.0
    canaries: tuple[Canary, ...] = DEFAULT_CANARIES
    canary_failures: int = Field(default=2, ge=1, le=MAX_STORED_INT)
    # Or this share of the servers its checks probe got no answer, when they are at least
    # blind_min_servers (monitor.points.blind).
    blind_ratio: float = Field(default=0.9, gt=0, le=1)
    blind_min_servers: int = Field(default=5, ge=1, le=MAX_STORED_INT)

    def locations(self, own: str) -> tuple[str, ...]:
        """The expected locations: as configured, or this one alone."""
        return self.expected or (own,)

    def majority(self, own: str) -> int:
        """The quorum: as configured, or a majority of the expected locations."""
        return self.quorum or len(self.locations(own)) // 2 + 1


def effective_quorum(quorum: int, expected: int, reporting: int) -> int:
    """The quorum taken over the locations that reported: `quorum` of `expected` scaled to
    `reporting` (rounded up), at least 1. 2 of 3 with one missing is 2 of 2; with two
    missing, 1 of 1. The SQL function monitor_quorum() is the same rule."""
    if reporting >= expected:
        return quorum
    return max(1, -(-quorum * reporting // expected))


class Config(Model):
    defaults: Defaults = Defaults()
    storage: Storage = Storage()
    server: Server = Server()
    scheduler: Scheduler = Scheduler()
    location: str = Field(default="default", pattern=_LOCATION_PATTERN)
    # None: no `points:` section (one location, no canaries); see Points.
    points: Points | None = None
    timezone: TimeZoneName = DEFAULT_TIMEZONE
    maintenance: tuple[MaintenanceWindow, ...] = ()
    sites: tuple[Site, ...] = ()
    # Where it was loaded from, for messages; not a config key.
    source: str = Field(default="", exclude=True)

    def checks(self) -> Iterator[CheckSpec]:
        """Every check of every site, in config order, with defaults applied."""
        for site in self.sites:
            yield from site.checks

    @property
    def probe_points(self) -> Points:
        """The `points:` section, or without one: this location alone, no canaries."""
        return self.points if self.points is not None else _ALONE

    def site(self, site_id: str) -> Site:
        return next(s for s in self.sites if s.id == site_id)


_ALONE = Points(canaries=())


def _substitute(text: str, where: str) -> str:
    # What comes from the environment or a file is a secret; a default is config text.
    secret = where not in _NOT_SECRET

    def replace(match: re.Match[str]) -> str:
        expr = match.group(1)
        if expr.startswith("file:"):
            path = Path(expr[5:])
            try:
                content = path.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ConfigError(
                    f"{where}: cannot read secret file {path}: {exc.strerror}"
                ) from exc
            if secret:
                register_secret(content)
            return content
        name, sep, default = expr.partition(":-")
        if not _VAR_NAME.fullmatch(name):
            raise ConfigError(f"{where}: bad substitution ${{{expr}}}")
        value = os.environ.get(name)
        if value is None or (sep and value == ""):
            if sep:
                return default
            raise ConfigError(f"{where}: environment variable {name} is not set")
        if secret:
            register_secret(value)
        return value

    return _SUBSTITUTION.sub(replace, text)


def _register_secret_fields(node: Any, field: str = "") -> None:
    """Register the value of every secret field (SecretStr) anywhere in the config; of a
    login form, only the fields that name a credential (a user name, a hidden field or a
    button is no secret unless it came from `${...}`, and masking "monitor" would garble
    every text)."""
    if isinstance(node, SecretStr):
        register_secret(node.get_secret_value())
    elif isinstance(node, BaseModel):
        for name, value in node.__dict__.items():
            _register_secret_fields(value, name)
    elif isinstance(node, dict):
        for key, value in node.items():
            if field != "form" or _CREDENTIAL_FIELD.search(str(key)):
                _register_secret_fields(value, field)
    elif isinstance(node, list | tuple):
        for value in node:
            _register_secret_fields(value, field)


def _walk(node: Any, path: str) -> Any:
    if isinstance(node, dict):
        return {k: _walk(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, f"{path}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        return _substitute(node, path)
    return node


# What a config may make the loader do. A real config (thousands of checks) is far inside
# these; a YAML alias bomb (a kilobyte that expands to billions of nodes), nesting a thousand
# deep or an alias to itself is refused in bounded time and memory instead.
MAX_CONFIG_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 10_000
MAX_NODES = 2_000_000  # counted as expanded: an alias counts every node it stands for


class _LimitedLoader(yaml.SafeLoader):
    """SafeLoader that refuses what would hang or crash loading: too deep, too many aliases,
    a document that expands past MAX_NODES, recursive aliases, non-scalar keys, and a key
    given twice in one mapping (YAML would keep the last)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _limit(self.get_mark(), f"more than {MAX_ALIASES} aliases")
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _limit(self.get_mark(), f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _limit(mark: yaml.Mark, problem: str) -> yaml.MarkedYAMLError:
    return yaml.composer.ComposerError(None, None, problem, mark)


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the document stands for once every alias is expanded (each shared node
    counted once per use, as construction and validation would visit it); raises on a cycle.
    Linear in the nodes as written: each is sized once."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    # Iterative post-order walk: the graph may be deep enough to overflow Python's stack.
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            sizes[key] = min(MAX_NODES + 1, 1 + sum(sizes[id(c)] for c in _children(node)))
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise _limit_at(node, "an alias refers to itself (recursive alias)")
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise _limit_at(child, "an alias refers to itself (recursive alias)")
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _limit_at(node: yaml.Node, problem: str) -> yaml.MarkedYAMLError:
    return yaml.composer.ComposerError(None, None, problem, node.start_mark)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            problem = "a key must be a plain value, not a list or mapping"
            raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_LimitedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str) -> Any:
    """Parse one YAML document within the limits above; raises yaml.YAMLError."""
    if len(text) > MAX_CONFIG_BYTES:
        raise yaml.YAMLError(f"the config is larger than {MAX_CONFIG_BYTES // 2**20} MiB")
    loader = _LimitedLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        if _expanded_size(root) > MAX_NODES:
            raise _limit_at(root, f"expands to more than {MAX_NODES:,} values (an alias bomb?)")
        return loader.construct_document(root)
    finally:
        loader.dispose()


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(error: Mapping[str, Any], prefix: str) -> str:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    where = _path(loc)
    where = f"{prefix}.{where}" if prefix and where else (prefix or where)
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{where}: unknown key"
    if kind == "missing":
        return f"{where}: required key missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {_one_line(message)}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _first_error(exc: ValidationError, prefix: str = "") -> str:
    return _describe(exc.errors(include_url=False)[0], prefix)


def _validate_check(raw: Any, where: str, site: Site, defaults: Defaults) -> CheckSpec:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a check must be a mapping")
    kind = raw.get("type")
    if kind is None:
        raise ConfigError(f"{where}.type: required key missing")
    check_type = CHECK_TYPES.get(kind) if isinstance(kind, str) else None
    if check_type is None:
        known = ", ".join(sorted(CHECK_TYPES))
        raise ConfigError(f"{where}.type: unknown check type {kind!r} (known: {known})")
    for key in ("site", "site_name", "owner", "kind"):
        if key in raw:
            raise ConfigError(f"{where}.{key}: unknown key")
    try:
        spec = check_type.spec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_first_error(exc, where)) from None
    resolved = spec.model_copy(
        update={
            "site": site.id,
            "site_name": site.name,
            "owner": site.owner,
            "kind": site.kind,
            "interval": spec.interval or defaults.interval,
            "timeout": spec.timeout or defaults.timeout,
            "failure_threshold": spec.failure_threshold or defaults.failure_threshold,
            "success_threshold": spec.success_threshold or defaults.success_threshold,
        }
    )
    if resolved.timeout_s > resolved.interval_s:
        raise ConfigError(
            f"{where}.timeout: {resolved.timeout_s:g}s is longer than the interval "
            f"({resolved.interval_s:g}s); probes would overlap"
        )
    return cast(CheckSpec, resolved)


def parse_config(data: Any, source: str = "<config>") -> Config:
    """Validate an already-parsed YAML document; raise ConfigError naming source and path."""
    try:
        return _parse(data, source)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _parse(data: Any, source: str) -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping at the top level")
    data = _walk(data, "")
    raw_sites = data.get("sites", [])
    if not isinstance(raw_sites, list):
        raise ConfigError("sites: must be a list")
    # Checks are validated per type after the rest, so each gets its own model and path.
    shell = {**data, "sites": [_site_shell(s, i) for i, s in enumerate(raw_sites)]}
    try:
        config = Config.model_validate({**shell, "source": source})
    except ValidationError as exc:
        raise ConfigError(_first_error(exc)) from None
    sites: list[Site] = []
    site_seen: dict[str, int] = {}
    for i, (site, raw) in enumerate(zip(config.sites, raw_sites, strict=True)):
        if site.id in site_seen:
            raise ConfigError(
                f"sites[{i}].id: duplicate site id {site.id!r} (also sites[{site_seen[site.id]}])"
            )
        site_seen[site.id] = i
        raw_checks = raw.get("checks", [])
        if not isinstance(raw_checks, list):
            raise ConfigError(f"sites[{i}].checks: must be a list")
        checks: list[CheckSpec] = []
        check_seen: dict[str, int] = {}
        for j, raw_check in enumerate(raw_checks):
            where = f"sites[{i}].checks[{j}]"
            check = _validate_check(raw_check, where, site, config.defaults)
            if check.id in check_seen:
                raise ConfigError(
                    f"{where}.id: duplicate check id {check.id!r} in site {site.id!r} "
                    f"(also checks[{check_seen[check.id]}])"
                )
            check_seen[check.id] = j
            checks.append(check)
        sites.append(site.model_copy(update={"checks": tuple(checks)}))
    for i, window in enumerate(config.maintenance):
        _check_window(window, f"maintenance[{i}]", site_seen, ZoneInfo(config.timezone))
    if config.points is not None:
        _check_points(config.points)
    config = config.model_copy(update={"sites": tuple(sites)})
    _register_secret_fields(config)
    return config


def _site_shell(raw: Any, index: int) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"sites[{index}]: a site must be a mapping")
    return {k: v for k, v in raw.items() if k != "checks"}


def _check_points(points: Points) -> None:
    """What the Points model cannot say with a path of its own."""
    seen: dict[str, int] = {}
    for i, location in enumerate(points.expected):
        if location in seen:
            raise ConfigError(
                f"points.expected[{i}]: location {location!r} is listed twice "
                f"(also expected[{seen[location]}])"
            )
        seen[location] = i
    if points.quorum is not None and points.quorum > len(points.expected or ("",)):
        raise ConfigError(
            f"points.quorum: {points.quorum} is more than the "
            f"{len(points.expected or ('',))} expected locations"
        )
    ids: dict[str, int] = {}
    for i, canary in enumerate(points.canaries):
        if canary.id in ids:
            raise ConfigError(f"points.canaries[{i}].id: duplicate canary id {canary.id!r}")
        ids[canary.id] = i
        if canary.timeout > canary.interval:
            raise ConfigError(
                f"points.canaries[{i}].timeout: {canary.timeout:g}s is longer than the "
                f"interval ({canary.interval:g}s)"
            )


def _check_window(
    window: MaintenanceWindow, where: str, sites: Mapping[str, int], zone: ZoneInfo
) -> None:
    for j, site in enumerate(window.sites):
        if site not in sites:
            raise ConfigError(f"{where}.sites[{j}]: no site with id {site!r}")
    if window.weekly is None:
        if window.start is None or window.end is None:
            raise ConfigError(f"{where}: give start and end, or weekly")
        # A time without an offset is in the config's time zone (as the schedule reads it).
        start, end = (t if t.tzinfo else t.replace(tzinfo=zone) for t in (window.start, window.end))
        if end <= start:
            raise ConfigError(f"{where}.end: must be after start")
    elif window.start is not None or window.end is not None:
        raise ConfigError(f"{where}: give start and end, or weekly, not both")


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, substitute and validate a config file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read config: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: the config is not UTF-8 text") from None
    try:
        data = load_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise ConfigError(f"{source}: {line}invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {_one_line(str(exc))}") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a value YAML reads (2026-02-30)
        raise ConfigError(f"{source}: invalid YAML value: {exc}") from None
    return _from_config_dir(parse_config(data, source), Path(os.path.abspath(path)).parent)


def _from_config_dir(config: Config, base: Path) -> Config:
    """Relative paths (data_dir, tls.ca_file, a baseline_file) name places next to the config
    file, wherever the command runs from: `monitor report` run elsewhere must read the same
    data as the `monitor run` that wrote it."""

    def resolve(path: Path) -> Path:
        path = path.expanduser()
        return path if path.is_absolute() else base / path

    def check_paths(check: CheckSpec) -> CheckSpec:
        update: dict[str, Any] = {}
        tls = getattr(check, "tls", None)
        if tls is not None and tls.ca_file is not None:
            update["tls"] = tls.model_copy(update={"ca_file": resolve(tls.ca_file)})
        baseline = getattr(check, "baseline_file", None)
        if isinstance(baseline, Path):
            update["baseline_file"] = resolve(baseline)
        return check.model_copy(update=update) if update else check

    sites = tuple(
        site.model_copy(update={"checks": tuple(check_paths(c) for c in site.checks)})
        for site in config.sites
    )
    storage = config.storage.model_copy(update={"data_dir": resolve(config.storage.data_dir)})
    return config.model_copy(update={"sites": sites, "storage": storage})


# The official rule of 站点无法访问: a page still not open after 15 s failed.
OFFICIAL_TIMEOUT_S = 15.0


def config_warnings(config: Config) -> list[str]:
    """Settings that load but weaken what the report can judge, one line each."""
    out = []
    if not any(site.checks for site in config.sites):
        out.append(f"{config.source}: no checks configured: `monitor run` would probe nothing")
    points = config.probe_points
    if points.expected and config.location not in points.expected:
        out.append(
            f"{config.source}: location: {config.location!r} is not in points.expected "
            f"({', '.join(points.expected)}): its results are stored but never vote"
        )
    for i, site in enumerate(config.sites):
        for j, check in enumerate(site.checks):
            if check.type == "http" and check.timeout_s < OFFICIAL_TIMEOUT_S:
                out.append(
                    f"{config.source}: sites[{i}].checks[{j}].timeout: {check.timeout_s:g}s is "
                    "below the official 15 s: its timeouts cannot count as 站点无法访问 "
                    "failures, and the report may judge that indicator not assessable"
                )
    return out


def config_path(cli_value: str | None) -> str:
    """`-c`, then $MONITOR_CONFIG, then ./monitor.yaml."""
    return cli_value or os.environ.get("MONITOR_CONFIG") or DEFAULT_CONFIG
