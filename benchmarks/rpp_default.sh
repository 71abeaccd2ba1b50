#!/usr/bin/env bash
# Regenerate the shipped RPP LSTM (cdio_stream/rpp/checkpoints/rpp-default.pt) and the numbers
# of its card (rpp-default.json). Rerun it whenever a shipped detector changes.
#
#   benchmarks/rpp_default.sh [STEP ...]     steps, in order: data histories ranges cv train test card
#                                            (default: all of them; each step reads the previous ones' files)
#
# Generated data, traces, histories and reports go to $D (default ~/.cache/cdio-stream/rpp-default),
# never into the repository; only `train` and `card` write the checkpoint and the card. Every command
# runs under nice with one torch thread (2-core shared machine); `profile` is resumable, and a
# dataset that is complete (its .done marker) is not generated again. Each command's wall time is
# appended to $D/timings.log.
#
# Seeds: the detectors were trained on synth seed 0 and evaluated on seed 1 (never used here);
# seeds 2-5 are the LSTM's training and cross-validation scenes (2 and 4 profiled at 25 fps, 3 and
# 5 at 2.5 fps: the inter-arrival feature), seed 6 the final test scenes, scored once at each rate.
# Seeds 7 and above are kept for benchmark traces.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${D:-$HOME/.cache/cdio-stream/rpp-default}
CDIO=${CDIO:-cdio-stream}
PY=${PY:-python}
OUT=cdio_stream/rpp/checkpoints
SEQUENCES=${SEQUENCES:-200}  # per training seed; each sequence is its own scene
FRAMES=${FRAMES:-25}
TEST_SEQUENCES=${TEST_SEQUENCES:-100}
FOLDS=${FOLDS:-5}
# the hyperparameters chosen from inside each fold (rpp cv --grid); the rest are TrainConfig's defaults
GRID=${GRID:---grid hidden=8,32 --grid dropout=0,0.3 --grid weight_decay=0,0.001}
mkdir -p "$D"

t() {
  local s=$SECONDS
  "$@"
  echo "$((SECONDS - s)) s :: $*" >>"$D/timings.log"
}

# A^q ranges: what the demo samples by default (--accuracy-range auto, from the deployed detectors'
# cards) and the paper's [50, 80] (replay and camera default).
AUTO=$(CDIO_OFFLINE=1 $PY -c "from cdio_stream.settings import Settings
from cdio_stream.calibration import deployed_accuracy_range
print(*deployed_accuracy_range(Settings.from_env().topology()))")
PAPER="50 80"

step_data() {
  for spec in 2:$SEQUENCES 3:$SEQUENCES 4:$SEQUENCES 5:$SEQUENCES 6:$TEST_SEQUENCES; do
    local seed=${spec%%:*} n=${spec##*:}
    [ -f "$D/synth-s$seed/.done" ] && continue
    t nice $CDIO --torch-threads 1 dataset synth --out "$D/synth-s$seed" --sequences "$n" --frames "$FRAMES" \
      --seed "$seed" --first-id "9${seed}001" >"$D/synth-s$seed.log"
    touch "$D/synth-s$seed/.done"
  done
  for spec in 2:25 3:2.5 4:25 5:2.5 6:25 6:2.5; do
    local seed=${spec%%:*} fps=${spec##*:}
    t nice $CDIO --torch-threads 1 profile "$D/synth-s$seed" --models edge,cloud --fps "$fps" \
      --out "$D/trace-s$seed-fps$fps.jsonl" 2>"$D/profile-s$seed-fps$fps.err"
  done
}

step_histories() {
  cat "$D"/trace-s{2,4}-fps25.jsonl "$D"/trace-s{3,5}-fps2.5.jsonl >"$D/trace-train.jsonl"
  h() { t nice $CDIO rpp history --edge-model edge --cloud-model cloud "$@"; }
  # training: every scene twice with A^q from the auto range (#1, #2), twice from [50, 80] (#3, #4)
  h --trace "$D/trace-train.jsonl" --out "$D/history-train.jsonl" --seed 2 --draws 2 --a-range $AUTO --a-range $PAPER
  # held-out scoring, one history per range (fresh draws)
  h --trace "$D/trace-train.jsonl" --out "$D/history-eval-auto.jsonl" --seed 102 --a-range $AUTO
  h --trace "$D/trace-train.jsonl" --out "$D/history-eval-paper.jsonl" --seed 202 --a-range $PAPER
  # the alternatives to the mixed training range, same number of tasks
  h --trace "$D/trace-train.jsonl" --out "$D/history-train-auto.jsonl" --seed 2 --draws 4 --a-range $AUTO
  h --trace "$D/trace-train.jsonl" --out "$D/history-train-paper.jsonl" --seed 2 --draws 4 --a-range $PAPER
  h --trace "$D/trace-train.jsonl" --out "$D/history-train-0-80.jsonl" --seed 2 --draws 4 --a-range 0 80
  # final test scenes (seed 6), at both frame rates
  for fps in 25 2.5; do
    h --trace "$D/trace-s6-fps$fps.jsonl" --out "$D/history-test-auto-fps$fps.jsonl" --seed 302 --a-range $AUTO
    h --trace "$D/trace-s6-fps$fps.jsonl" --out "$D/history-test-paper-fps$fps.jsonl" --seed 402 --a-range $PAPER
  done
}

evals=(--eval "auto=$D/history-eval-auto.jsonl" --eval "paper=$D/history-eval-paper.jsonl")

step_ranges() {  # which requirement range to train on: one configuration, same folds
  for r in mixed auto paper 0-80; do
    local hist="$D/history-train-$r.jsonl"
    [ "$r" = mixed ] && hist="$D/history-train.jsonl"
    t nice $CDIO --torch-threads 1 rpp cv --history "$hist" "${evals[@]}" --folds "$FOLDS" \
      --no-sequence-baseline --out "$D/cv-range-$r.json" >"$D/cv-range-$r.log"
  done
}

step_cv() {  # nested by-scene cross-validation on the chosen (mixed) range
  # shellcheck disable=SC2086
  t nice $CDIO --torch-threads 1 rpp cv --history "$D/history-train.jsonl" "${evals[@]}" --folds "$FOLDS" \
    $GRID --out "$D/cv.json" >"$D/cv.log"
}

step_train() {  # all training scenes, the configuration with the lowest mean inner-validation log-loss
  local flags
  flags=$($PY -c "import json, sys
cfg = json.load(open(sys.argv[1]))['selected_overall']['config']
print(' '.join('--' + k.replace('_', '-') + ' ' + v for k, v in (kv.split('=') for kv in cfg.split(','))))" "$D/cv.json")
  # shellcheck disable=SC2086
  t nice $CDIO --torch-threads 1 rpp train --history "$D/history-train.jsonl" --out "$OUT/rpp-default.pt" \
    --seed 0 $flags --report "$D/train-report.json" >"$D/train.log"
}

step_test() {  # the shipped model once on the seed-6 scenes, baselines fitted on all training scenes
  local e=()
  for r in auto paper; do
    for fps in 25 2.5; do e+=(--eval "$r-fps$fps=$D/history-test-$r-fps$fps.jsonl"); done
  done
  t nice $CDIO --torch-threads 1 rpp evaluate --checkpoint "$OUT/rpp-default.pt" \
    --train-history "$D/history-train.jsonl" "${e[@]}" --out "$D/test.json" >"$D/test.log"
  # the checkpoint this one replaces, on the same scenes, if it was saved there, e.g. with
  # git show <commit>:cdio_stream/rpp/checkpoints/rpp-default.pt > $D/previous.pt
  if [ -f "$D/previous.pt" ]; then
    t nice $CDIO --torch-threads 1 rpp evaluate --checkpoint "$D/previous.pt" \
      --train-history "$D/history-train.jsonl" "${e[@]}" --out "$D/test-previous.json" >"$D/test-previous.log"
  fi
}

step_card() {
  $PY benchmarks/rpp_default_card.py --dir "$D" --auto $AUTO --card "$OUT/rpp-default.json"
}

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(data histories ranges cv train test card)
for s in "${steps[@]}"; do
  echo "== $s"
  "step_$s"
done
