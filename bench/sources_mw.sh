#!/usr/bin/env bash
# The Meta-World sources of issue 16's study (`bench/evidence.py mw`, target metaworld/reach): scripted-expert
# episodes of four other tasks (medium = the expert with action noise), one action-conditional teacher per source
# (Vid2Act, Eq. 2), APV's action-free video model and PVDR's tokenizer + CVAE on all four sources' frames.
# Resumable: `collect` keeps the episodes it has, every `pretrain` resumes from its checkpoint (STEPS can grow).
# A bundle of the pretrained models (`bench/sources_pack.py pack ROOT docs/results/sources-mw`) is unpacked first.
#
#   ROOT=runs/sources-mw STEPS=1500 EPISODES=20 bash bench/sources_mw.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-runs/sources-mw}
STEPS=${STEPS:-1500}
EPISODES=${EPISODES:-20}
BUNDLE=${BUNDLE:-docs/results/sources-mw}
TASKS=(drawer-open button-press door-open window-close)
export OMP_NUM_THREADS=1 MUJOCO_GL=${MUJOCO_GL:-egl}
VID2ACT=(nice -n 5 .venv/bin/vid2act)
mkdir -p "$ROOT/logs"
[ -f "$BUNDLE/MANIFEST.json" ] && .venv/bin/python bench/sources_pack.py unpack "$BUNDLE" "$ROOT"
DATA=$(printf "$ROOT/data/%s," "${TASKS[@]}")
DATA=${DATA%,}

"${VID2ACT[@]}" collect --suite metaworld --tasks "$(IFS=,; echo "${TASKS[*]}")" --episodes "$EPISODES" \
  --policy medium:0.5,expert:0.5 --out "$ROOT/data" --num-actors 2 env.task=metaworld/reach \
  >> "$ROOT/logs/collect.log" 2>&1
teacher() {  # task: Meta-World sequences of 25 steps (APV's), actions padded for the target reach
  "${VID2ACT[@]}" pretrain --dataset "$ROOT/data/$1" --out "$ROOT/teachers/$1" --steps "$STEPS" teacher.seq_len=25 \
    env.task=metaworld/reach >> "$ROOT/logs/pretrain-$1.log" 2>&1
}
(teacher drawer-open && teacher button-press && "${VID2ACT[@]}" pretrain --action-free --dataset "$DATA" \
  --out "$ROOT/apv-video" --steps "$STEPS" teacher.seq_len=25 >> "$ROOT/logs/pretrain-apv-video.log" 2>&1) &
(teacher door-open && teacher window-close && "${VID2ACT[@]}" pretrain --pvdr --dataset "$DATA" \
  --out "$ROOT/pvdr-video" pvdr.steps="$STEPS" pvdr.tokenizer_steps="$STEPS" >> "$ROOT/logs/pretrain-pvdr.log" 2>&1) &
wait
echo "sources ready: $ROOT/teachers/{${TASKS[*]}}, $ROOT/apv-video, $ROOT/pvdr-video ($STEPS steps)"
