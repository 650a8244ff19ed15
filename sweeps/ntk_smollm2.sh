#!/usr/bin/env bash
# NTK-attention prefix (issue 13; "Toward Infinite-Long Prefix in Transformer", arXiv 2406.14036)
# against peft's prefix tuning, P-tuning and prompt tuning and LoRA, SmolLM2-135M, 3 seeds, on
#   - CoNLL-2003 NER, token classification (conf/experiment/ner_smollm2: the fixed 2,000-sentence
#     training subset, 1 epoch, batch 16, full dev and test), with today's label token (`last`; the
#     experiment pins `first_any` only so its old records keep their identity);
#   - hate speech, sequence classification (conf/experiment/hatespeech_smollm2: 500 comments, 1 epoch,
#     batch 8, 64 tokens, full dev and test, threshold tuned on dev).
# Rows: ntk_prefix (Z = k = 0 at start, lr 1e-3 as the reference code), prefix tuning with m in
# {16, 64, 256, 1024} virtual tokens (the report selects m on dev mean; the prefix starts from
# the frozen model's keys and values for m sampled tokens, conf/method/prefix_tuning's init),
# P-tuning and prompt tuning with m = 16 (a longer soft prompt multiplies every training step's
# sequence length; on two CPU cores m = 1024 would cost about 25 times a LoRA run), LoRA r = 8 on
# q, v. Each method at its conf/method learning rate. Seed-major: every finished seed is a
# complete comparison.
# Then the cost curve: python -m harness.bench prefix_cost (step time and peak memory against m).
# Expected wall time on this project's 2-core CPU machine: about 5.5 hours (about 1 h 50 min a seed).
# Measured on 2026-11-30 on free cores (ner_smollm2 seed 2, started to finished): ntk_prefix 6.5 min,
# P-tuning 9.4, prompt tuning 9.8, LoRA 6.3, prefix tuning m = 16, 64, 256 and 1024 6.5, 6.8, 9.5 and
# 33 min (most of m = 1024's is evaluating the full dev and test sets); hatespeech_smollm2 (seed 2)
# 2-3 min a run, 7 min at m = 1024; about half a minute more a run to start and load the model.
# Resumable: rerun after an interruption; finished runs are skipped. Report:
#   python -m harness.report results/ntk_smollm2
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"  # venv, data root, cwd, $python
quiet=(sweep=ntk_smollm2 trainer.progress_bar=false)

echo "ntk_smollm2: 48 runs (2 tasks x 8 rows x 3 seeds; those already recorded are skipped) and one benchmark;"
echo "ntk_smollm2: expected wall time about 6 hours on 2 CPU cores, less what earlier attempts finished"
for seed in 1 2 3; do
  for experiment in ner_smollm2 hatespeech_smollm2; do
    echo "ntk_smollm2: $experiment seed $seed ($(date -u +%H:%M) UTC)"
    common=(+experiment=$experiment seed=$seed "${quiet[@]}")
    if [ $experiment = ner_smollm2 ]; then common+=(formulation.label_token=last); fi
    $python -m harness -m "${common[@]}" method=ntk_prefix,p_tuning,prompt_tuning,lora </dev/null
    $python -m harness -m "${common[@]}" method=prefix_tuning method.num_virtual_tokens=16,64,256,1024 </dev/null
  done
done
echo "ntk_smollm2: cost curve ($(date -u +%H:%M) UTC)"
$python -m harness.bench prefix_cost --out results/bench/prefix_cost.md
echo "ntk_smollm2: done ($(date -u +%H:%M) UTC); report: $python -m harness.report results/ntk_smollm2"
