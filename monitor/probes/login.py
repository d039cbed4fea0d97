"""`login`: a multi-step login flow in one cookie session, and the session it keeps.

The notice found a site where "login is sluggish, with delays and dropped connections"
(登录不畅、延时掉线). This check logs in as a person would (fetch the form, read its CSRF token
or `__VIEWSTATE`, post the credentials, land on a page that says 退出登录), timing each step.

Keys (see examples/checks-login.yaml):

- `steps`: each `{name, method, url, headers, form | json, extract, expect, timeout,
  follow_redirects}`. `url` may be relative to the previous step's final URL. `extract` maps a
  name to `{selector, attribute}` or `{regex}` (a regex alone reads the raw page); `{name}` in a
  later step's url, header values, form values or JSON strings is replaced by the extracted
  value (`{{` and `}}` are literal braces). Credentials come in through `${VAR}` or
  `${file:...}` and are held as secrets. `expect` has `status` (default 2xx), `body_contains`,
  `body_not_contains`, `body_regex`, `url_contains`, `url_not_contains` and `error_selector`
  (the element a site shows its error in; its text is quoted in the detail). The last step
  must expect a sign of being logged in (a marker or where the flow ends).
- `session`: `{url, marker, login_url, max_age, interval, timeout, dropouts,
  dropout_window}`. With it the logged-in session is kept and the members-only `url` is
  requested on every probe; `dropouts` (3) dropped sessions within `dropout_window` (6 h)
  open a `session_dropped` incident (monitor/incidents.py).

Outcomes: `login_failed` when the site answered but did not log in (the detail names the step
and why: an expectation not met, a value not found, the site's error text); otherwise the
failing step's transport outcome (`timeout`, `dropout`, `http_error`, ...). A slow login is
not a failure (unless a step passes its own `timeout`) but it is counted: a login that
succeeded after more than the check's `slow` (default 10 s, the steps together) or with a step
past that step's own `slow` has `slow_login: true` (登录不畅 in the report). Every
successful login records `login_seconds`.

How the session check is scheduled: the check's own interval drives it (`session.interval`,
when given, *is* the check's interval). Each probe does one of two things:
- no live session in the probe state (first probe, after a dropout, a failed login or at
  `session.max_age`): log in afresh, and keep the session if that worked;
- a live session: request `session.url` with its cookies. Logged out (a 401/403, a redirect to
  the login page, the `marker` gone, or without a `marker` an answer that is a login form
  with a password field) is `session_dropped`, with the session's lifetime in
  `session_lifetime_seconds` (login to the probe that found it gone, so an upper bound
  by at most one interval); the next probe logs in afresh. Any other failure of that request
  (timeout, 5xx) is its own outcome and says nothing of the session, which is kept.
A session that reaches `session.max_age` is closed and replaced by a fresh login: expected,
not a dropout. Login latency is measured only when a login happens; a second `login` check
without `session:` measures it on every probe.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

import aiohttp
from pydantic import BeforeValidator, Field, field_validator, model_validator
from yarl import URL

from monitor.checkspec import CheckSpec
from monitor.configtypes import Duration, Model, SecretStr, Size, TLSSpec, WebURL, parse_duration
from monitor.measurements import LoginMeasurement
from monitor.probes.ages import show_age
from monitor.probes.base import ProbeContext, ProbeRun
from monitor.probes.extract import Css, TextRule, node_text, parse_html
from monitor.probes.http import Expect
from monitor.probes.httpclient import FetchError, Response
from monitor.redact import Redactor
from monitor.results import Outcome, Phases, ProbeResult, StepResult, Transport

__all__ = ["KeptSession", "LoginCheck", "SessionSpec", "Step", "probe"]

STATE_KEY = "session"
# Login pages are small; a bound keeps a misbehaving one from filling memory.
DEFAULT_LOGIN_MAX_BODY = 4 * 1024 * 1024
# `{name}`, and `{{` / `}}` for literal braces; any other brace is left as it is.
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")
_STEP_NAME = r"^[A-Za-z0-9_-]{1,32}$"


def placeholders(template: str) -> set[str]:
    """The `{name}`s a template uses."""
    return {m.group(1) for m in _PLACEHOLDER.finditer(template) if m.group(1)}


def interpolate(template: str, values: dict[str, str], *, for_url: bool = False) -> str:
    """Replace `{name}` by its extracted value (percent-encoded inside a URL)."""

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "{{":
            return "{"
        if whole == "}}":
            return "}"
        value = values.get(match.group(1))
        if value is None:
            return whole
        return quote(value, safe="") if for_url else value

    return _PLACEHOLDER.sub(replace, template)


def _json_text(value: Any) -> Any:
    # A JSON body may carry a password: kept as a secret holding its JSON text.
    if value is None or isinstance(value, SecretStr):
        return value
    if isinstance(value, str):
        return SecretStr(value)
    try:
        return SecretStr(json.dumps(value, ensure_ascii=False))
    except (TypeError, ValueError) as exc:
        raise ValueError("json must be a mapping or list of plain values") from exc


SecretJSON = Annotated[SecretStr, BeforeValidator(_json_text)]


def _interpolate_json(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, values)
    if isinstance(node, list):
        return [_interpolate_json(v, values) for v in node]
    if isinstance(node, dict):
        return {k: _interpolate_json(v, values) for k, v in node.items()}
    return node


def _json_strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [s for v in node for s in _json_strings(v)]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _json_strings(v)]
    return []


class Extract(TextRule):
    """A value read from a step's answer: `{selector, attribute}` or `{regex}`."""

    @model_validator(mode="after")
    def _has_a_source(self) -> Extract:
        if self.selector is None and self.regex is None:
            raise ValueError("give selector (with attribute) or regex")
        return self


class StepExpect(Expect):
    """What a step's answer must look like; failing it is `login_failed` (status: `http_error`)."""

    url_contains: tuple[str, ...] = ()
    url_not_contains: tuple[str, ...] = ()
    error_selector: Css | None = None

    def proves_login(self) -> bool:
        return bool(
            self.body_contains or self.body_regex or self.url_contains or self.url_not_contains
        )


class Step(Model):
    name: str = Field(pattern=_STEP_NAME)
    method: str | None = Field(default=None, pattern=r"^(GET|POST|PUT|PATCH)$")
    url: str
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    form: dict[str, SecretStr] | None = None
    json_body: SecretJSON | None = Field(default=None, alias="json")
    extract: dict[str, Extract] = Field(default_factory=dict)
    expect: StepExpect = StepExpect()
    timeout: Duration | None = None
    # A step that succeeded but took longer than this makes the login slow (登录不畅).
    slow: Duration | None = None
    follow_redirects: bool = True

    @model_validator(mode="after")
    def _one_body(self) -> Step:
        if self.form is not None and self.json_body is not None:
            raise ValueError("give form or json, not both")
        return self

    @field_validator("extract")
    @classmethod
    def _extract_names(cls, value: dict[str, Extract]) -> dict[str, Extract]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", name):
                raise ValueError(f"extract name {name!r} must be an identifier")
        return value

    @property
    def http_method(self) -> str:
        if self.method is not None:
            return self.method
        return "POST" if self.form is not None or self.json_body is not None else "GET"

    def templates(self) -> dict[str, str]:
        """Every text of the step that may use `{name}`, by where it is (for messages)."""
        out = {"url": self.url}
        out.update({f"headers.{k}": v.get_secret_value() for k, v in self.headers.items()})
        out.update({f"form.{k}": v.get_secret_value() for k, v in (self.form or {}).items()})
        if self.json_body is not None:
            out["json"] = self.json_body.get_secret_value()
        return out


class SessionSpec(Model):
    """The kept session: its members-only page and how a logged-out answer looks."""

    url: WebURL
    # Text present on `url` while logged in (退出登录, the user's name).
    marker: str | None = None
    # A redirect to this page (URL or path, default: the first step's) means logged out.
    login_url: str | None = None
    # A session this old is closed and replaced by a fresh login: expected, not a dropout.
    max_age: Duration | None = None
    # The check's interval (see the module docs); given here for readability.
    interval: Duration | None = None
    timeout: Duration | None = None
    # This many dropouts within `dropout_window` open an incident (session_dropped), even
    # when re-logins in between keep the failures from running failure_threshold in a row.
    dropouts: int = Field(default=3, ge=1, le=1000)
    dropout_window: Duration = 6 * 3600.0


# A login that takes longer than this, all steps together, is slow (登录不畅): two or three
# pages that each take a few seconds, well inside the 15 s a page has to open.
DEFAULT_SLOW_LOGIN = 10.0


class LoginCheck(CheckSpec):
    type: str = "login"
    steps: tuple[Step, ...] = Field(min_length=1, max_length=20)
    session: SessionSpec | None = None
    # A successful login slower than this (the flow's steps together) is counted as slow.
    slow: Duration = DEFAULT_SLOW_LOGIN
    tls: TLSSpec = TLSSpec()
    max_body_size: Size = DEFAULT_LOGIN_MAX_BODY

    @model_validator(mode="before")
    @classmethod
    def _session_interval_is_the_interval(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("session"), dict):
            return data
        given = data["session"].get("interval")
        if given is None:
            return data
        if data.get("interval") is None:
            return {**data, "interval": given}
        try:
            same = parse_duration(data["interval"]) == parse_duration(given)
        except ValueError:
            return data  # the field validators name the bad value
        if not same:
            raise ValueError("session.interval is the check's interval: give one of them")
        return data

    @model_validator(mode="after")
    def _flow_is_complete(self) -> LoginCheck:
        names = [step.name for step in self.steps]
        if len(set(names)) != len(names):
            raise ValueError("step names must be unique")
        known: set[str] = set()
        for i, step in enumerate(self.steps):
            if i == 0 and not _absolute(step.url):
                raise ValueError("steps[0].url must be an absolute http(s) URL")
            for where, text in step.templates().items():
                if placeholders(text) - known:
                    # Never echo the text: it may be a password.
                    raise ValueError(
                        f"steps[{i}].{where} uses a {{name}} no earlier step extracts "
                        f"(known: {', '.join(sorted(known)) or 'none'}; "
                        "write {{ and }} for literal braces)"
                    )
            known |= set(step.extract)
        if not self.steps[-1].expect.proves_login():
            raise ValueError(
                "the last step's expect needs a sign of being logged in "
                "(body_contains, body_regex, url_contains or url_not_contains)"
            )
        return self

    def step_timeout(self, step: Step) -> float:
        return step.timeout if step.timeout is not None else self.timeout_s

    @property
    def deadline_s(self) -> float:
        """A probe logs in (every step, each with its timeout) or checks the kept session."""
        session = (self.session.timeout or self.timeout_s) if self.session is not None else 0.0
        return max(sum(self.step_timeout(step) for step in self.steps), session)

    def login_page(self) -> URL:
        """The page a logged-out session is sent to."""
        assert self.session is not None
        target = self.session.login_url or self.steps[0].url
        return URL(self.session.url).join(URL(target))


# How the session check recognises the login page among the answer's URLs: by host and path.
# The host is compared case-insensitively (as DNS does); the path too, since ASP.NET and IIS,
# common on these sites, serve `/Login.aspx` and `/login.aspx` alike; percent-encoding and a
# trailing slash do not count. Scheme and port do not either: a site that moves a logged-out
# visitor from http to https still shows its login form.
def is_login_page(url: str | URL, login: URL) -> bool:
    """Whether `url` is the login page `login` by the rule above."""
    try:
        seen = URL(url) if isinstance(url, str) else url
    except ValueError:
        return False

    def key(u: URL) -> tuple[str, str]:
        return ((u.host or "").lower().rstrip("."), (u.path.rstrip("/") or "/").casefold())

    return key(seen) == key(login)


# A password field: the page is a login form, whatever its address (a site that shows the
# form in place, without a redirect).
_PASSWORD_FIELD = re.compile(r"<input\b[^>]*\btype\s*=\s*[\"']?password\b", re.IGNORECASE)


def _absolute(url: str) -> bool:
    try:
        parsed = URL(url)
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host)


@dataclass(slots=True)
class KeptSession:
    """A logged-in cookie session kept between probes."""

    http: aiohttp.ClientSession
    logged_in_at: datetime

    async def close(self) -> None:
        await self.http.close()


@dataclass(slots=True)
class _Flow:
    """One run of the steps: what they measured and how it ended."""

    outcome: Outcome
    detail: str
    steps: list[StepResult]
    # The last fetch's transport facts, its phases the sum over every step that ran.
    transport: Transport | None = None


def _quote(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _judge_step(step: Step, response: Response, text: str) -> tuple[Outcome, str] | None:
    """Why the answer fails the step's expectations, or None if it meets them."""
    expect = step.expect
    if expect.error_selector is not None:
        banner = parse_html(text).css_first(expect.error_selector)
        if banner is not None and (said := node_text(banner, 500).strip()):
            return Outcome.LOGIN_FAILED, f"the site says {_quote(said)}"
    if not expect.status_ok(response.status):
        if response.status == 401:
            return Outcome.LOGIN_FAILED, "credentials refused (status 401)"
        wanted = ", ".join(str(s) for s in expect.status)
        return Outcome.HTTP_ERROR, f"status {response.status}, expected {wanted}"
    for marker in expect.body_not_contains:
        if marker in text:
            return Outcome.LOGIN_FAILED, f"the page shows {_quote(marker)}"
    for marker in expect.body_contains:
        if marker not in text:
            return Outcome.LOGIN_FAILED, f"{_quote(marker)} not on the page"
    for pattern in expect.body_regex:
        if re.search(pattern, text) is None:
            return Outcome.LOGIN_FAILED, f"nothing on the page matches {pattern!r}"
    for part in expect.url_contains:
        if part not in response.url:
            return Outcome.LOGIN_FAILED, f"ended at {response.url}, not at {_quote(part)}"
    for part in expect.url_not_contains:
        if part in response.url:
            return Outcome.LOGIN_FAILED, f"ended at {response.url} (still {_quote(part)})"
    return None


def _extract(step: Step, text: str, values: dict[str, str]) -> str | None:
    """Read the step's values into `values`; the reason if one is missing."""
    doc = None
    for name, rule in step.extract.items():
        if rule.selector is None:
            value = rule.read_raw(text)
        else:
            doc = doc or parse_html(text)
            value = rule.read(doc)
        if value is None:
            return f"no {name} on the page ({rule.describe()})"
        values[name] = value
    return None


def _request_args(step: Step, values: dict[str, str], redact: Redactor) -> dict[str, Any]:
    headers = {k: interpolate(v.get_secret_value(), values) for k, v in step.headers.items()}
    redact.register(*headers.values())
    args: dict[str, Any] = {"headers": headers or None}
    if step.form is not None:
        form = {k: interpolate(v.get_secret_value(), values) for k, v in step.form.items()}
        redact.register(*form.values())
        args["data"] = form
    if step.json_body is not None:
        document = _interpolate_json(json.loads(step.json_body.get_secret_value()), values)
        redact.register(*_json_strings(document))
        args["json"] = document
    return args


async def _run_flow(check: LoginCheck, ctx: ProbeContext, session: aiohttp.ClientSession) -> _Flow:
    values: dict[str, str] = {}
    # The config's secrets are masked everywhere already; these are the values of this run
    # (the filled-in form, extracted tokens), masked in its details.
    redact = Redactor()
    steps: list[StepResult] = []
    phases: Phases | None = None
    previous: str | None = None
    fetched: Transport | None = None
    for step in check.steps:
        started = time.perf_counter()
        try:
            url = interpolate(step.url, values, for_url=True)
            if previous is not None:
                url = str(URL(previous).join(URL(url)))
        except ValueError:
            why = "the step's URL is not a valid URL once its values are filled in"
            steps.append(StepResult(step.name, 0.0, Outcome.LOGIN_FAILED, why))
            # Only the phases so far: the previous step's answer is not this step's.
            so_far = None if phases is None else Transport(phases=phases)
            return _Flow(Outcome.LOGIN_FAILED, f"step {step.name}: {why}", steps, so_far)
        try:
            response = await ctx.http.fetch(
                url,
                timeout=check.step_timeout(step),
                method=step.http_method,
                tls=check.tls,
                max_body=check.max_body_size,
                follow_redirects=step.follow_redirects,
                session=session,
                **_request_args(step, values, redact),
            )
        except FetchError as error:
            detail = redact.scrub(error.detail)
            steps.append(
                StepResult(step.name, time.perf_counter() - started, error.outcome, detail)
            )
            failed = error.transport
            if failed is not None:
                phases = failed.phases if phases is None else phases + failed.phases
                failed = replace(failed, phases=phases)
            elif phases is not None:
                failed = Transport(phases=phases)
            return _Flow(error.outcome, f"step {step.name}: {detail}", steps, failed)
        phases = response.phases if phases is None else phases + response.phases
        fetched = replace(response.transport, phases=phases)
        text = response.text()
        failure = _judge_step(step, response, text)
        if failure is None and (missing := _extract(step, text, values)) is not None:
            failure = (Outcome.LOGIN_FAILED, missing)
        redact.register(*values.values())
        elapsed = time.perf_counter() - started
        if failure is not None:
            outcome, why = failure
            steps.append(StepResult(step.name, elapsed, outcome, redact.scrub(why)))
            return _Flow(outcome, f"step {step.name}: {redact.scrub(why)}", steps, fetched)
        steps.append(StepResult(step.name, elapsed, Outcome.OK))
        previous = response.url
    assert fetched is not None  # steps has at least one entry
    total = sum(s.duration_seconds for s in steps)
    timings = ", ".join(f"{s.name} {s.duration_seconds:.2f} s" for s in steps)
    return _Flow(Outcome.OK, f"logged in in {total:.2f} s ({timings})", steps, fetched)


def _flow_result(
    run: ProbeRun,
    flow: _Flow,
    measurement: LoginMeasurement | None,
    note: str = "",
) -> ProbeResult:
    return run.result(
        flow.outcome,
        f"{note}{flow.detail}",
        transport=flow.transport,
        steps=tuple(flow.steps),
        measurement=measurement,
    )


def slowness(check: LoginCheck, steps: list[StepResult]) -> LoginMeasurement:
    """A successful login's time and whether it was slow: the flow past `slow`, or a step
    past its own `slow`. Recorded on every login, so the report can count the slow ones."""
    total = sum(s.duration_seconds for s in steps)
    limits = {step.name: step.slow for step in check.steps if step.slow is not None}
    slow_steps = [s.name for s in steps if s.name in limits and s.duration_seconds > limits[s.name]]
    return LoginMeasurement(
        login_seconds=total,
        slow_login=total > check.slow or bool(slow_steps),
        slow_login_threshold_seconds=check.slow,
        slow_steps=tuple(slow_steps) or None,
    )


async def _log_in(
    check: LoginCheck, ctx: ProbeContext, run: ProbeRun, note: str = ""
) -> ProbeResult:
    session = ctx.http.cookie_session()
    kept = False
    try:
        flow = await _run_flow(check, ctx, session)
        measurement = None
        if flow.outcome is Outcome.OK:
            measurement = slowness(check, flow.steps)
            if measurement.slow_login:
                flow.detail += f"; slow (over {check.slow:g} s or a step past its own limit)"
        if flow.outcome is Outcome.OK and check.session is not None:
            ctx.state(check)[STATE_KEY] = KeptSession(session, ctx.now())
            kept = True
            measurement = replace(measurement or LoginMeasurement(), session_age_seconds=0.0)
        return _flow_result(run, flow, measurement, note)
    finally:
        if not kept:
            await session.close()


def _logged_out_reason(check: LoginCheck, response: Response) -> str | None:
    """Why the members-only answer shows a logged-out session, or None."""
    assert check.session is not None
    if response.status in (401, 403):
        return f"status {response.status}"
    login = check.login_page()
    for hop in (*response.redirects[1:], response.url):
        if is_login_page(hop, login):
            return f"redirected to the login page {hop}"
    marker = check.session.marker
    if marker is not None and 200 <= response.status < 300 and marker not in response.text():
        return f"{_quote(marker)} gone from the page"
    shown = response.text()[:DEFAULT_LOGIN_MAX_BODY] if marker is None else ""
    if 200 <= response.status < 300 and _PASSWORD_FIELD.search(shown):
        return "the answer is a login form (a password field)"
    return None


async def _check_session(
    check: LoginCheck, ctx: ProbeContext, run: ProbeRun, kept: KeptSession
) -> ProbeResult:
    assert check.session is not None
    spec = check.session
    age = max(0.0, (ctx.now() - kept.logged_in_at).total_seconds())
    measurement = LoginMeasurement(session_age_seconds=age)
    started = time.perf_counter()
    try:
        response = await ctx.http.fetch(
            spec.url,
            timeout=spec.timeout or check.timeout_s,
            tls=check.tls,
            max_body=check.max_body_size,
            session=kept.http,
        )
    except FetchError as error:
        # Says nothing about the session: it is kept, and asked again next time.
        return _session_result(
            run,
            error.outcome,
            f"session check: {error.detail}",
            step_detail=error.detail,
            elapsed=time.perf_counter() - started,
            transport=error.transport,
            measurement=measurement,
        )
    elapsed = time.perf_counter() - started
    reason = _logged_out_reason(check, response)
    if reason is not None:
        ctx.state(check).pop(STATE_KEY, None)
        await kept.close()
        outcome = Outcome.SESSION_DROPPED
        detail = f"session logged out after {show_age(age)}: {reason}"
        measurement = replace(measurement, session_lifetime_seconds=age)
    elif not 200 <= response.status < 300:
        outcome = Outcome.HTTP_ERROR
        detail = f"session check: status {response.status} from {response.url}"
    else:
        outcome, detail = Outcome.OK, f"session alive after {show_age(age)}"
    return _session_result(
        run,
        outcome,
        detail,
        step_detail="" if outcome is Outcome.OK else detail,  # as every step that passed
        elapsed=elapsed,
        transport=response.transport,
        measurement=measurement,
    )


def _session_result(
    run: ProbeRun,
    outcome: Outcome,
    detail: str,
    *,
    step_detail: str,
    elapsed: float,
    transport: Transport | None,
    measurement: LoginMeasurement,
) -> ProbeResult:
    """The session check's result: its one step (`session`) and what its fetch measured."""
    step = StepResult("session", elapsed, outcome, step_detail)
    return run.result(outcome, detail, steps=(step,), measurement=measurement, transport=transport)


async def probe(check: LoginCheck, ctx: ProbeContext) -> ProbeResult:
    """Log in (or, with a live kept session, check that it is still logged in)."""
    run = ProbeRun(check, ctx)
    if check.session is None:
        return await _log_in(check, ctx, run)
    state = ctx.state(check)
    kept = state.get(STATE_KEY)
    if not isinstance(kept, KeptSession):
        return await _log_in(check, ctx, run)
    age = (ctx.now() - kept.logged_in_at).total_seconds()
    if check.session.max_age is not None and age >= check.session.max_age:
        state.pop(STATE_KEY, None)
        await kept.close()
        note = f"session reached max_age after {show_age(age)}; logged in afresh: "
        return await _log_in(check, ctx, run, note)
    return await _check_session(check, ctx, run, kept)
