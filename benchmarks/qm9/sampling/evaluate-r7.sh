#!/usr/bin/env bash
# Sampler study, round 7: guidance at sampling time on the shipped model (no retraining), 75 stochastic
# steps at strength 32 (generate()'s default), each arm two denoiser passes per step:
#  - estimate guidance w: x_blind + w (x_read - x_blind), the model against itself without its previous
#    estimate (self-conditioning input zero);
#  - autoguidance g with a weaker ancestor of the shipped model as the guide, x_guide + g (x - x_guide):
#    "first" = the first shipped model (64 CPU-min; git 3912a0f), "prev" = the previous shipped model
#    (164 CPU-min; git 8d9ecdc). Their encoders give the shipped model's latents to a relative MSE of
#    7e-4 and 2e-4 (256 test molecules), so they denoise in the same latent space.
#  - round 8 (ROUND=8): autoguidance only at times t < T (noise end; the guide is not run after T):
#    arm ag-GUIDE-G-T, e.g. ag-first-2-0.5; round 10 (ROUND=10): at t >= T only, arm ag-GUIDE-G-fromT
#    (the guide is not run before T, so the cost is 1 + (1 - T) passes per step).
# Usage: [THREADS=2] [SEEDS="0"] [STEPS=75] [ROUND=7] [ARMS="..."] bash benchmarks/qm9/sampling/evaluate-r7.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${THREADS:=2}" "${M:=unite_mol/pretrained/unite-qm9}" "${SEEDS:=0}" "${STEPS:=75}"
G=runs/guides
mkdir -p "$G"
[ -f "$G/first.pt" ] || { git show 3912a0f:unite_mol/pretrained/unite-qm9.pt > "$G/first.pt"; git show 3912a0f:unite_mol/pretrained/unite-qm9.json > "$G/first.json"; }
[ -f "$G/prev.pt" ] || { git show 8d9ecdc:unite_mol/pretrained/unite-qm9.pt > "$G/prev.pt"; git show 8d9ecdc:unite_mol/pretrained/unite-qm9.json > "$G/prev.json"; }
S="method=stochastic,noise_level=32.0,steps=$STEPS"
: "${ARMS:=eg-1.5 eg-2 ag-first-1.5 ag-first-2 ag-prev-2}"
export OMP_NUM_THREADS=$THREADS UNITE_MOL_NO_PROGRESS=1
for seed in $SEEDS; do
  specs=()
  for arm in $ARMS; do
    case "$arm" in
      eg-*) specs+=("$arm-$STEPS=$M@$S,estimate_guidance=${arm#eg-}") ;;
      ag-*) IFS=- read -r guide g until <<< "${arm#ag-}"
            case "$until" in
              from*) window=",guidance_from=${until#from}" ;;      # guided at t >= T only
              "") window="" ;;
              *) window=",guidance_to=$until" ;;                   # guided at t < T only
            esac
            specs+=("$arm-$STEPS=$M@$S,guide=$G/$guide,guidance=$g$window") ;;
      *) echo "unknown arm $arm" >&2; exit 2 ;;
    esac
  done
  .venv/bin/python -m unite_mol.bench levers "${specs[@]}" \
    --samples 1000 --recon 0 --seed "$seed" --threads "$THREADS" --out "benchmarks/qm9/sampling/round${ROUND:-7}/seed$seed-$STEPS"
done
