#!/usr/bin/env bash
# LoFiT (issue 14) on SmolLM2-135M (30 layers x 9 heads = 270 heads), 3 seeds, on TruthfulQA MC
# (MC1 / MC2) and CLUTRR (exact match), beside LoRA (r = 8 on q, v), prompt tuning, few-shot ICL and
# the base model zero-shot, each task at its experiment's budget (conf/experiment/truthfulqa_smollm2:
# 2 epochs of the 326 training questions, batch 8; clutrr_smollm2: 1 epoch of 200 stories). LoFiT
# runs that budget in each of its two stages (head selection, then offsets), as the paper does.
#   1. LoFiT with K = 16 and K = 32 heads (the paper's hyperparameters: stage-1 lr 5e-3, lambda 5e-4,
#      stage-2 lr 1e-2), and the random-heads ablation at K = 16 on TruthfulQA;
#   2. the baselines, rerun here with today's code (the LoRA and zero-shot records in
#      formulations_smollm2/ predate config keys added since, so their run ids differ) so that every
#      row of this sweep's report comes from one code version.
# Expected wall time on this project's 2-core CPU machine: about 2.5 hours.
# Resumable: rerun after an interruption; finished runs are skipped. Report:
#   python -m harness.report results/lofit_smollm2
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"  # venv, data root, cwd, $python
quiet=(sweep=lofit_smollm2 trainer.progress_bar=false)
# ICL's prompts hold 4 demonstrations (random from train, seeded), so its context is longer than the
# trained methods' (which see the query alone): CLUTRR stories are ~90 tokens each.
declare -A icl_length=([truthfulqa_smollm2]=512 [clutrr_smollm2]=1024)
for experiment in truthfulqa_smollm2 clutrr_smollm2; do
  echo "lofit_smollm2: $experiment ($(date -u +%H:%M) UTC)"
  $python -m harness -m +experiment=$experiment method=lofit method.heads=16,32 seed=1,2,3 "${quiet[@]}"
  $python -m harness -m +experiment=$experiment method=lora,zero_shot,prompt_tuning seed=1,2,3 "${quiet[@]}"
  $python -m harness -m +experiment=$experiment method=icl method.k=4 "trainer.max_length=${icl_length[$experiment]}" \
    seed=1,2,3 "${quiet[@]}"
done
$python -m harness -m +experiment=truthfulqa_smollm2 method=lofit method.heads=16 method.random_heads=true seed=1,2,3 "${quiet[@]}"
echo "lofit_smollm2: done ($(date -u +%H:%M) UTC); report: $python -m harness.report results/lofit_smollm2"
