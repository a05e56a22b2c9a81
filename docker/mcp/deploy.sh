#!/usr/bin/env bash
# Validates the stack's configs, checks the secret files exist, then starts the stack.
set -euo pipefail
cd "$(dirname "$0")"
[ -f .env ] || { echo "error: copy .env.example to .env first" >&2; exit 2; }
set -a; . ./.env; set +a
for f in "${GRAFANA_ADMIN_PASSWORD_FILE:-./secrets/grafana_admin_password}" \
         "${SLACK_WEBHOOK_URL_FILE:-./secrets/slack_webhook_url}" \
         "${PG_PASSWORD_FILE:-./secrets/pg_password}"; do
  [ -s "$f" ] || { echo "error: secret file $f is missing or empty" >&2; exit 2; }
done
../../scripts/check-stack
docker compose -f docker-compose.observability.yml up -d --build "$@"
