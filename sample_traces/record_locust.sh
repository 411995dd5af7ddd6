#!/usr/bin/env bash
# Record the locust-run sample: real Locust (a master with two workers) driving the simulated server with
# LLMUser, then `traceanalyzer import locust` on its CSVs and log. Called by sample_traces/record.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
TA=${TA:-.venv/bin/traceanalyzer}
BIN=$(cd "$(dirname "$TA")" && pwd)
OUT=${OUT:-sample_traces}
SEED=${SEED:-1}
DURATION=${LOCUST_DURATION:-90}
dir="$OUT/locust-run"
work=$(mktemp -d)
[ -n "${KEEP_WORK:-}" ] || trap 'rm -rf "$work"' EXIT; echo "work dir: $work"
port=$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mport=$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rm -rf "$dir"; mkdir -p "$dir"
echo "== locust-run: scenario mixed-4xx, ${DURATION}s, master + 2 workers, port $port"

cat >"$work/locustfile.py" <<'PY'
from locust import constant

from recorders.locust_user import LLMUser


class Chat(LLMUser):
    model = "sim-llama-3-8b"
    prompt_file = "builtin:mixed"
    max_tokens = 96
    wait_time = constant(0.5)
PY

"$TA" sim serve --scenario mixed-4xx --port "$port" --seed "$SEED" >"$work/sim.log" 2>&1 &
sim=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
"$TA" record gpu --backend dcgm --url "http://127.0.0.1:$port/metrics/dcgm" --host-metrics --host sim-gpu-0 \
    --interval 1 --duration $((DURATION + 10)) --out "$dir/gpu.jsonl.gz" &
gpu=$!
"$TA" record server --url "http://127.0.0.1:$port/metrics" --host sim-gpu-0 \
    --interval 1 --duration $((DURATION + 10)) --out "$dir/server.jsonl.gz" &
srv=$!

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
(cd "$work" && "$BIN/locust" -f locustfile.py --master --master-bind-host 127.0.0.1 --master-bind-port "$mport" \
    --expect-workers 2 --headless -u 8 -r 2 -t "${DURATION}s" -H "http://127.0.0.1:$port/v1" \
    --csv results/run --csv-full-history --logfile results/master.log --llm-trace-dir traces --llm-run locust-sample \
    >master.out 2>&1) &
master=$!
for w in 1 2; do
  (cd "$work" && "$BIN/locust" -f locustfile.py --worker --master-host 127.0.0.1 --master-port "$mport" \
      --logfile "results/worker$w.log" >"worker$w.out" 2>&1) &
done
wait "$master" || true
sleep 3
kill -INT "$gpu" "$srv" 2>/dev/null || true
wait "$gpu" "$srv" || true
kill -TERM "$sim" 2>/dev/null || true
wait "$sim" || true
wait || true

mkdir -p "$dir/llmuser" "$dir/locust"
for f in "$work"/traces/*.jsonl; do gzip -c "$f" >"$dir/llmuser/$(basename "$f").gz"; done
"$TA" import locust "$work/results/run" "$work/results/master.log" --timezone local --run locust-sample \
    --out "$dir/locust"
gzip -f "$dir"/locust/*.jsonl
