#!/usr/bin/env bash
# Deploys the CDB observability stack on this host, the team's workflow:
#   1. pre-flight: docker and its compose plugin, the compose file, .env, the secret files, the
#      profiles (never agent with standalone, never two log collectors), the external network
#      cdb_network;
#   2. docker compose config (the file as Docker will run it: variables, profiles, secrets);
#   3. docker compose up -d (builds our images on first use);
#   4. waits until every container reports healthy (a progress line, not a fixed sleep);
#   5. mcp-agent check, mcp-agent fire-drill --wait, mcp-agent log-drill --service cdb_ws;
#   6. prints the access points (Promtail's only when its profile runs it).
# Needs only bash and docker on this host: no promtool, amtool or python (the static checks of the
# configs run in the repository's test command, scripts/check-stack). mcp-agent runs from this host
# when installed, else inside the mcp_agent container.
#
# Exit codes: 0 deployed and checked; 2 pre-flight failed; 3 docker compose failed; 4 a container
# did not become healthy in time; 5 the check or a drill failed; 64 bad usage.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: ./deploy.sh [--skip-check] [--skip-drills] [--timeout SECONDS] [--no-build]

  --skip-check      do not run `mcp-agent check` after the stack is healthy
  --skip-drills     do not run the alert fire drill nor the log drill
  --timeout N       seconds to wait for every container to be healthy (default 300)
  --no-build        do not build the mcp images (use the ones present)
  -h, --help        this help
EOF
}

skip_check=0
skip_drills=0
timeout=300
build=(--build)
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-check) skip_check=1 ;;
    --skip-drills) skip_drills=1 ;;
    --timeout)
      if [ $# -lt 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
        echo "deploy.sh: --timeout needs a number of seconds" >&2
        exit 64
      fi
      timeout=$2
      shift ;;
    --no-build) build=() ;;
    -h | --help) usage; exit 0 ;;
    *) echo "deploy.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
  esac
  shift
done

cd "$(dirname "$0")"
compose_file=docker-compose.observability.yml

if [ -t 1 ]; then
  bold=$'\e[1m' red=$'\e[31m' green=$'\e[32m' reset=$'\e[0m'
else
  bold='' red='' green='' reset=''
fi
step() { printf '%s==> %s%s\n' "$bold" "$*" "$reset"; }
die() {
  local code=$1
  shift
  printf '%sdeploy.sh: %s%s\n' "$red" "$*" "$reset" >&2
  exit "$code"
}

# --- 1. pre-flight -------------------------------------------------------------------------------
step "Pre-flight"
command -v docker >/dev/null 2>&1 || die 2 "docker not found on PATH (install Docker Engine)"
docker compose version >/dev/null 2>&1 || die 2 "the docker compose plugin is missing (install docker-compose-plugin)"
[ -f "$compose_file" ] || die 2 "$compose_file not found in $(pwd)"
[ -f .env ] || die 2 ".env not found: cp .env.example .env, then edit it (see QUICK_START.md)"
# .env is read as Docker Compose reads it, for the secret paths only: KEY=VALUE lines.
env_value() {
  local key=$1 default=$2 line
  line=$(grep -E "^[[:space:]]*${key}=" .env | tail -n 1 || true)
  line=${line#*=}
  line=${line%\"}
  line=${line#\"}
  printf '%s' "${line:-$default}"
}
for pair in \
  "SLACK_WEBHOOK_URL_FILE:./secrets/slack_webhook_url" \
  "GF_SECURITY_ADMIN_PASSWORD_FILE:./secrets/grafana_admin_password" \
  "POSTGRES_PASSWORD_FILE:./secrets/postgres_password"; do
  key=${pair%%:*}
  file=$(env_value "$key" "${pair#*:}")
  [ -s "$file" ] || die 2 "secret file $file ($key) is missing or empty: create it, one line, mode 644 in the mode-700 secrets/"
  # Compose mounts a file secret as it is on the host (owner and mode kept; uid/gid/mode of the
  # long syntax are ignored without Swarm), and the containers read it as their own users (mcp
  # 10001, grafana 472, nobody): readable by others, while the 700 directory keeps host users out.
  [ -n "$(find "$file" -prune -perm -004 2>/dev/null)" ] \
    || die 2 "secret file $file ($key) is not readable by the containers' users: chmod 644 $file (and chmod 700 its directory)"
done
# As Docker Compose selects them: COMPOSE_PROFILES from the environment, else from .env.
profiles=${COMPOSE_PROFILES:-$(env_value COMPOSE_PROFILES agent)}
has_profile() { case ",$profiles," in *,"$1",*) return 0 ;; esac; return 1; }
if has_profile agent && has_profile standalone; then
  die 2 "COMPOSE_PROFILES has both agent and standalone: they serve the same ports"
fi
# Two log collectors would store every container's line twice in Loki.
if has_profile agent && has_profile promtail && grep -qE '^logs:' agent/agent.yml 2>/dev/null; then
  die 2 "COMPOSE_PROFILES runs Promtail and the agent collects logs too (logs: in agent/agent.yml): remove that section, or the promtail profile"
fi
docker network inspect cdb_network >/dev/null 2>&1 \
  || die 2 "docker network cdb_network does not exist: docker network create cdb_network (and attach the CDB services)"
echo "compose file, .env, secrets and cdb_network OK (profiles: $profiles)"

# --- 2. the file as Docker will run it -------------------------------------------------------------
step "docker compose config"
dc() { docker compose -f "$compose_file" "$@"; }
out=$(dc config --quiet 2>&1) || die 3 "docker compose config failed: $out"
mapfile -t containers < <(dc config --format json 2>/dev/null | grep -o '"container_name": *"mcp_[a-z_]*"' | grep -o 'mcp_[a-z_]*' || true)
if [ "${#containers[@]}" -eq 0 ]; then
  containers=(mcp_prometheus mcp_alertmanager mcp_grafana mcp_loki)
  if has_profile promtail; then containers+=(mcp_promtail); fi
fi
echo "valid; containers: ${containers[*]}"

# --- 3. start -------------------------------------------------------------------------------------
step "docker compose up -d"
dc up -d "${build[@]}" || die 3 "docker compose up failed (docker compose -f $compose_file logs)"

# --- 4. wait for health -----------------------------------------------------------------------------
step "Waiting for ${#containers[@]} containers to be healthy (up to ${timeout}s)"
start=$SECONDS
while :; do
  healthy=0
  pending=()
  for c in "${containers[@]}"; do
    status=$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$c" 2>/dev/null || echo missing)
    if [ "$status" = healthy ]; then healthy=$((healthy + 1)); else pending+=("$c:$status"); fi
  done
  elapsed=$((SECONDS - start))
  line="  ${healthy}/${#containers[@]} healthy after ${elapsed}s${pending:+ (waiting: ${pending[*]})}"
  if [ -t 1 ]; then printf '\r\e[K%s' "$line"; else echo "$line"; fi
  [ "$healthy" -eq "${#containers[@]}" ] && break
  if [ "$elapsed" -ge "$timeout" ]; then
    [ -t 1 ] && echo
    die 4 "not healthy after ${timeout}s: ${pending[*]} (docker logs <container>)"
  fi
  sleep 2
done
[ -t 1 ] && echo

# --- 5. check and drills ------------------------------------------------------------------------------
# From this host when mcp-agent is installed (it defaults to the published localhost ports), else in
# the mcp_agent container, which reaches the stack by container name.
agent() {
  if command -v mcp-agent >/dev/null 2>&1; then
    mcp-agent "$@"
  elif docker inspect mcp_agent >/dev/null 2>&1; then
    local sub=$1
    shift
    docker exec mcp_agent mcp-agent "$sub" \
      --prometheus-url http://mcp_prometheus:9090 --alertmanager-url http://mcp_alertmanager:9093 \
      --grafana-url http://mcp_grafana:3000 --loki-url http://mcp_loki:3100 "$@"
  else
    die 5 "mcp-agent is neither installed here nor running as mcp_agent: install it, or pass --skip-check --skip-drills"
  fi
}
if [ "$skip_check" -eq 0 ]; then
  step "mcp-agent check"
  agent check || die 5 "mcp-agent check found problems (above)"
fi
if [ "$skip_drills" -eq 0 ]; then
  step "mcp-agent fire-drill --wait (a test alert to #alerts-warning)"
  agent fire-drill --wait || die 5 "the fire drill did not reach Alertmanager"
  step "mcp-agent log-drill --service cdb_ws (a log line through Loki)"
  agent log-drill --service cdb_ws || die 5 "the log drill did not find its line in Loki"
fi

# --- 6. access points ------------------------------------------------------------------------------------
step "Deployed"
gf_user=$(env_value GF_SECURITY_ADMIN_USER admin)
gf_pass_file=$(env_value GF_SECURITY_ADMIN_PASSWORD_FILE ./secrets/grafana_admin_password)
# Promtail only when this deployment runs it (profile promtail): one of the containers compose runs.
promtail_line=''
for c in "${containers[@]}"; do
  if [ "$c" = mcp_promtail ]; then
    promtail_line=$'\n  Promtail       http://localhost:9080   (/targets; profile promtail)'
  fi
done
cat <<EOF
${green}The CDB observability stack is up.${reset}
  Grafana        http://localhost:3000   user ${gf_user}, password in ${gf_pass_file}
  Prometheus     http://localhost:9090   (no login; targets: /targets, alerts: /alerts)
  Alertmanager   http://localhost:9093   (no login; Slack webhook from the slack_webhook_url secret)
  Loki           http://localhost:3100   (push and LogQL API; browse in Grafana > Explore)${promtail_line}
  Exporters      http://localhost:9100/metrics  :9121/metrics  :9187/metrics
Dashboards: Grafana > Dashboards > CDB. Runbooks: README.md, "Alerts and runbooks".
EOF
