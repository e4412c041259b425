#!/usr/bin/env bash
# Every GPU figure of the project in one run, in under 8 minutes on one H100/H200-class GPU, written to
# bench/results/<date>-gpu.json (commit it; the GPU's name is inside):
#   - the MachineMem measurer in the paper's configuration (resnet50, 224 px, batch 1; timed at |A| = n = 100 with
#     1 + 1 epochs and extrapolated by step count to n = 500 and 60 + 10 epochs), sequential vs vectorised K = 4, 8,
#     16, at batch 1, 8 and 32 (bench/measure_throughput.py);
#   - GANalyze training steps (bench/train_throughput.py) and assessor scoring (bench/score_throughput.py).
# Usage: bench/gpu_check.sh            on a GPU machine
#        bench/gpu_check.sh --smoke    no GPU: the same scripts with tiny CPU settings, to prove it runs end to end
#                                      (writes bench/results/<date>-gpu-smoke.json)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export PYTHONPATH="$PWD" GANALYZE_MEM_OFFLINE=1
smoke=0
[[ "${1:-}" == "--smoke" ]] && smoke=1
stamp=$(date -u +%Y-%m-%d)
out="bench/results/${stamp}-gpu$([[ $smoke == 1 ]] && echo -smoke).json"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS

step() {  # name, time limit (s), command...: stdout+stderr to $tmp/name.txt, seconds and exit status recorded
  local name=$1 limit=$2 t0=$SECONDS rc=0
  shift 2
  echo "== $name (at most ${limit}s)" >&2
  timeout "$limit" "$@" >"$tmp/$name.txt" 2>&1 || rc=$?
  echo "$name $((SECONDS - t0)) $rc" >>"$tmp/steps.txt"
  tail -n 25 "$tmp/$name.txt" >&2
}

if [[ $smoke == 1 ]]; then
  echo "cpu (smoke)" >"$tmp/gpu.txt"
  step measure 400 "$PY" bench/measure_throughput.py --gpu-only --smoke --vectorize 2 --batch-sizes 1 \
    --json "$tmp/measure.json"
  step train 300 "$PY" bench/train_throughput.py --devices cpu --batches 1 --steps 1 --warmup 0
  step score 300 "$PY" bench/score_throughput.py --devices cpu --images 2 --batch 1 --assessors resnet50 --workers 0
else
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$tmp/gpu.txt"
  step measure 270 "$PY" bench/measure_throughput.py --gpu-only --gpu-set-size 100 --vectorize 4 8 16 \
    --batch-sizes 1 8 32 --json "$tmp/measure.json"
  step train 100 "$PY" bench/train_throughput.py --devices cuda --batches 4,32,128 --steps 10
  step score 80 "$PY" bench/score_throughput.py --devices cuda --images 256 --batch 1,64 --workers 8
fi

"$PY" - "$tmp" "$out" "$smoke" "$((SECONDS - start))" <<'PYEOF'
import json, sys, pathlib
tmp, out, smoke, seconds = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
steps = {}
for line in (tmp / "steps.txt").read_text().splitlines():
    name, secs, rc = line.split()
    steps[name] = {"seconds": int(secs), "exit_status": int(rc), "output": (tmp / f"{name}.txt").read_text()[-6000:]}
measure = tmp / "measure.json"
result = {"gpu": (tmp / "gpu.txt").read_text().strip(), "smoke": smoke, "total_seconds": seconds,
          "measure": json.loads(measure.read_text()) if measure.is_file() else None, "steps": steps}
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(result, indent=2) + "\n")
bad = [k for k, v in steps.items() if v["exit_status"]]
print(f"wrote {out} in {seconds} s" + (f"; steps that failed or ran out of time: {bad}" if bad else ""))
sys.exit(1 if bad else 0)
PYEOF
