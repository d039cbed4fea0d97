"""The deployment files: they parse, what they reference exists, and they agree with each other.

Docker and a Kubernetes cluster cannot run here, so the compose file, the Dockerfile and the
manifests are checked for what can be checked without them: every file they mount or copy
exists, ports, paths, service names and job names agree across compose, Prometheus,
Alertmanager, Grafana and Kubernetes, and the image's install steps run in a clean virtualenv.
The Prometheus rules and Alertmanager routes are checked with the real promtool and amtool;
mutation tests show that the rule tests pin every `for:` and every maintenance hold.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import parse_config
from monitor.shard import Shard

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
ALERTMANAGER = DEPLOY / "alertmanager"
KUBERNETES = DEPLOY / "kubernetes"
DASHBOARDS = ROOT / "dashboards"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
MONITOR_PORT = 9108
CJK = re.compile(r"[\u4e00-\u9fff]")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (Debian: prometheus / prometheus-alertmanager)")
    return path


def alert_rules() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    yield path, rule


def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(DEPLOY / "docker-compose.yml")
    return data


def compose_mounts(service: str) -> dict[str, Path]:
    """Container path -> host path (resolved against deploy/) of a service's bind mounts."""
    mounts = {}
    for volume in compose()["services"][service].get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith((".", "/")):
            mounts[target] = (DEPLOY / source).resolve()
    return mounts


def in_container(mounts: dict[str, Path], container_path: str) -> Path:
    """The host file that a container path maps to through bind mounts (longest prefix)."""
    for target in sorted(mounts, key=len, reverse=True):
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            rest = container_path[len(target) :].lstrip("/")
            return mounts[target] / rest if rest else mounts[target]
    raise AssertionError(f"{container_path} is not inside any bind mount: {sorted(mounts)}")


def kube_documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    return docs


def kube(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in kube_documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical: list[str] = []
    buffer = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        logical.append(buffer + stripped)
        buffer = ""
    out = []
    for entry in logical:
        instruction, _, args = entry.partition(" ")
        out.append((instruction.upper(), args.strip()))
    return out


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for instruction, args in dockerfile_instructions():
        if instruction == "FROM":
            name = args.split()[-1] if " AS " in args.upper() else str(len(stages))
            current = stages.setdefault(name, [])
        elif current is not None:
            current.append((instruction, args))
    return stages


# --- everything parses, everything referenced exists --------------------------------------


def test_every_yaml_file_parses() -> None:
    """Every YAML file of deploy/ and dashboards/ parses and is not empty."""
    paths = [*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml"), *DASHBOARDS.rglob("*.yml")]
    assert len(paths) >= 15
    for path in paths:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
        assert docs, f"{path} is empty"


def test_prometheus_references_existing_rule_files() -> None:
    """Each rule_files glob of prometheus.yml matches files, and every rule file is loaded."""
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    loaded = {p for pattern in config["rule_files"] for p in PROMETHEUS.glob(pattern)}
    assert loaded == set(RULE_FILES)
    for test_file in (PROMETHEUS / "tests").glob("*.yml"):
        for rule_file in load_yaml(test_file)["rule_files"]:
            assert (test_file.parent / rule_file).is_file(), f"{test_file}: {rule_file}"


def test_alertmanager_templates_exist_and_are_used() -> None:
    """The template glob matches files and every template the receivers call is defined."""
    config = load_yaml(ALERTMANAGER / "alertmanager.yml")
    files = [p for pattern in config["templates"] for p in ALERTMANAGER.glob(pattern)]
    assert files
    defined = set()
    for path in files:
        defined |= set(re.findall(r'define "([^"]+)"', path.read_text(encoding="utf-8")))
    used = set(re.findall(r'template "([^"]+)"', (ALERTMANAGER / "alertmanager.yml").read_text()))
    assert used, "no receiver uses the templates"
    assert used <= defined


def test_compose_bind_mounts_exist() -> None:
    """Every host path that docker-compose.yml mounts exists, and the build context has the Dockerfile."""
    for name, service in compose()["services"].items():
        for target, source in compose_mounts(name).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"
        if "build" in service:
            context = (DEPLOY / service["build"]["context"]).resolve()
            assert (context / service["build"].get("dockerfile", "Dockerfile")).is_file()


def test_dockerfile_copies_existing_files() -> None:
    """Every COPY source of the Dockerfile (not from another stage) exists in the repository."""
    copies = [args for instruction, args in dockerfile_instructions() if instruction == "COPY"]
    assert copies
    for args in copies:
        if args.startswith("--from="):
            continue
        *sources, _ = args.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: missing"


# --- the pieces agree with each other -------------------------------------------------------


def test_prometheus_scrapes_the_compose_monitor_and_alertmanager() -> None:
    """prometheus.yml's targets are compose service names on the ports those services listen on."""
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    services = compose()["services"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    # The alert rules select up{job="monitor"}: the job name is part of the contract.
    assert '{job="monitor"}' in (PROMETHEUS / "rules" / "alerts-monitor.yml").read_text()
    # One target per probe point, each a compose monitor with a location of its own.
    targets = jobs["monitor"]["static_configs"][0]["targets"]
    locations = []
    for target in targets:
        host, port = target.split(":")
        assert host in services
        assert int(port) == MONITOR_PORT
        assert services[host]["environment"]["MONITOR_LISTEN"] == f"0.0.0.0:{MONITOR_PORT}"
        locations.append(services[host]["environment"]["MONITOR_LOCATION"])
    monitors = {n for n, s in services.items() if "MONITOR_LOCATION" in s.get("environment", {})}
    assert {t.split(":")[0] for t in targets} == monitors
    assert len(set(locations)) == len(locations) >= 2, locations
    # ... and those are the points the shared config expects.
    assert sorted(load_yaml(DEPLOY / "monitor.yaml")["points"]["expected"]) == sorted(locations)
    assert f"127.0.0.1:{MONITOR_PORT}:{MONITOR_PORT}" in services["monitor"]["ports"]
    published = [p for name in monitors for p in services[name]["ports"]]
    assert len({p.rsplit(":", 1)[0] for p in published}) == len(published), published
    [am_target] = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    am_host, am_port = am_target.split(":")
    assert am_host in services
    assert f"127.0.0.1:{am_port}:{am_port}" in services[am_host]["ports"]


def test_compose_mounts_match_what_each_program_reads() -> None:
    """The files Prometheus, Alertmanager, Grafana and the monitor are told to read are mounted."""
    services = compose()["services"]

    def flag(service: str, name: str) -> str:
        [value] = [a.split("=", 1)[1] for a in services[service]["command"] if a.startswith(name)]
        return str(value)

    prometheus_config = in_container(
        compose_mounts("prometheus"), flag("prometheus", "--config.file")
    )
    assert prometheus_config == (PROMETHEUS / "prometheus.yml").resolve()
    am_config = in_container(compose_mounts("alertmanager"), flag("alertmanager", "--config.file"))
    assert am_config == (ALERTMANAGER / "alertmanager.yml").resolve()
    monitor_config = in_container(
        compose_mounts("monitor"), services["monitor"]["environment"]["MONITOR_CONFIG"]
    )
    assert monitor_config == (DEPLOY / "monitor.yaml").resolve()

    grafana = compose_mounts("grafana")
    datasources = in_container(grafana, "/etc/grafana/provisioning/datasources")
    providers = in_container(grafana, "/etc/grafana/provisioning/dashboards")
    assert datasources == (DASHBOARDS / "provisioning" / "datasources").resolve()
    assert list(datasources.glob("*.yml")) and list(providers.glob("*.yml"))
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert in_container(grafana, home).is_file()
    for provider_file in providers.glob("*.yml"):
        for provider in load_yaml(provider_file)["providers"]:
            folder = in_container(grafana, provider["options"]["path"])
            assert {p.name for p in folder.glob("*.json")} == {
                "overview.json",
                "site-detail.json",
                "locations.json",
            }


def test_grafana_datasource_points_at_prometheus_and_dashboards_use_it() -> None:
    """The provisioned datasource is compose's Prometheus, and every panel uses its uid."""
    [source] = load_yaml(DASHBOARDS / "provisioning" / "datasources" / "prometheus.yml")[
        "datasources"
    ]
    services = compose()["services"]
    host_port = source["url"].removeprefix("http://")
    host, port = host_port.split(":")
    assert host in services
    assert f"127.0.0.1:{port}:{port}" in services[host]["ports"]
    scrape = load_yaml(PROMETHEUS / "prometheus.yml")["scrape_configs"]
    [monitor_job] = [job for job in scrape if job["job_name"] == "monitor"]
    # $__rate_interval is 4 x timeInterval: it must be the monitor's real scrape interval.
    assert source["jsonData"]["timeInterval"] == monitor_job["scrape_interval"]
    for path in DASHBOARDS.glob("*.json"):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                assert target["datasource"]["uid"] == source["uid"], (
                    f"{path.name}: {panel['title']}"
                )


def test_dockerfile_is_multi_stage_non_root_with_healthcheck_and_volumes() -> None:
    """The image is built in two stages, runs as a non-root user, checks /healthz, and keeps config and data in volumes."""
    stages = dockerfile_stages()
    assert len(stages) >= 2
    runtime = list(stages.values())[-1]
    instructions = dict(runtime)
    # Only the built virtualenv comes from the build stage; no compiler, no sources.
    copies = [args for instruction, args in runtime if instruction == "COPY"]
    assert any(c.startswith("--from=build /opt/monitor") for c in copies)
    assert not any("monitor/ " in c for c in copies)
    user = instructions["USER"].split(":")[0]
    assert user not in ("root", "0")
    env = dict(re.findall(r"(\w+)=(\S+)", instructions["ENV"]))
    assert "MONITOR_HEALTHZ_URL" in instructions["HEALTHCHECK"]
    assert env["MONITOR_HEALTHZ_URL"] == f"http://127.0.0.1:{MONITOR_PORT}/healthz"
    assert int(instructions["EXPOSE"]) == MONITOR_PORT
    volumes = json.loads(instructions["VOLUME"])
    config_dir = os.path.dirname(env["MONITOR_CONFIG"])
    assert config_dir in volumes
    image_config = load_yaml(DEPLOY / "monitor.yaml")
    assert image_config["storage"]["data_dir"] in volumes


def test_sharded_statefulset_gives_every_pod_a_valid_shard() -> None:
    """The sharded overlay runs one pod per shard: `--shard $(SHARD_INDEX)/$(SHARD_COUNT)`
    with the count equal to the replicas, which `monitor run` accepts for every ordinal."""
    overlay = yaml.safe_load((DEPLOY / "kubernetes-sharded" / "kustomization.yaml").read_text())
    assert "statefulset.yaml" in overlay["resources"]
    statefulset = yaml.safe_load((DEPLOY / "kubernetes-sharded" / "statefulset.yaml").read_text())
    assert statefulset["kind"] == "StatefulSet"
    spec = statefulset["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["SHARD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.labels['apps.kubernetes.io/pod-index']"
    )
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    count = int(env["SHARD_COUNT"]["value"])
    assert count == spec["replicas"]
    # The container's shell line, run by a real sh with `monitor` standing in as an echo: the
    # label wins where set; without it (Kubernetes < 1.28) the pod name's ordinal is used.
    assert container["command"] == ["/bin/sh", "-c"]
    (line,) = container["args"]
    shards = []
    for i in range(spec["replicas"]):
        for label in (str(i), ""):
            done = subprocess.run(
                ["sh", "-c", f'monitor() {{ echo "$@"; }}; {line.replace("exec ", "", 1)}'],
                env={"SHARD_INDEX": label, "POD_NAME": f"monitor-{i}", "SHARD_COUNT": str(count)},
                capture_output=True,
                text=True,
                check=True,
            )
            assert done.stdout.split()[-2:] == ["--shard", f"{i}/{count}"], done.stdout
        shards.append(Shard.parse(f"{i}/{count}"))
    assert sorted(s.index for s in shards) == list(range(count))


def test_kubernetes_manifests_agree() -> None:
    """The Deployment reads its config from the ConfigMap, its secrets from the Secret, probes /healthz and /readyz on the metrics port that Service and PodMonitor use."""
    deployment = kube("Deployment", "monitor")
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    [container] = pod["spec"]["containers"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": MONITOR_PORT}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(MONITOR_PORT)

    # The config file the container is told to read is the ConfigMap's key, mounted.
    config_arg = container["args"][container["args"].index("-c") + 1]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    mount_dir, key = os.path.split(config_arg)
    config_map = kube("ConfigMap", volumes[mounts[mount_dir]]["configMap"]["name"])
    assert key in config_map["data"]

    # Secrets referenced exist, with those keys.
    secret = kube("Secret", volumes[mounts["/etc/monitor/secrets"]]["secret"]["secretName"])
    for env in container["env"]:
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["name"] == secret["metadata"]["name"]
            assert ref["key"] in secret["stringData"]
    assert "MONITOR_DATABASE_URL" in config_map["data"][key]

    service = kube("Service", "monitor")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    pod_monitor = kube("PodMonitor", "monitor")
    assert pod_monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pod_monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    # The job label comes from this pod label: it must be the job the alert rules select.
    assert labels[pod_monitor["spec"]["jobLabel"]] == "monitor"
    for doc in kube_documents():
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "gov-site-monitor", doc["metadata"]["name"]


def test_shipped_monitor_configs_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The image's config and the Kubernetes ConfigMap's config pass the monitor's own validation and listen where scraped."""
    monkeypatch.setenv("MONITOR_DATABASE_URL", "postgresql://monitor:secret@db:5432/monitor")
    monkeypatch.delenv("MONITOR_LISTEN", raising=False)
    image = parse_config(load_yaml(DEPLOY / "monitor.yaml"), "deploy/monitor.yaml")
    assert image.server.port == MONITOR_PORT
    assert image.server.host == "0.0.0.0"
    config_map = kube("ConfigMap", "monitor-config")
    k8s = parse_config(yaml.safe_load(config_map["data"]["monitor.yaml"]), "configmap")
    assert k8s.server.port == MONITOR_PORT
    assert k8s.server.host == "0.0.0.0"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_locations_overlay_runs_one_statefulset_per_expected_location(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """deploy/kubernetes-locations: one StatefulSet per probe point, each with its own
    `location` (the ConfigMap's points.expected, nothing more, nothing less), selecting only
    its own pods, with a valid `--shard i/n` for every ordinal; the base Deployment is gone,
    the one Service and PodMonitor scrape them all, and the config validates."""
    out = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / "kubernetes-locations")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    assert not [d for d in docs if d["kind"] == "Deployment"]
    sets = [d for d in docs if d["kind"] == "StatefulSet"]
    [config_map] = [d for d in docs if d["kind"] == "ConfigMap"]
    monkeypatch.setenv("MONITOR_DATABASE_URL", "postgresql://monitor:secret@db:5432/monitor")
    monkeypatch.delenv("MONITOR_LISTEN", raising=False)
    config = parse_config(yaml.safe_load(config_map["data"]["monitor.yaml"]), "configmap")
    points = config.probe_points
    [service] = [d for d in docs if d["kind"] == "Service"]
    [pod_monitor] = [d for d in docs if d["kind"] == "PodMonitor"]
    seen: dict[str, int] = {}
    selectors = []
    for statefulset in sets:
        spec = statefulset["spec"]
        pod = spec["template"]
        labels = pod["metadata"]["labels"]
        selectors.append(tuple(sorted(spec["selector"]["matchLabels"].items())))
        assert spec["selector"]["matchLabels"].items() <= labels.items()
        assert service["spec"]["selector"].items() <= labels.items()
        assert pod_monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
        (container,) = pod["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        location = env["MONITOR_LOCATION"]
        count = int(env["SHARD_COUNT"])
        assert count == spec["replicas"], statefulset["metadata"]["name"]
        (line,) = container["args"]
        for i in range(count):
            done = subprocess.run(
                ["sh", "-c", f'monitor() {{ echo "$@"; }}; {line.replace("exec ", "", 1)}'],
                env={
                    "SHARD_INDEX": "",
                    "POD_NAME": f"{statefulset['metadata']['name']}-{i}",
                    "SHARD_COUNT": str(count),
                },
                capture_output=True,
                text=True,
                check=True,
            )
            assert done.stdout.split()[-2:] == ["--shard", f"{i}/{count}"], done.stdout
            Shard.parse(f"{i}/{count}")
        assert location not in seen, f"location {location} runs twice"
        seen[location] = count
    assert len(set(selectors)) == len(sets), "two locations select the same pods"
    assert sorted(seen) == sorted(points.expected or ()), (seen, points.expected)
    assert len(seen) >= 3 and max(seen.values()) >= 2, "a location with shards is shown"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomization_renders_every_manifest() -> None:
    """`kubectl kustomize` (offline) renders the manifests, all of them listed."""
    out = subprocess.run(
        ["kubectl", "kustomize", str(KUBERNETES)], capture_output=True, text=True, check=True
    ).stdout
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(out) if d)
    assert kinds == sorted(d["kind"] for d in kube_documents())


# --- alert rules: the contract of every alert ------------------------------------------------


def test_every_alert_has_severity_owner_and_bilingual_text() -> None:
    """Each alert carries severity, an owner (static or from its series) and summary/description in English and Chinese naming the site or instance."""
    names = []
    for path, rule in alert_rules():
        name = rule["alert"]
        names.append(name)
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        expr = rule["expr"]
        owner_from_series = (
            "owner" in rule["labels"]
            or "group_left (owner, site_name)" in expr
            or "by (site, owner, site_name)" in expr
            or expr.lstrip().startswith("monitor_incident_open")
            or expr.lstrip().startswith("monitor:confirmed_incident_open")
        )
        assert owner_from_series, f"{name}: no owner label"
        notes = rule["annotations"]
        assert set(notes) >= {"summary", "summary_zh", "description", "description_zh"}, name
        assert CJK.search(notes["summary_zh"]) and CJK.search(notes["description_zh"]), name
        who = {
            "alerts-monitor.yml": "$labels.instance",
            # A probe location, whichever of its replicas says so.
            "alerts-points.yml": "$labels.point" if "point" in expr else "$labels.location",
        }.get(path.name, "$labels.site")
        if name != "MonitorAbsent":
            for key in ("summary", "summary_zh", "description", "description_zh"):
                assert who in notes[key], f"{name}.{key} does not name {who}"  # or site_name
    assert len(names) == len(set(names))
    expected = {
        "SiteDown", "LoginFailing", "SessionDropouts", "LoginSlow", "LatencyHigh",
        "HomepageStale", "ColumnStale", "ManyColumnsStale", "AccountStale", "BrokenLinks",
        "UnansweredQuestions", "CertExpiringSoon", "CertExpiryImminent",
        "UnreachableRatioWarning", "UnreachableRatioVeto", "MonitorDown", "MonitorAbsent",
        "MonitorNotProbing", "MonitorSchedulerLagging", "MonitorStoreBehind",
        "MonitorStoreDropping", "MonitorBlind", "MonitorLocationMissing",
    }  # fmt: skip
    assert expected <= set(names)


def test_every_alert_is_fired_by_a_rule_test() -> None:
    """Each alert appears in a promtool test that expects it to fire."""
    fired = set()
    for test_file in (PROMETHEUS / "tests").glob("*.yml"):
        for test in load_yaml(test_file)["tests"]:
            for case in test.get("alert_rule_test", []):
                if case.get("exp_alerts"):
                    fired.add(case["alertname"])
    assert {rule["alert"] for _, rule in alert_rules()} <= fired


def run_rule_tests(rules_dir: Path, tests: list[Path]) -> subprocess.CompletedProcess[str]:
    """Run promtool on copies of `tests` whose ../rules/ is `rules_dir`."""
    tests_dir = rules_dir.parent / "tests"
    tests_dir.mkdir(exist_ok=True)
    for test in tests:
        shutil.copy(test, tests_dir / test.name)
    return subprocess.run(
        [tool("promtool"), "test", "rules", *(str(tests_dir / t.name) for t in tests)],
        capture_output=True,
        text=True,
    )


def mutated_rules(tmp_path: Path, alert: str, change: Any) -> Path:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    for path in RULE_FILES:
        data = load_yaml(path)
        for group in data["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alert:
                    change(rule)
        (rules_dir / path.name).write_text(yaml.safe_dump(data, allow_unicode=True))
    return rules_dir


ALERT_TESTS = [PROMETHEUS / "tests" / "alerts-sites_test.yml",
               PROMETHEUS / "tests" / "alerts-monitor_test.yml",
               PROMETHEUS / "tests" / "alerts-points_test.yml"]  # fmt: skip
MAINTENANCE_HOLD = "unless on (site) (monitor_maintenance == 1)"


def test_rule_tests_pass_on_the_unmodified_rules(tmp_path: Path) -> None:
    """The mutation tests below start from passing rule tests (a copy that promtool accepts)."""
    rules_dir = mutated_rules(tmp_path, "", lambda rule: None)
    result = run_rule_tests(rules_dir, ALERT_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "alert", sorted(rule["alert"] for _, rule in alert_rules() if rule.get("for"))
)
def test_rule_tests_pin_every_for_duration(tmp_path: Path, alert: str) -> None:
    """Dropping an alert's `for:` makes the rule tests fail: they check it stays pending first."""
    rules_dir = mutated_rules(tmp_path, alert, lambda rule: rule.pop("for"))
    result = run_rule_tests(rules_dir, ALERT_TESTS)
    assert result.returncode != 0, f"{alert} without for: still passes"
    assert f"alertname: {alert}" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "alert",
    sorted(rule["alert"] for _, rule in alert_rules() if MAINTENANCE_HOLD in rule["expr"]),
)
def test_rule_tests_pin_every_maintenance_hold(tmp_path: Path, alert: str) -> None:
    """Removing an alert's maintenance hold makes the rule tests fail: a site in maintenance is part of each test."""

    def drop_hold(rule: dict[str, Any]) -> None:
        rule["expr"] = rule["expr"].replace(MAINTENANCE_HOLD, "")

    rules_dir = mutated_rules(tmp_path, alert, drop_hold)
    result = run_rule_tests(rules_dir, ALERT_TESTS)
    assert result.returncode != 0, f"{alert} without the maintenance hold still passes"
    assert f"alertname: {alert}" in result.stdout + result.stderr


def test_site_down_and_login_alerts_are_held_in_maintenance() -> None:
    """The alerts caused by planned downtime carry the maintenance hold."""
    held = {rule["alert"] for _, rule in alert_rules() if MAINTENANCE_HOLD in rule["expr"]}
    assert held >= {"SiteDown", "LoginFailing", "SessionDropouts", "LoginSlow", "LatencyHigh"}


# --- Alertmanager -----------------------------------------------------------------------------


def route_cases() -> list[tuple[str, list[str]]]:
    cases = []
    for line in (ALERTMANAGER / "routes-test.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            receiver, *labels = line.split()
            cases.append((receiver, labels))
    return cases


def amtool_route(labels: list[str], expect: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            tool("amtool"), "config", "routes", "test",
            f"--config.file={ALERTMANAGER / 'alertmanager.yml'}",
            f"--verify.receivers={expect}", *labels,
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip


def test_amtool_accepts_the_config() -> None:
    """amtool check-config accepts alertmanager.yml with its templates."""
    result = subprocess.run(
        [tool("amtool"), "check-config", str(ALERTMANAGER / "alertmanager.yml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 templates" in result.stdout


@pytest.mark.parametrize(("receiver", "labels"), route_cases())
def test_each_owner_routes_to_its_receiver(receiver: str, labels: list[str]) -> None:
    """amtool routes each routing case to the expected receiver."""
    result = amtool_route(labels, receiver)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_route_check_catches_a_wrong_receiver() -> None:
    """The routing check fails when an owner's alert would reach someone else."""
    result = amtool_route(["owner=sasac-web", "severity=critical"], "petrochem-it")
    assert result.returncode != 0


def test_every_example_owner_has_a_route_and_a_case() -> None:
    """Every owner in examples/*.yaml (and monitor-ops) has its own receiver and routing cases for pages and warnings."""
    owners = {"monitor-ops"}
    for example in (ROOT / "examples").glob("*.yaml"):
        for site in load_yaml(example).get("sites", []):
            owners.add(site.get("owner", "default"))
    cases = route_cases()
    for owner in owners:
        severities = {
            label.split("=")[1]
            for receiver, labels in cases
            if f"owner={owner}" in labels and receiver == owner
            for label in labels
            if label.startswith("severity=")
        }
        assert severities == {"critical", "warning"}, owner


def test_pages_repeat_hourly_and_warnings_twice_a_day() -> None:
    """Critical routes repeat every hour, the rest every 12 hours, and everything is grouped by site (the monitor's own by instance)."""
    route = load_yaml(ALERTMANAGER / "alertmanager.yml")["route"]
    assert route["group_by"] == ["site"]
    assert route["repeat_interval"] == "12h"

    def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        for child in node.get("routes", []):
            yield child
            yield from walk(child)

    for node in walk(route):
        critical = node["matchers"] == ['severity="critical"']
        assert node.get("repeat_interval", route["repeat_interval"]) == (
            "1h" if critical else "12h"
        ), node
        if "group_by" in node:
            assert node["matchers"] == ['owner="monitor-ops"']
            assert "instance" in node["group_by"]


def test_inhibition_names_real_alerts_and_covers_site_down() -> None:
    """Every alert name in the inhibit rules exists, and site down silences the site's latency, freshness and login alerts."""
    names = {rule["alert"] for _, rule in alert_rules()}
    inhibit = load_yaml(ALERTMANAGER / "alertmanager.yml")["inhibit_rules"]
    for rule in inhibit:
        for matcher in [*rule["source_matchers"], *rule["target_matchers"]]:
            match = re.fullmatch(r'alertname=~?"([^"]+)"', matcher)
            assert match, matcher
            referenced = set(match.group(1).split("|"))
            assert referenced <= names, referenced - names
    [site_down] = [r for r in inhibit if r["source_matchers"] == ['alertname="SiteDown"']]
    assert site_down["equal"] == ["site"]
    silenced = set(re.findall(r"\w+", site_down["target_matchers"][0].split("=~")[1]))
    assert silenced >= {
        "LatencyHigh", "LoginFailing", "LoginSlow", "SessionDropouts",
        "HomepageStale", "ColumnStale", "AccountStale",
    }  # fmt: skip
    assert "SiteDown" not in silenced


# --- the image's install steps in a clean virtualenv -----------------------------------------


def test_image_build_steps_install_a_working_monitor(tmp_path: Path) -> None:
    """The build stage's steps, run in a clean virtualenv on the files it COPYs, install a `monitor` whose package data and console script work.

    The build backend and tzdata come from the package registry as pip is set up on the
    machine (as `.ci/run`'s own installs do); the project itself is installed with --no-deps
    and its runtime dependencies are borrowed from the test environment (PYTHONPATH), so the
    test does not download the whole dependency tree again.
    """
    build = dockerfile_stages()["build"]
    context = tmp_path / "context"
    context.mkdir()
    for instruction, args in build:
        if instruction == "COPY":
            *sources, _ = args.split()
            for source in sources:
                src = ROOT / source
                if src.is_dir():
                    shutil.copytree(
                        src, context / source, ignore=shutil.ignore_patterns("__pycache__")
                    )
                else:
                    shutil.copy(src, context / source)
    [run] = [args for instruction, args in build if instruction == "RUN"]
    steps = [shlex.split(step) for step in run.split("&&")]
    venv = tmp_path / "opt-monitor"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)

    def sh(argv: list[str], **extra: str) -> str:
        argv = [a.replace("/opt/monitor", str(venv)) for a in argv]
        if argv[0] == "python":
            argv[0] = sys.executable
        result = subprocess.run(
            argv, cwd=context, env={**env, **extra}, capture_output=True, text=True
        )
        assert result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}"
        return result.stdout

    # python -m venv: a clean venv from the interpreter the tests run on (3.11, as the image).
    sh([sys.executable, "-m", "venv", str(venv)])
    sh([str(venv / "bin" / "pip"), "install", "setuptools>=68", "wheel"])
    for argv in steps[1:]:
        if argv[1:3] == ["install", "."] or argv[1:2] == ["install"]:
            argv = [*argv[:2], "--no-deps", "--no-build-isolation", *argv[2:]]
        if argv[0].endswith("/monitor"):
            deps = sysconfig.get_paths()["purelib"]
            output = sh(argv, PYTHONPATH=deps)
            assert output.startswith("monitor ")
            continue
        sh(argv)
    site_packages = next(venv.glob("lib/python3*/site-packages"))
    installed = site_packages / "monitor"
    assert (installed / "py.typed").is_file()
    assert list((installed / "store" / "migrations").glob("*.sql")), "migrations not packaged"
    assert not (venv / "bin" / "pip").exists(), "pip left in the image"
    # The image's config validates with the installed console script.
    deps = sysconfig.get_paths()["purelib"]
    result = subprocess.run(
        [str(venv / "bin" / "monitor"), "validate", "-c", str(DEPLOY / "monitor.yaml")],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": deps, "MONITOR_DATABASE_URL": "postgresql://u:p@db/monitor"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "ok (1 sites" in result.stdout
    # And it is this venv's copy of the package that ran, not the test environment's.
    origin = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import monitor; print(monitor.__file__)"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": deps},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert origin.startswith(str(site_packages))


# --- metric names: the rules and dashboards use only what the monitor exports ------------------


def exported_metric_names() -> set[str]:
    from monitor import metrics

    return {
        value
        for name, value in vars(metrics).items()
        if name.isupper() and isinstance(value, str) and value.startswith(("probe_", "monitor_"))
    }


def used_metric_names(text: str) -> set[str]:
    # Series names the monitor exports (no recording rules: those contain a colon), outside
    # quoted label values (outcome="probe_error" is no series).
    text = re.sub(r'"[^"]*"', '""', text)
    names = set(re.findall(r"(?<![\w:])((?:probe|monitor)_[a-z_]+)(?![\w:])", text))
    return {re.sub(r"_(bucket|count|sum)$", "", name) for name in names}


def test_rules_and_dashboards_use_only_exported_metric_names() -> None:
    """Every probe_*/monitor_* series named in an expression of the rules or a dashboard is one the monitor exports (monitor/metrics.py)."""
    exported = exported_metric_names()
    assert {"probe_success", "monitor_incident_open", "monitor_check_info"} <= exported
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                unknown = used_metric_names(rule["expr"]) - exported
                assert not unknown, f"{path.name}: {rule.get('alert') or rule.get('record')}"
    for path in DASHBOARDS.glob("*.json"):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        queries = [v["query"]["query"] for v in dashboard["templating"]["list"]]
        queries += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        for query in queries:
            assert not used_metric_names(query) - exported, f"{path.name}: {query}"


def test_availability_rule_counts_the_outcomes_the_code_calls_unreachable() -> None:
    """The availability rule's failure outcomes and page check types are those of monitor.results."""
    from monitor.results import PAGE_CHECK_TYPES, UNREACHABLE_OUTCOMES

    rules = {
        rule["record"]: rule["expr"]
        for group in load_yaml(PROMETHEUS / "rules" / "availability.yml")["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    expr = rules["site_check:monitor_probe_failures:increase5m"]
    matchers = re.findall(r'(outcome|type)=~?"([^"]+)"', expr)
    outcomes = {v for k, value in matchers if k == "outcome" for v in value.split("|")}
    types = {v for k, value in matchers if k == "type" for v in value.split("|")}
    assert outcomes == {str(o) for o in UNREACHABLE_OUTCOMES} | {"content_mismatch"}
    assert types == PAGE_CHECK_TYPES


# --- notification texts, rendered by amtool from the real rules' annotations ---------------------

LONG_NAME = "中国石油化工集团有限公司离退休干部管理局网站"  # a long real-world site name
WECOM_LIMIT = 2048  # bytes of a WeCom text message; longer ones are cut


def annotate(rule: dict[str, Any], labels: dict[str, str], value: str = "12.5%") -> dict[str, str]:
    """The rule's annotations as Prometheus would fill them in for `labels` (values as `value`)."""

    def fill(text: str) -> str:
        text = re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), text)
        return re.sub(r"\{\{\s*\$value[^}]*\}\}", value, text)

    return {key: fill(text) for key, text in rule["annotations"].items()}


def site_alert(name: str, status: str, check: str, **labels: str) -> dict[str, Any]:
    """One alert of alerts-sites.yml for the petrochem site, as Alertmanager hands it over."""
    rule = next(r for _, r in alert_rules() if r.get("alert") == name)
    full = {"alertname": name, "site": "petrochem-retirees", "site_name": LONG_NAME,
            "check": check, "owner": "petrochem-it", "location": "beijing",
            **rule["labels"], **labels}  # fmt: skip
    return {
        "status": status,
        "labels": full,
        "annotations": annotate(rule, full),
        "startsAt": "2026-07-01T08:00:00+08:00",
        "endsAt": "2026-07-01T09:02:03+08:00" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": check,
    }


def group(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """Alertmanager's template data for one notification of the group `alerts` (by site)."""
    common = {k: v for k, v in alerts[0]["labels"].items()
              if all(a["labels"].get(k) == v for a in alerts)}  # fmt: skip
    return {
        "receiver": "petrochem-it",
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "alerts": alerts,
        "groupLabels": {"site": "petrochem-retirees"},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.gov.cn:9093",
    }


def render(tmp_path: Path, name: str, data: dict[str, Any]) -> str:
    """`amtool template render` of template `name` over `data`."""
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    done = subprocess.run(
        [tool("amtool"), "template", "render",
         f"--template.glob={ALERTMANAGER / 'templates' / '*.tmpl'}",
         f"--template.data={path}", f'--template.text={{{{ template "{name}" . }}}}'],
        capture_output=True, text=True, timeout=60, env={**os.environ, "TZ": "Asia/Shanghai"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


THREE = [
    ("SiteDown", "home", {"reason": "timeout"}),
    ("LoginFailing", "member-login", {"reason": "login_failed"}),
    ("SessionDropouts", "member-session", {}),
]


def test_firing_notification_names_the_site_in_chinese_with_links(tmp_path: Path) -> None:
    """A firing group: subject and WeCom text name the site in Chinese, severity in Chinese, link to the dashboard and a silence."""
    data = group([site_alert(n, "firing", c, **extra) for n, c, extra in THREE])
    subject = render(tmp_path, "monitor.subject", data)
    assert subject.startswith("【告警】") or subject.startswith("【告警·严重】")
    assert LONG_NAME in subject
    assert "petrochem-retirees" not in subject  # the id is not repeated (nor shown) there
    assert subject.count(LONG_NAME) == 1
    text = render(tmp_path, "monitor.text", data)
    wechat = render(tmp_path, "monitor.wechat", data)
    for message in (text, wechat):
        assert LONG_NAME in message
        assert "严重" in message and "critical" not in message.split("\n\n")[0]
        assert "/d/monitor-site/?var-site=petrochem-retirees" in message
        assert "/#/silences/new?filter=" in message
        assert "超时" in message  # the reason in Chinese
    assert wechat.count("●") == 3


def test_resolved_notification_is_not_the_firing_text(tmp_path: Path) -> None:
    """A resolved group says it is over and how long it lasted, without the firing description."""
    firing = group([site_alert("SiteDown", "firing", "home", reason="timeout")])
    resolved = group([site_alert("SiteDown", "resolved", "home", reason="timeout")])
    description = firing["alerts"][0]["annotations"]["description_zh"]
    assert description in render(tmp_path, "monitor.text", firing)
    subject = render(tmp_path, "monitor.subject", resolved)
    assert subject.startswith("【已恢复】") and LONG_NAME in subject
    for name in ("monitor.text", "monitor.wechat"):
        message = render(tmp_path, name, resolved)
        assert message != render(tmp_path, name, firing)
        assert "已恢复" in message
        assert description not in message
        assert "已开启故障事件" not in message
        assert "【告警" not in message and "●" not in message
        assert "静默" not in message  # nothing left to silence
    assert "持续：1h2m3s" in render(tmp_path, "monitor.text", resolved)


def test_wecom_message_of_a_group_fits_2048_bytes(tmp_path: Path) -> None:
    """Three alerts of a long-named site, with the longest Chinese summaries of the rules, fit WeCom's 2048 bytes, firing and resolved; a larger group is shortened, not cut."""
    rules = [r for _, r in alert_rules() if r["labels"].get("owner") != "monitor-ops"]
    longest = sorted(rules, key=lambda r: len(r["annotations"]["summary_zh"].encode()))[-3:]
    for status in ("firing", "resolved"):
        alerts = [
            site_alert(
                r["alert"],
                status,
                f"check-with-a-long-id-{i:02d}",
                reason="content_mismatch",
                step="submit-credentials",
            )
            for i, r in enumerate(longest)
        ]
        message = render(tmp_path, "monitor.wechat", group(alerts))
        assert len(message.encode()) <= WECOM_LIMIT, (len(message.encode()), message)
        assert LONG_NAME in message
    many = [
        site_alert("SiteDown", "firing", f"column-{i:02d}", reason="timeout") for i in range(12)
    ]
    message = render(tmp_path, "monitor.wechat", group(many))
    assert len(message.encode()) <= WECOM_LIMIT
    assert message.count("●") == 3 and "其余" in message and "（12 条）" in message


def test_site_alerts_name_the_site_in_chinese() -> None:
    """Every site alert's Chinese summary names the site by site_name, and every rule test's expected site alert carries that label."""
    site_rules = [r for p, r in alert_rules() if p.name == "alerts-sites.yml"]
    assert site_rules
    for rule in site_rules:
        zh = rule["annotations"]["summary_zh"] + rule["annotations"]["description_zh"]
        assert "$labels.site_name" in rule["annotations"]["summary_zh"], rule["alert"]
        # The id only where a command needs it (monitor check --site ...).
        assert "$labels.site }}" not in zh.replace("--site {{ $labels.site }}", ""), rule["alert"]
    names = {r["alert"] for r in site_rules}
    for path in sorted((PROMETHEUS / "tests").glob("*.yml")):
        for case in load_yaml(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                if check["alertname"] not in names:
                    continue
                for alert in check.get("exp_alerts", []):
                    assert alert["exp_labels"].get("site_name"), (path.name, check["alertname"])
