"""The `security` probe against a fake government homepage: each kind of injection, the same
page clean, a homepage whose news changes daily, GBK pages, a hostile page, the baseline."""

from __future__ import annotations

import json
import re
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from monitor.checkspec import CheckSpec
from monitor.config import load_config
from monitor.probes.base import ProbeContext
from monitor.probes.httpclient import HttpClient
from monitor.probes.security import (
    Baseline,
    DefacementSpec,
    PageReading,
    SecurityCheck,
    compare_baseline,
    fold,
    probe,
    read_page,
    safe_text,
)
from monitor.results import Outcome, ProbeResult
from tests.fakesite import NOW, homepage, hostile_page
from tests.targets import ServeApp

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# (name, what is injected into the page, the finding kind, a text its target names)
INJECTIONS: list[tuple[str, dict[str, str], str, str]] = [
    (
        "display-none",
        {"inject": '<div style="display: none"><a href="http://casino.test/">澳门娱乐城</a></div>'},
        "hidden_link",
        "casino.test",
    ),
    (
        "visibility-hidden",
        {"inject": '<a href="http://bet.test/" style="VISIBILITY:hidden">在线下注</a>'},
        "hidden_link",
        "bet.test",
    ),
    (
        "off-screen",
        {
            "inject": '<div style="position:absolute;left:-9999px;top:-9999px">'
            '<a href="http://pk10.test/">北京赛车</a></div>'
        },
        "hidden_link",
        "pk10.test",
    ),
    (
        "zero-size",
        {
            "inject": '<div style="height:0px;overflow:hidden">'
            '<a href="http://porn.test/">成人视频</a></div>'
        },
        "hidden_link",
        "porn.test",
    ),
    (
        "font-size-0",
        {"inject": '<span style="font-size:0"><a href="http://dk.test/">代开发票</a></span>'},
        "hidden_link",
        "dk.test",
    ),
    (
        "same-colour",
        {
            "inject": '<div style="background-color:#FFF"><a href="http://lhc.test/" '
            'style="color:white">六合彩</a></div>'
        },
        "hidden_link",
        "lhc.test",
    ),
    (
        "same-colour-as-page",
        {
            "body_attrs": ' bgcolor="#f0f0f0"',
            "inject": '<font color="#F0F0F0"><a href="http://ssc.test/">时时彩</a></font>',
        },
        "hidden_link",
        "ssc.test",
    ),
    (
        "zero-height-marquee",
        {
            "inject": '<marquee height="0" scrollamount="10000">'
            '<a href="http://bjl.test/">百家乐</a></marquee>'
        },
        "hidden_link",
        "bjl.test",
    ),
    (
        "hiding-class",
        {
            "head": "<style>/* seo */ .sy , #x{ position:absolute; display:none !important }</style>",
            "inject": '<div class="sy"><a href="http://ylc.test/">娱乐城</a></div>',
        },
        "hidden_link",
        "ylc.test",
    ),
    (
        "hiding-descendant-rule",
        {
            "head": "<style>#seo a:link { display : none }</style>",
            "inject": '<div id="seo"><a href="http://seo.test/">真人百家乐</a></div>',
        },
        "hidden_link",
        "seo.test",
    ),
    (
        "document-write",
        {
            "inject": "<script>document.write('<a href=\"http://dw.test/\">博'+'彩'+"
            "\"\\u5e73\\u53f0</a>');</script>"
        },
        "hidden_link",
        "dw.test",
    ),
    (
        "document-write-unescape",
        {
            "inject": "<script>document.write(unescape('%3Ca%20href%3D%22http%3A//ue.test/%22"
            "%3Ex%3C/a%3E'));</script>"
        },
        "hidden_link",
        "ue.test",
    ),
    (
        "visible-gambling-link",
        {"inject": '<div class="links"><a href="http://zr.test/">真人荷官 在线发牌</a></div>'},
        "external_link",
        "zr.test",
    ),
    (
        "external-script",
        {"head": '<script src="http://evil.test/tj.js"></script>'},
        "script",
        "evil.test",
    ),
    (
        "iframe",
        {"inject": '<iframe src="//evil.test/x.html" width="0" height="0"></iframe>'},
        "iframe",
        "evil.test",
    ),
    (
        "meta-refresh",
        {"head": '<meta http-equiv="Refresh" content="3; URL=http://evil.test/go">'},
        "meta_refresh",
        "evil.test",
    ),
    (
        "js-redirect",
        {
            "inject": '<script>var r=document.referrer;if(r.indexOf("baidu")>0)'
            '{top.location.href = "http://evil.test/";}</script>'
        },
        "js_redirect",
        "evil.test",
    ),
    (
        "js-replace",
        {"inject": "<body onload=\"location.replace('https://evil.test/x')\">"},
        "js_redirect",
        "evil.test",
    ),
]


class Pages:
    """The fake site's pages: each path serves one registered page, in one charset."""

    def __init__(self) -> None:
        self.served: dict[str, tuple[bytes, str]] = {}

    def put(self, path: str, html: str, charset: str = "utf-8", header: bool = True) -> None:
        content_type = f"text/html; charset={charset}" if header else "text/html"
        self.served[path] = (html.encode(charset), content_type)

    async def handle(self, request: web.Request) -> web.Response:
        body, content_type = self.served[request.path]
        return web.Response(body=body, headers={"Content-Type": content_type})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self.handle)
        return app


@pytest.fixture
def pages() -> Pages:
    return Pages()


@pytest.fixture
async def base(pages: Pages, serve: ServeApp) -> str:
    return await serve(pages.app())


def security_check(url: str, **settings: Any) -> SecurityCheck:
    raw = {"id": "home-security", "site": "sasac", "url": url, "interval": 300, "timeout": 5}
    return SecurityCheck.model_validate(raw | settings)


def kinds(result: ProbeResult) -> list[str]:
    return [finding["kind"] for finding in result.measurement.findings]


async def test_clean_homepage_has_no_finding(pages: Pages, base: str, ctx: ProbeContext) -> None:
    """The clean homepage, with its hidden menu, white-on-dark band and anti-gambling news,
    is ok: no finding."""
    pages.put("/", homepage())
    result = await probe(security_check(base + "/"), ctx)
    assert result.outcome is Outcome.OK, result.detail
    assert result.measurement.security_findings == 0
    assert result.measurement.baseline == "taken"
    assert result.status_code == 200


@pytest.mark.parametrize(
    ("name", "parts", "kind", "host"), INJECTIONS, ids=[i[0] for i in INJECTIONS]
)
async def test_each_injection_is_found(
    pages: Pages,
    base: str,
    ctx: ProbeContext,
    name: str,
    parts: dict[str, str],
    kind: str,
    host: str,
) -> None:
    """Each kind of injection on the same page is one suspected finding naming its target,
    why it is suspicious and where it sits."""
    pages.put("/", homepage(**parts))
    result = await probe(security_check(base + "/"), ctx)
    assert result.outcome is Outcome.COMPROMISED, result.detail
    assert kinds(result) == [kind]
    finding = result.measurement.findings[0]
    assert host in finding["target"]
    assert finding["status"] == "suspected"
    assert finding["reason"] and finding["where"]
    assert result.detail.startswith("suspected compromise, 1 findings")
    assert host in result.detail


async def test_hidden_link_reason_and_place(pages: Pages, base: str, ctx: ProbeContext) -> None:
    """A hidden link's finding says how it is hidden, on which element, which words it carries
    and the path of elements it sits in."""
    inject = '<div id="ft2" class="seo x"><p style="display:none"><a href="http://c.test/">澳门赌场</a></p></div>'
    pages.put("/", homepage(inject=inject))
    result = await probe(security_check(base + "/"), ctx)
    (finding,) = result.measurement.findings
    assert finding["reason"] == (
        "display:none on p; outside the allowed domains; vocabulary: 赌场, 澳门赌"
    )
    assert finding["where"] == "html > body > div#ft2.seo.x > p > a"
    assert finding["target"] == "http://c.test/ 澳门赌场"


async def test_hidden_internal_link_with_vocabulary(
    pages: Pages, base: str, ctx: ProbeContext
) -> None:
    """A hidden link on the site's own domain is suspicious only when it carries vocabulary
    (injected pages are often planted on the site itself)."""
    inject = '<div style="display:none"><a href="/upload/2026/bc.html">博彩平台</a></div>'
    pages.put("/", homepage(inject=inject))
    result = await probe(security_check(base + "/"), ctx)
    assert kinds(result) == ["hidden_link"]
    assert "outside the allowed domains" not in result.measurement.findings[0]["reason"]


async def test_visible_external_link_scored_against_min_score(
    pages: Pages, base: str, ctx: ProbeContext
) -> None:
    """A visible external link needs min_score vocabulary words: two words pass min_score 2,
    one does not; without vocabulary it is never suspicious."""
    one = '<a href="http://a.test/">真人荷官</a>'
    two = '<a href="http://b.test/">真人荷官 百家乐</a>'
    none = '<a href="http://c.test/">某某科技公司</a>'
    pages.put("/", homepage(inject=one + two + none))
    result = await probe(security_check(base + "/", min_score=2), ctx)
    assert [f["target"] for f in result.measurement.findings] == ["http://b.test/ 真人荷官 百家乐"]
    result = await probe(security_check(base + "/"), ctx)
    assert len(result.measurement.findings) == 2


async def test_allowed_domains_and_own_subdomains(
    pages: Pages, base: str, ctx: ProbeContext
) -> None:
    """Scripts and frames of the site's subdomains and of allowed domains are no finding; the
    same from elsewhere is."""
    head = (
        '<script src="http://static.gov.test/a.js"></script>'
        '<script src="https://hm.tongji.test/hm.js"></script>'
        '<iframe src="http://video.partner.test/"></iframe>'
    )
    pages.put("/", homepage(head=head))
    allowed = ("tongji.test", "partner.test")
    result = await probe(security_check(base + "/", allowed_domains=allowed), ctx)
    assert result.outcome is Outcome.OK, result.detail
    result = await probe(security_check(base + "/", allowed_domains=["tongji.test"]), ctx)
    assert kinds(result) == ["iframe"]


async def test_new_script_domain_against_baseline(
    pages: Pages, base: str, ctx: ProbeContext
) -> None:
    """An external script domain absent from the baseline is a finding even when allowed;
    one the baseline had is not."""
    check = security_check(base + "/", allowed_domains=["cdn.test"])
    pages.put("/", homepage(head='<script src="http://old.cdn.test/a.js"></script>'))
    assert (await probe(check, ctx)).outcome is Outcome.OK
    pages.put(
        "/",
        homepage(
            head='<script src="http://old.cdn.test/a.js"></script>'
            '<script src="http://new.cdn.test/m.js"></script>'
        ),
    )
    result = await probe(check, ctx)
    assert kinds(result) == ["script"]
    assert result.measurement.findings[0]["target"] == "new.cdn.test"
    assert "not in the baseline" in result.measurement.findings[0]["reason"]


async def test_wording_errors(pages: Pages, base: str, ctx: ProbeContext) -> None:
    """A listed wrong form is found in the text with its right form and count; the right form
    that contains the wrong one is not counted."""
    inject = "<p>中华人民共合国国务院国有资产监督管理委员会，中华人民共合国。</p><p>国资委员会</p>"
    pages.put("/", homepage(inject=inject))
    wording = [
        {"wrong": "中华人民共合国", "right": "中华人民共和国"},
        {"wrong": "资产监督管理委", "right": "国有资产监督管理委员会"},
        {"wrong": "国资委员会", "right": "国资委"},
    ]
    result = await probe(security_check(base + "/", wording=wording), ctx)
    findings = result.measurement.findings
    assert [(f["kind"], f["target"]) for f in findings] == [
        ("wording", "中华人民共合国"),
        ("wording", "国资委员会"),
    ]
    assert findings[0]["reason"] == "should be 中华人民共和国; 2 times"
    assert findings[0]["where"] == "html > body > p"


async def test_daily_news_is_no_defacement(pages: Pages, base: str, ctx: ProbeContext) -> None:
    """A homepage whose news list changes every day for a month (other headlines, dates and
    number of items) never looks defaced against the first day's baseline."""
    check = security_check(base + "/")
    for day in range(30):
        pages.put("/", homepage(day=day))
        result = await probe(check, ctx)
        assert result.outcome is Outcome.OK, (day, result.detail)
    assert result.measurement.baseline == "kept"


DEFACED = (
    "<html><head><meta charset=utf-8><title>Hacked by Team X</title></head>"
    '<body style="background:black"><h1>Hacked by Team X</h1><marquee>greetz</marquee>'
    "</body></html>"
)


async def test_defacement_found(pages: Pages, base: str, ctx: ProbeContext) -> None:
    """A replaced homepage is a suspected defacement: title, structure and stable regions."""
    check = security_check(base + "/")
    pages.put("/", homepage())
    await probe(check, ctx)
    pages.put("/", DEFACED)
    result = await probe(check, ctx)
    assert result.outcome is Outcome.COMPROMISED
    (finding,) = result.measurement.findings
    assert finding["kind"] == "defacement"
    assert finding["reason"].startswith(
        "title Hacked by Team X was 国务院国有资产监督管理委员会; structure "
    )
    assert "stable regions 0% like the baseline" in finding["reason"]


async def test_keywords_and_title_changes(pages: Pages, base: str, ctx: ProbeContext) -> None:
    """Same layout with the site's name gone: a missing keyword and a changed title are each a
    suspected defacement; `title: false` leaves the title alone."""
    spec = {"keywords": ["国务院国有资产监督管理委员会"]}
    check = security_check(base + "/", defacement=spec)
    pages.put("/", homepage())
    await probe(check, ctx)
    changed = homepage().replace("国务院国有资产监督管理委员会", "某某公司")
    pages.put("/", changed)
    result = await probe(check, ctx)
    (finding,) = result.measurement.findings
    assert finding["reason"] == (
        "title 某某公司 was 国务院国有资产监督管理委员会; "
        "keywords missing: 国务院国有资产监督管理委员会"
    )
    untitled = security_check(base + "/", defacement={"title": False}, id="other")
    pages.put("/", homepage())
    await probe(untitled, ctx)
    pages.put("/", homepage().replace("<title>国务院国有资产监督管理委员会", "<title>新标题"))
    assert (await probe(untitled, ctx)).outcome is Outcome.OK


def _reading(skeleton: set[str]) -> PageReading:
    return PageReading([], Baseline("t", frozenset(skeleton), "", frozenset()))


@pytest.mark.parametrize(("shared", "defaced"), [(6, False), (5, True)])
def test_structure_threshold_boundary(shared: int, defaced: bool) -> None:
    """Structure similarity is the Jaccard index of element paths: 6 of 10 shared paths is
    exactly the 0.6 threshold (kept), 5 of 10 is below it (defacement)."""
    before = {f"html>body>div#p{i}" for i in range(10)}
    after = set(list(sorted(before))[:shared])
    check = security_check("http://gov.test/")
    found = compare_baseline(
        check, _reading(after), Baseline("t", frozenset(before), "", frozenset())
    )
    assert bool(found) is defaced
    if defaced:
        assert found[0].reason == "structure 50% like the baseline (threshold 60%)"


async def test_baseline_file_survives_restart(
    pages: Pages, base: str, http_client: HttpClient, tmp_path: Path
) -> None:
    """The baseline is written to baseline_file at the first probe and read by a monitor that
    starts afresh, which then sees the defacement; a corrupt file is the monitor's error."""
    path = tmp_path / "baselines" / "sasac-home.json"
    check = security_check(base + "/", defacement={"baseline_file": str(path)})
    pages.put("/", homepage())
    first = ProbeContext(http=http_client, location="test")
    assert (await probe(check, first)).measurement.baseline == "taken"
    assert json.loads(path.read_text(encoding="utf-8"))["title"] == "国务院国有资产监督管理委员会"
    pages.put("/", DEFACED)
    restarted = ProbeContext(http=http_client, location="test")
    result = await probe(check, restarted)
    assert result.measurement.baseline == "file"
    assert kinds(result) == ["defacement"]
    path.write_text("{not json", encoding="utf-8")
    broken = await probe(check, ProbeContext(http=http_client, location="test"))
    assert broken.outcome is Outcome.PROBE_ERROR
    assert str(path) in broken.detail


@pytest.mark.parametrize("header", [True, False], ids=["charset-header", "meta-only"])
async def test_gbk_pages(pages: Pages, base: str, ctx: ProbeContext, header: bool) -> None:
    """A GBK page (declared in the header, or only in its <meta>) is read: a clean one is ok,
    an injected one names the link and its words in readable Chinese."""
    clean = homepage().replace('charset="utf-8"', 'charset="gb2312"')
    pages.put("/", clean, "gbk", header)
    assert (await probe(security_check(base + "/"), ctx)).outcome is Outcome.OK
    inject = '<div style="display:none"><a href="http://gbk.test/">澳门娱乐城 真人百家乐</a></div>'
    pages.put(
        "/", homepage(inject=inject).replace('charset="utf-8"', 'charset="gb2312"'), "gbk", header
    )
    result = await probe(security_check(base + "/", id="other"), ctx)
    (finding,) = result.measurement.findings
    assert finding["target"] == "http://gbk.test/ 澳门娱乐城 真人百家乐"
    assert finding["reason"].endswith("; vocabulary: 娱乐城, 百家乐")


async def test_gbk_url_and_full_width(pages: Pages, base: str, ctx: ProbeContext) -> None:
    """Vocabulary in a GBK percent-encoded URL and in full-width or spaced-out text is found."""
    links = (
        '<a href="http://s.test/s?kw=%B2%A9%B2%CA">点击进入</a>'  # 博彩 in GBK
        '<a href="http://fw.test/">ＢＥＴ３６５ 官网</a>'
        '<a href="http://sp.test/">澳 门.赌-场</a>'
    )
    pages.put("/", homepage(inject=links))
    result = await probe(security_check(base + "/"), ctx)
    reasons = [(f["target"].split()[0], f["reason"]) for f in result.measurement.findings]
    assert reasons == [
        ("http://s.test/s?kw=%B2%A9%B2%CA", "outside the allowed domains; vocabulary: 博彩"),
        ("http://fw.test/", "outside the allowed domains; vocabulary: bet365"),
        ("http://sp.test/", "outside the allowed domains; vocabulary: 赌场, 澳门赌"),
    ]


def test_fold_and_safe_text() -> None:
    """Folding makes full-width, case and separators alike; safe text escapes terminal, bidi,
    zero-width and markup characters and cuts long text."""
    assert fold("ＢＥＴ３６５") == "bet365"
    assert fold("澳 门·赌\u200b场") == "澳门赌场"
    shown = safe_text("\x1b[31m<script>alert(1)</script>|\u202eevil`" + "x" * 300)
    assert shown.startswith("\\u001b[31m\\x3cscript\\x3ealert(1)\\x3c/script\\x3e\\x7c\\u202eevil")
    assert shown.endswith("…")
    assert len(shown) < 200


async def test_hostile_text_reaches_the_detail_escaped(
    pages: Pages, base: str, ctx: ProbeContext
) -> None:
    """Markup, terminal escapes and bidi overrides in an injected link never reach the detail
    or the findings as they were."""
    inject = (
        '<div style="display:none"><a href="http://x.test/" title="t">'
        "&lt;img src=x onerror=alert(1)&gt;\x1b[2J\u202e博彩 | `code`</a></div>"
    )
    pages.put("/", homepage(inject=inject))
    result = await probe(security_check(base + "/"), ctx)
    text = json.dumps(result.to_json(), ensure_ascii=False)
    for raw in ("<img", "\x1b", "\u202e", "|", "`"):
        assert raw not in result.detail
        assert raw not in text
    assert "\\x3cimg src=x onerror=alert(1)\\x3e" in result.detail


def test_hostile_page_parses_within_bounds() -> None:
    """The hostile page parses without raising, reads at most max_links links, and reports
    the hidden links it did read."""
    check = security_check("http://gov.test/", max_links=1000)
    reading = read_page(check, hostile_page(), "text/html", "http://gov.test/")
    assert reading.links_examined == 1000
    assert reading.links_total >= 30_000
    assert len(reading.findings) == 1000
    assert {f.kind for f in reading.findings} == {"hidden_link"}


async def test_hostile_page_over_http_off_loop(pages: Pages, base: str, ctx: ProbeContext) -> None:
    """Served for real (large, so it is parsed in the parser process), the hostile page ends
    in an outcome, not a crash or a stall; the detail lists five findings and counts the rest."""
    pages.served["/"] = (hostile_page(), "text/html")
    result = await probe(security_check(base + "/", max_links=200), ctx)
    await ctx.close()
    assert result.outcome is Outcome.COMPROMISED
    assert result.measurement.security_findings == 200
    assert len(result.measurement.findings) == 100  # what a result keeps (and the store stores)
    assert result.detail.endswith("and 195 more")


async def test_transport_failure_is_its_outcome(pages: Pages, base: str, ctx: ProbeContext) -> None:
    """A page that is not there is the fetch's outcome (http_error), not a security verdict."""
    result = await probe(security_check(base + "/missing"), ctx)
    assert result.outcome is Outcome.HTTP_ERROR


def test_example_config_loads(tmp_path: Path) -> None:
    """examples/checks-security.yaml validates and sets every documented key."""
    config = load_config(EXAMPLES / "checks-security.yaml")
    checks = [c for c in config.checks() if isinstance(c, SecurityCheck)]
    assert checks and all(c.failure_threshold == 1 for c in checks)
    text = (EXAMPLES / "checks-security.yaml").read_text(encoding="utf-8")
    own = SecurityCheck.model_fields.keys() - CheckSpec.model_fields.keys()
    for key in [*own, "failure_threshold", *DefacementSpec.model_fields]:
        assert re.search(rf"^#  .*\b{key}\b", text, re.MULTILINE), key


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    """A bad security key is refused at load with its config path."""
    path = tmp_path / "m.yaml"
    path.write_text(
        "sites:\n  - id: s\n    name: S\n    checks:\n      - id: c\n        type: security\n"
        "        url: http://gov.test/\n        defacement: {threshold: 2}\n",
        encoding="utf-8",
    )
    from monitor.config import ConfigError

    with pytest.raises(ConfigError, match=r"sites\[0\]\.checks\[0\]\.defacement\.threshold"):
        load_config(path)


async def test_web_page_shows_a_compromise_as_a_finding(
    pages: Pages, base: str, ctx: ProbeContext
) -> None:
    """The office's page shows a compromised page as a finding on a page that opens, not as
    a site that is down, with its own label."""
    from monitor.web.state import State, state_of
    from monitor.web.texts import Texts

    pages.put("/", homepage(inject=INJECTIONS[0][1]["inject"]))
    result = await probe(security_check(base + "/"), ctx)
    assert state_of(result) is State.FINDING
    assert (
        Texts("zh", NOW.tzinfo or UTC).outcome("compromised")
        == "疑似暗链、挂马或篡改（待人工核查）"
    )


async def test_monitor_check_reports_a_compromise(pages: Pages, base: str, tmp_path: Path) -> None:
    """`monitor check` on an injected page exits 1 with outcome compromised; its table and its
    JSON carry the finding with the page's markup and terminal escapes made inert."""
    from tests.service import run_in_process

    inject = '<div style="display:none"><a href="http://x.test/">\x1b[2J<b>博彩</b>|</a></div>'
    pages.put("/", homepage(inject=inject))
    url = base.replace("gov.test", "127.0.0.1") + "/"
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "sites:\n  - id: portal\n    name: 门户\n    checks:\n"
        f"      - {{id: home-security, type: security, url: '{url}'}}\n",
        encoding="utf-8",
    )
    code, out, err = await run_in_process("check", "-c", str(config), "--json")
    assert code == 1, err
    (result,) = json.loads(out)
    assert result["outcome"] == "compromised" and result["security_findings"] == 1
    assert result["findings"][0]["target"] == "http://x.test/ \\u001b[2J 博彩 \\x7c"
    code, out, _ = await run_in_process("check", "-c", str(config))
    assert code == 1
    assert "compromised" in out and "\x1b" not in out and "|" not in out.splitlines()[1]
