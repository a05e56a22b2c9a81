#!/usr/bin/env bash
# What mcp-instrument costs a real service: cdb_execution under cdb_load at a fixed rate, with
# instrumentation on (metrics + HTTP layer + Loki shipping) versus MCP_INSTRUMENT=off, in
# interleaved rounds (on/off, then off/on, ...) so that a machine whose load drifts affects both
# sides alike. Prints a Markdown table (the one in examples/BENCHMARKS.md).
#
#   examples/bench/overhead.sh [ROUNDS] [RATE] [SECONDS]      (default 4 rounds, 100/s, 20 s)
#
# Starts its own redis-server and PostgreSQL on free loopback ports (never :6379/:5432), a
# Loki-compatible sink that accepts and discards pushes, cdb_risk and cdb_core (instrumented,
# not measured), and for each round a fresh cdb_execution. Release builds.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-4}
rate=${2:-100}
secs=${3:-20}

cargo build --release --quiet -p mcp-examples \
  --bin cdb_execution --bin cdb_risk --bin cdb_core --bin cdb_load
bin=target/release
work=$(mktemp -d)
pids=()
cleanup() {
  # Newest first: the services flush their logs to the sink before it and the backends go.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { # URL
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ] && return 0
    sleep 0.2
  done
  echo "overhead.sh: $1 never answered 200" >&2
  exit 1
}

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!)

pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pg_port=$(free_port)
as_pg=()
if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); chown postgres "$work"; fi
"${as_pg[@]}" "$pg_bin/initdb" -D "$work/pg" -A trust -U postgres --no-sync >/dev/null
"${as_pg[@]}" "$pg_bin/postgres" -D "$work/pg" -p "$pg_port" -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories="$work" -c fsync=off >"$work/pg.log" 2>&1 &
pids+=($!)

loki_port=$(free_port)
python3 - "$loki_port" <<'PY' &
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
pids+=($!)

common=(REDIS_ADDR="127.0.0.1:$redis_port" DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
  MCP_LOKI_URL="http://127.0.0.1:$loki_port" MCP_METRICS_ADDR=off MCP_LOG_FORMAT=off RUST_LOG=info)
risk_port=$(free_port)
core_port=$(free_port)
env "${common[@]}" PORT="$risk_port" "$bin/cdb_risk" &
pids+=($!)
env "${common[@]}" PORT="$core_port" "$bin/cdb_core" &
pids+=($!)
wait_for "http://127.0.0.1:$risk_port/-/ready"
wait_for "http://127.0.0.1:$core_port/-/ready"

one_round() { # MODE ROUND
  local port pid
  port=$(free_port)
  env "${common[@]}" PORT="$port" RISK_URL="http://127.0.0.1:$risk_port" MCP_INSTRUMENT="$1" \
    "$bin/cdb_execution" &
  pid=$!
  wait_for "http://127.0.0.1:$port/-/ready"
  "$bin/cdb_load" --core-url "http://127.0.0.1:$core_port" --execution-url "http://127.0.0.1:$port" \
    --rate "$rate" --duration "${secs}s" --warmup 3s --lookup-share 0 --reject-share 0.1 \
    --subscribers 0 --pid "$pid" --output json >"$work/$1-$2.json"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then order=(on off); else order=(off on); fi
  for mode in "${order[@]}"; do
    one_round "$mode" "$r"
    echo "round $r/$rounds, instrumentation $mode: done" >&2
  done
done

python3 - "$work" "$rounds" "$rate" "$secs" <<'PY'
import json, statistics, sys
work, rounds, rate, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = {"on": [], "off": []}
for mode in rows:
    for r in range(1, rounds + 1):
        s = json.load(open(f"{work}/{mode}-{r}.json"))
        order = next(o for o in s["ops"] if o["op"] == "order")
        rows[mode].append({
            "cpu": s["cpu"][0]["cpu_ms_per_request"],
            "p50": order["latency_ms"]["p50"],
            "p99": order["latency_ms"]["p99"],
            "errors": s["errors"],
            "requests": s["requests"],
        })
med = lambda mode, k: statistics.median(x[k] for x in rows[mode])
print(f"{rounds} interleaved rounds per side, {rate} requests/s for {secs} s each (after 3 s warm-up), "
      "90% filled orders, 10% risk rejects.\n")
print("| round | CPU ms/request on | off | order p99 ms on | off | order p50 ms on | off | errors on | off |")
print("|---|---|---|---|---|---|---|---|---|")
for i in range(rounds):
    a, b = rows["on"][i], rows["off"][i]
    print(f"| {i+1} | {a['cpu']:.3f} | {b['cpu']:.3f} | {a['p99']:.2f} | {b['p99']:.2f} | "
          f"{a['p50']:.2f} | {b['p50']:.2f} | {a['errors']}/{a['requests']} | {b['errors']}/{b['requests']} |")
cpu_on, cpu_off = med("on", "cpu"), med("off", "cpu")
p99_on, p99_off = med("on", "p99"), med("off", "p99")
print(f"| **median** | **{cpu_on:.3f}** | **{cpu_off:.3f}** | **{p99_on:.2f}** | **{p99_off:.2f}** | "
      f"{med('on','p50'):.2f} | {med('off','p50'):.2f} | | |")
print()
print(f"CPU overhead: {100 * (cpu_on / cpu_off - 1):+.1f}% per request; "
      f"p99 overhead: {100 * (p99_on / p99_off - 1):+.1f}% (medians of the rounds).")
PY
