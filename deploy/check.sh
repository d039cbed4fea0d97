#!/usr/bin/env bash
# Every check of the deployment files that can run without Docker or a cluster:
#   Prometheus config and rules (promtool check config / check rules / test rules),
#   Alertmanager config, templates and routes (amtool check-config / template render /
#   config routes test for every owner), and the Kubernetes manifests (kubectl kustomize: the
#   base, the sharded overlay, and the probe points' overlay with one StatefulSet per location).
# Usage: deploy/check.sh   (from anywhere; exits non-zero on the first failure)
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n== %s\n' "$*"; }

step "promtool check config"
promtool check config prometheus/prometheus.yml

step "promtool check rules"
promtool check rules prometheus/rules/*.yml

step "promtool test rules"
promtool test rules prometheus/tests/*.yml

step "amtool check-config"
amtool check-config alertmanager/alertmanager.yml

step "amtool template render"
for name in monitor.subject monitor.text monitor.html monitor.wechat; do
  amtool template render --template.glob='alertmanager/templates/*.tmpl' \
    --template.text="{{ template \"$name\" . }}" >/dev/null
  echo "  $name renders"
done

step "robot bridge"
python3 -m py_compile alertmanager/robot_bridge.py
echo "  alertmanager/robot_bridge.py compiles"

step "amtool config routes test"
failed=0
while read -r receiver labels; do
  case "$receiver" in ''|'#'*) continue ;; esac
  # shellcheck disable=SC2086  # labels are separate words on purpose
  if got=$(amtool config routes test --config.file=alertmanager/alertmanager.yml \
             --verify.receivers="$receiver" $labels 2>/dev/null); then
    echo "  ok   $labels -> $got"
  else
    echo "  FAIL $labels -> $got (expected $receiver)"
    failed=1
  fi
done < alertmanager/routes-test.txt
[ "$failed" -eq 0 ]

step "kubectl kustomize"
if command -v kubectl >/dev/null 2>&1; then
  kubectl kustomize kubernetes >/dev/null
  echo "  deploy/kubernetes renders"
  sharded=$(kubectl kustomize kubernetes-sharded)
  grep -q -- '--shard' <<<"$sharded"
  echo "  deploy/kubernetes-sharded renders, with --shard"
  # One StatefulSet per probe point, each with its own location, and no Deployment left over.
  located=$(kubectl kustomize kubernetes-locations)
  sets=$(grep -c '^kind: StatefulSet$' <<<"$located")
  points=$(grep -A1 -- '- name: MONITOR_LOCATION$' <<<"$located" | sed -n 's/^ *value: //p' | sort -u)
  ! grep -q '^kind: Deployment$' <<<"$located"
  [ "$sets" -ge 2 ] && [ "$(wc -l <<<"$points")" -eq "$sets" ]
  echo "  deploy/kubernetes-locations renders: $sets locations ($(echo $points))"
else
  echo "  kubectl not installed: skipped"
fi

printf '\nall deployment checks passed\n'
