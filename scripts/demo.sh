#!/usr/bin/env bash
# The main job end to end: set up, build, mount a fresh store, train with
# checkpoints into it, crash the trainer with SIGKILL, look at the chain,
# resume from @latest, prove the result bit-identical to an uninterrupted
# run, roll a file back, fork a branch at an earlier step and train it with
# another learning rate beside main, verify, draw the chain, unmount.
#
#   scripts/demo.sh [--keep] [MOUNTPOINT]
#
# --keep leaves the mount and the store for exploring. DEMO_STEPS and
# DEMO_PRESET size the training (CPU default: tiny, 300 steps; CI uses less).
set -euo pipefail
cd "$(dirname "$0")/.."

keep=0
mnt=""
for a in "$@"; do
  case "$a" in
    --keep) keep=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "demo.sh: unknown option $a" >&2; exit 2 ;;
    *) mnt="$a" ;;
  esac
done

scripts/setup.sh
scripts/build.sh >/dev/null
B=build/fs/ciuicfs
T=build/trainer/ciuic-train
work=$(mktemp -d /tmp/ciuic-demo-XXXXXX)
mnt=${mnt:-$work/ckpt}
store=$work/store
mkdir -p "$mnt"
preset=${DEMO_PRESET:-tiny}
steps=${DEMO_STEPS:-300}
every=$((steps / 6))
export OMP_NUM_THREADS=1  # the same numbers in every run of the demo

cleanup() {
  [ -n "${trainer_pid:-}" ] && kill -9 "$trainer_pid" 2>/dev/null || true
  if [ "$keep" = 0 ]; then
    "$B" umount "$mnt" >/dev/null 2>&1 || true
    rm -rf "$work"
  else
    echo "kept: mount $mnt, store $store (ciuicfs umount $mnt when done)"
  fi
}
trap cleanup EXIT

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
fail() { echo "DEMO FAILED: $*" >&2; exit 1; }
trainer=("$T" --preset "$preset" --steps "$steps" --save-every "$every" --log-every "$every")

say ciuicfs mount "$mnt" --store "$store"
"$B" mount "$mnt" --store "$store"

say "ciuic-train --preset $preset --steps $steps --ckpt-dir $mnt/run --save-every $every &"
"${trainer[@]}" --ckpt-dir "$mnt/run" > "$work/train1.log" 2>&1 &
trainer_pid=$!
# Crash it (SIGKILL, like a lost node) once the third checkpoint is in.
while ! grep -q "saved step $((3 * every)) " "$work/train1.log"; do
  kill -0 "$trainer_pid" 2>/dev/null || fail "the trainer ended before its third checkpoint"
  sleep 0.2
done
kill -9 "$trainer_pid"
wait "$trainer_pid" 2>/dev/null || true
trainer_pid=""
cat "$work/train1.log"
say "kill -9 <trainer>   # a lost node: killed right after its step-$((3 * every)) checkpoint, while training on"

say ls "$mnt/@history"
ls "$mnt/@history" | tail -n 8
say ciuicfs log "$mnt" --by-step -n 8
"$B" log "$mnt" --by-step -n 8
say ciuicfs stats "$mnt"
"$B" stats "$mnt"

mkdir -p "$work/resumed" "$work/reference"
say "ciuic-train ... --resume $mnt/@latest/run"
"${trainer[@]}" --ckpt-dir "$mnt/run" --resume "$mnt/@latest/run" --weights-out "$work/resumed/final.pt" \
  > "$work/resume.log" 2>&1 || fail "resume failed"
grep -E "^resumed from|^resume: check passed|^saved step $steps " "$work/resume.log"
grep -q "^resume: check passed" "$work/resume.log" || fail "the resume did not check the loaded model's probe loss"
say ciuicfs show best-eval_loss "$mnt" "| head -n 6   # the training record: the snapshot with the lowest eval_loss"
"$B" show best-eval_loss "$mnt" >"$work/best.txt" || fail "show best-eval_loss failed"
head -n 6 "$work/best.txt"
grep -q "^record .*eval_loss=" "$work/best.txt" || fail "the best snapshot shows no eval_loss"
ls "$mnt/@best-eval_loss/run" >/dev/null || fail "@best-eval_loss does not resolve"

say "ciuic-train ... --ckpt-dir <plain dir>   # the uninterrupted reference run"
"${trainer[@]}" --ckpt-dir "$work/reference/run" --weights-out "$work/reference/final.pt" > "$work/ref.log" 2>&1 \
  || fail "reference run failed"
tail -n 2 "$work/ref.log"
say cmp resumed/final.pt reference/final.pt
cmp "$work/resumed/final.pt" "$work/reference/final.pt" || fail "resumed weights differ from the uninterrupted run"
echo "bit-exact: the run resumed from @latest ends with exactly the weights of the uninterrupted run"

first=$(printf 'step_%08d' "$every")
newest=$(ls "$mnt/run" | tail -n 1)
say cp "$mnt/run/$newest/model.pt" "$mnt/run/model.pt"
cp "$mnt/run/$newest/model.pt" "$mnt/run/model.pt"
say cp "$mnt/@step-$every/run/$first/model.pt" "$mnt/run/model.pt" "  # roll back to step $every"
cp "$mnt/@step-$every/run/$first/model.pt" "$mnt/run/model.pt"
cmp "$mnt/@latest/run/model.pt" "$mnt/@step-$every/run/$first/model.pt" || fail "rollback copy differs"
say ciuicfs diff latest~1 latest run/model.pt --store "$mnt"
"$B" diff latest~1 latest run/model.pt --store "$mnt"

# A second experiment from an earlier step, on a branch: nothing is copied,
# main keeps its head, and both runs stay in one store.
fork=$((3 * every))
main_head=$("$B" log --branch main -n 1 --store "$mnt")
say ciuicfs branch lr-half step-$fork --store "$mnt"
"$B" branch lr-half "step-$fork" --store "$mnt" || fail "branch failed"
say ciuicfs switch lr-half --store "$mnt"
"$B" switch lr-half --store "$mnt" || fail "switch failed"
say "ciuic-train ... --lr 0.0005 --allow-changed-hparams --steps $((fork + every)) --resume $mnt/@latest/run"
"${trainer[@]}" --steps "$((fork + every))" --lr 0.0005 --allow-changed-hparams --ckpt-dir "$mnt/run" --resume "$mnt/@latest/run" \
  > "$work/branch.log" 2>&1 || fail "training on the branch failed"
grep -E "^resumed from|^saved step $((fork + every)) " "$work/branch.log"
say ciuicfs log --all -n 6 --store "$mnt"
"$B" log --all -n 6 --store "$mnt"
say ciuicfs switch main --store "$mnt"
"$B" switch main --store "$mnt" || fail "switch back failed"
at=$(printf 'step_%08d' "$((fork + every))")
cmp -s "$mnt/@branch-lr-half/run/$at/model.pt" "$mnt/@branch-main/run/$at/model.pt" &&
  fail "the branch's step $((fork + every)) equals main's"
[ "$("$B" log --branch main -n 1 --store "$mnt")" = "$main_head" ] || fail "main's head moved while lr-half trained"
echo "step $((fork + every)) differs between main and lr-half; main's head never moved"
say ciuicfs branch --store "$mnt"
"$B" branch --store "$mnt"

say ciuicfs verify "$mnt"
"$B" verify "$mnt" || fail "verify found damage"
if command -v dot >/dev/null 2>&1; then
  say ciuicfs graph "$mnt" --png "$work/chain.png"
  "$B" graph "$mnt" --png "$work/chain.png"
else
  say ciuicfs graph "$mnt" "| grep -E 'b_|->' | tail -n 6"
  "$B" graph "$mnt" | grep -E 'b_|->' | tail -n 6
  echo "(install graphviz for --png)"
fi
if [ "$keep" = 0 ]; then
  say ciuicfs umount "$mnt"
  "$B" umount "$mnt"
fi
echo
echo "demo passed"
