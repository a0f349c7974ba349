#!/bin/bash
# The built-in demo's pipeline run by hand with the r1d CLI, with the tuned numbers
# (what manifests/demo.yaml automates): synth -> teacher init + SFT on the worked
# solutions -> teacher samples K answers per prompt -> filter (verify) -> dedup ->
# decontam (eval set) -> export (+ verify) -> student init + SFT on the tarball ->
# eval of teacher, student and the untrained student on the held-out set.
#
#   tools/demo_chain.sh [R1D_BINARY] [WORK_DIR]      # default bin/r1d, /tmp/r1d-demo-chain
#
# Prints the wall and CPU time of each stage and a summary (pass@1 of the three models).
# Answers are extracted from \boxed{} only, so that an untrained model's random digits
# (which the last_number fallback would pick up) do not count.
# Every size below is an environment variable, so a reduced run is e.g.
#   SFT=500 PROMPTS=100 EVAL=50 T_EPOCHS=1 S_EPOCHS=1 tools/demo_chain.sh
set -euo pipefail
R1D=${1:-bin/r1d}
W=${2:-/tmp/r1d-demo-chain}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

SEED=${SEED:-1}
SFT=${SFT:-10000}           # teacher training problems (worked solutions)
PROMPTS=${PROMPTS:-3000}   # prompts the teacher answers
EVAL=${EVAL:-200}           # held-out problems
MIN_OPS=${MIN_OPS:-2}; MAX_OPS=${MAX_OPS:-3}
CONTAM=${CONTAM:-0.02}
K=${K:-2}                   # teacher samples per prompt
MAX_NEW=${MAX_NEW:-96}      # the longest worked solution (3 operations) is 67 tokens
TEMP=${TEMP:-0.6}
EVAL_K=${EVAL_K:-2}
# teacher: qwen2, 4 layers x 128 (0.85M parameters); student: 3 layers x 128 (0.66M)
T_SHAPE=${T_SHAPE:-"--hidden 128 --layers 4 --heads 4 --kv-heads 2 --intermediate 384"}
S_SHAPE=${S_SHAPE:-"--hidden 128 --layers 3 --heads 4 --kv-heads 2 --intermediate 384"}
T_LR=${T_LR:-3e-3}; T_EPOCHS=${T_EPOCHS:-1}
S_LR=${S_LR:-3e-3}; S_EPOCHS=${S_EPOCHS:-2}
SEQ=${SEQ:-512}

rm -rf "$W"
mkdir -p "$W"
T0=$(date +%s.%N)
stage() { # name, then the command; prints wall and CPU (user + system) seconds
    local name=$1
    shift
    /usr/bin/time -o "$W/$name.time" -f "%e %U %S" "$@" > "$W/$name.log" 2>&1 ||
        { echo "stage $name failed:"; tail -5 "$W/$name.log"; exit 1; }
    read -r wall user sys < <(tail -1 "$W/$name.time")
    printf '%-18s %7.1f s wall %7.1f s cpu\n' "$name" "$wall" "$(echo "$user + $sys" | bc)"
    echo "$name $wall $user $sys" >> "$W/times.txt"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
stage synth "$R1D" synth --out "$W/task" --seed "$SEED" --prompts "$PROMPTS" --eval "$EVAL" --sft "$SFT" \
    --min-ops "$MIN_OPS" --max-ops "$MAX_OPS" --contaminate "$CONTAM"
stage teacher_init "$R1D" init --arch qwen2 $T_SHAPE --tokenizer "$W/task/tokenizer" --out "$W/teacher_init" --seed "$SEED"
stage teacher_train "$R1D" train --model "$W/teacher_init" --data "$W/task/sft.jsonl" --out "$W/teacher" \
    --seq-len "$SEQ" --grad-accum 1 --lr "$T_LR" --epochs "$T_EPOCHS" --warmup-ratio 0.03 --save-dtype f32 --seed "$SEED"
stage teach "$R1D" teach --model "$W/teacher" --prompts "$W/task/prompts.jsonl" --out "$W/samples" --n "$K" \
    --max-new "$MAX_NEW" --temperature "$TEMP" --top-p 0.95 --seed "$SEED" --batch 128
cat "$W"/samples/shard-*-of-*[0-9].jsonl > "$W/samples.jsonl"
stage filter "$R1D" filter --in "$W/samples.jsonl" --out "$W/kept.jsonl" --prompts "$W/task/prompts.jsonl" \
    --report "$W/filter.json"
stage dedup "$R1D" dedup --in "$W/kept.jsonl" --out "$W/unique.jsonl" --report "$W/dedup.json"
stage decontam "$R1D" decontam --in "$W/unique.jsonl" --out "$W/clean.jsonl" --eval "$W/task/eval.jsonl" \
    --report "$W/decontam.json"
stage export "$R1D" export --in "$W/clean.jsonl" --out "$W/dataset.tar.zst" --tokenizer "$W/task/tokenizer" \
    --chat deepseek-r1 --report "$W/filter.json" --report "$W/dedup.json" --report "$W/decontam.json"
stage verify "$R1D" dataset verify "$W/dataset.tar.zst"
stage student_init "$R1D" init --arch qwen2 $S_SHAPE --tokenizer "$W/task/tokenizer" --out "$W/student_init" --seed "$SEED"
stage student_train "$R1D" train --model "$W/student_init" --data "$W/dataset.tar.zst" --out "$W/student" \
    --seq-len "$SEQ" --grad-accum 1 --lr "$S_LR" --epochs "$S_EPOCHS" --warmup-ratio 0.03 --save-dtype f32 --seed "$SEED"
for m in teacher student student_init; do
    stage "eval_$m" "$R1D" eval --model "$W/$m" --set "$W/task/eval.jsonl" --out "$W/eval_$m" --k "$EVAL_K" \
        --temperature "$TEMP" --top-p 0.95 --max-new "$MAX_NEW" --seed "$SEED" --extract boxed
done
printf '%-18s %7.1f s wall %7.1f s cpu\n' total "$(echo "$(date +%s.%N) - $T0" | bc)" \
    "$(awk '{c += $3 + $4} END {print c}' "$W/times.txt")"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$W" <<'EOF'
import json, sys
w = sys.argv[1]
f = json.load(open(f"{w}/filter.json"))["counts"]
d = json.load(open(f"{w}/dedup.json"))["counts"]
c = json.load(open(f"{w}/decontam.json"))["counts"]
print(f"samples {f['in']}, verified+filtered kept {f['kept']}, after dedup {d['kept']}, after decontam {c['kept']}")
p = {m: json.load(open(f"{w}/eval_{m}/report.json"))["summary"]["metrics"]["pass@1"] for m in ("teacher", "student", "student_init")}
print(f"pass@1: teacher {100*p['teacher']:.1f}%  student {100*p['student']:.1f}%  untrained student {100*p['student_init']:.1f}%")
if p["teacher"] > 0:
    print(f"student / teacher: {p['student']/p['teacher']:.2f}")
EOF
