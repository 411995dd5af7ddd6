#!/usr/bin/env bash
# Re-record the bundled sample captures with the real recorders against the simulated server.
#
#   sample_traces/record.sh [NAME...]      (default: every capture)
#
# Environment: OUT (default sample_traces), SEED (default 1), TA (the traceanalyzer command, default
# .venv/bin/traceanalyzer), DURATION (seconds; overrides every capture's length, for quick checks).
#
# Each capture gets: requests (the HTTP collector), gpu + host (the sampler, dcgm backend against the
# simulator's exporter endpoint), server (the Prometheus scraper against the simulator's vLLM /metrics).
# Traffic goes to 127.0.0.1 only; every run is bounded by --duration and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
TA=${TA:-.venv/bin/traceanalyzer}
OUT=${OUT:-sample_traces}
SEED=${SEED:-1}

free_port() { "${TA%traceanalyzer}python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# record NAME SCENARIO DURATION_S "SIM_ARGS" -- COLLECTOR_ARGS...
record() {
  local name=$1 scenario=$2 duration=${DURATION:-$3} sim_args=$4; shift 5
  local dir="$OUT/$name" port
  port=$(free_port)
  rm -rf "$dir"; mkdir -p "$dir"
  echo "== $name: scenario $scenario, ${duration}s, port $port"
  # shellcheck disable=SC2086
  "$TA" sim serve --scenario "$scenario" --port "$port" --seed "$SEED" $sim_args >"$dir/.sim.log" 2>&1 &
  local sim=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  local samp_s=$((duration + 5))
  "$TA" record gpu --backend dcgm --url "http://127.0.0.1:$port/metrics/dcgm" --host-metrics --host sim-gpu-0 \
      --interval 1 --duration "$samp_s" --out "$dir/gpu.jsonl.gz" &
  local gpu=$!
  "$TA" record server --url "http://127.0.0.1:$port/metrics" --host sim-gpu-0 \
      --interval 1 --duration "$samp_s" --out "$dir/server.jsonl.gz" &
  local srv=$!
  sleep 1
  "$TA" record http --url "http://127.0.0.1:$port/v1" --model sim-llama-3-8b --duration "${duration}s" \
      --seed "$SEED" --quiet --out "$dir/requests.jsonl.gz" "$@"
  sleep 2
  kill -INT "$gpu" "$srv" 2>/dev/null || true
  wait "$gpu" "$srv" || true
  kill -TERM "$sim" 2>/dev/null || true
  wait "$sim" || true
  rm -f "$dir/.sim.log"
}

ARGS=("$@")
sel() { [ ${#ARGS[@]} -eq 0 ] && return 0; local a; for a in "${ARGS[@]}"; do [ "$a" = "$1" ] && return 0; done; return 1; }

sel steady-soak && record steady-soak steady 180 "" -- --concurrency 8 --prompts docs/examples/steady-soak-prompts.jsonl --max-tokens 40 --warmup 10s
sel ramp-oom && record ramp-oom ramp-oom 150 "--set engine.kv_cache_tokens=3000 --set faults.error_delay_ms=500" -- --stages "30s@4,30s@8,30s@16,30s@24,30s@32" --max-tokens 128 --ttft-timeout 10 --timeout 60
sel queue-timeout && record queue-timeout queue-timeout 120 "" -- --stages "30s@4,30s@8,30s@12,30s@16" --max-tokens 96 --ttft-timeout 5 --timeout 60
sel cpu-bound && record cpu-bound cpu-bound 120 "" -- --stages "30s@4,30s@8,30s@16,30s@24" --max-tokens 96 --timeout 60
sel leak && record leak leak 140 "--set faults.error_delay_ms=500" -- --concurrency 8 --max-tokens 96 --timeout 60
sel regression-baseline && record regression-baseline steady 120 "" -- --concurrency 8 --max-tokens 96 --prompts builtin:mixed
sel regression-candidate && record regression-candidate regression 120 "" -- --concurrency 8 --max-tokens 96 --prompts builtin:mixed
sel chat-sessions && record chat-sessions chat 60 "" -- --concurrency 4 --prompts builtin:chat --think-time exp:1s --max-tokens 48
if sel locust-run; then bash sample_traces/record_locust.sh; fi
echo "done: $(du -sh "$OUT" | cut -f1) in $OUT"
