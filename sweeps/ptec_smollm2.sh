#!/usr/bin/env bash
# PTEC against text-to-text prompt tuning on hate speech (issue 12; Buchner et al., NAACL 2024
# Industry), SmolLM2-135M, 22 labels, 3 seeds each, at conf/experiment/hatespeech_ptec_smollm2.yaml's
# budget (hatespeech_smollm2's: 500 training comments, 1 epoch, batch 8, 64 text tokens, full dev and
# test):
#   1. ptec: soft prompt (m = 16, initialised from the label names' token embeddings) + head, prompt
#      lr 3e-2, head lr 5e-3; BCE with per-label pos_weight, threshold tuned on dev;
#   2. pt and pt_trie: the same soft prompt (lr 3e-2), the frozen LM writes the label list
#      (formulation=label_generation), free or trie-constrained decoding;
#   3. baselines: linear probe (frozen backbone + head, lr 5e-3 as its formulations_smollm2 rows),
#      LoRA r = 8 on q, v + head (lr 1e-3), kNN over MiniLM sentence embeddings (k = 10, no training:
#      its three seeds give the same scores);
#   4. the inference-cost benchmark (python -m harness.bench ptec): PTEC vs PT vs PT + trie latency.
# Expected wall time on this project's 2-core CPU machine: about 70 minutes (60-90), estimated from the
# committed formulations_smollm2 records of the same budget (no SmolLM2 run was timed for this
# script): linear probe 115-120 s a run and LoRA 153-159 s (record start to finish); PTEC trains and
# evaluates like LoRA (a backward pass through every layer) on 80 positions instead of 64 (16 prompt
# tokens), about 1.25 x LoRA = 3.3 min; PT and PT + trie add the LM head's 49k-way logits to training
# and greedy decoding to evaluation (14 eval batches of 64, at most 32 new tokens), about 5 min each;
# kNN about 1 min; so about 19 min a seed, 57 min for 3, plus ~8 min for the benchmark and process
# start-ups. Load from other work on the two cores stretches it.
# Resumable: rerun after an interruption; finished runs are skipped. Report:
#   python -m harness.report results/ptec_smollm2
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"  # venv, data root, cwd, $python
common=(+experiment=hatespeech_ptec_smollm2 trainer.progress_bar=false)

echo "ptec_smollm2: 18 runs (6 rows x 3 seeds; those already recorded are skipped) and one benchmark;"
echo "ptec_smollm2: expected wall time about 70 minutes on 2 CPU cores, less what earlier attempts finished"
echo "ptec_smollm2: PTEC ($(date -u +%H:%M) UTC)"
$python -m harness -m "${common[@]}" method=ptec method.init=label_names seed=1,2,3
echo "ptec_smollm2: PT and PT + trie ($(date -u +%H:%M) UTC)"
$python -m harness -m "${common[@]}" formulation=label_generation method=pt,pt_trie method.init=label_names seed=1,2,3
echo "ptec_smollm2: baselines ($(date -u +%H:%M) UTC)"
$python -m harness -m "${common[@]}" method=linear_probe method.lr=5e-3 seed=1,2,3
$python -m harness -m "${common[@]}" method=lora,knn seed=1,2,3
echo "ptec_smollm2: inference cost ($(date -u +%H:%M) UTC)"
$python -m harness.bench ptec --trained results/ptec_smollm2 --out results/bench/ptec.md
echo "ptec_smollm2: done ($(date -u +%H:%M) UTC); report: $python -m harness.report results/ptec_smollm2"
