"""The report's numbers against values computed by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from harness.results.aggregate import build_leaderboards
from harness.results.seed_statistics import Statistics, paired_test, summarize
from harness.results.collect import collect

# The fixture sweep's test scores by seed (see conftest.py).
LORA_TEST = {1: 0.80, 2: 0.84, 3: 0.88}
IA3_TEST = {1: 0.78, 2: 0.80, 3: 0.85}


def test_mean_and_sample_std_by_hand():
    # lora: 0.80, 0.84, 0.88 -> mean 0.84; deviations -0.04, 0, 0.04 -> var (0.0016 + 0.0016) / 2 = 0.0016
    lora = summarize(list(LORA_TEST.values()))
    assert lora.n == 3
    assert lora.mean == pytest.approx(0.84)
    assert lora.std == pytest.approx(0.04)
    # ia3: 0.78, 0.80, 0.85 -> mean 0.81; deviations -0.03, -0.01, 0.04 -> var 0.0026 / 2 = 0.0013
    ia3 = summarize(list(IA3_TEST.values()))
    assert ia3.mean == pytest.approx(0.81)
    assert ia3.std == pytest.approx(math.sqrt(0.0013))


def test_bootstrap_interval_of_three_seeds_is_their_range():
    # With three seeds, the resample "same seed three times" has probability 1/27 = 3.7% > 2.5% for each
    # extreme, so the 2.5th and 97.5th percentiles of the bootstrap means are exactly the min and the max.
    lora = summarize(list(LORA_TEST.values()))
    assert lora.ci_low == pytest.approx(0.80)
    assert lora.ci_high == pytest.approx(0.88)
    assert lora.ci_low <= lora.mean <= lora.ci_high


def test_bootstrap_interval_matches_the_exact_bootstrap_distribution():
    values = [0.70, 0.74, 0.75, 0.79, 0.82]
    # mean 0.76; squared deviations 0.0036 + 0.0004 + 0.0001 + 0.0009 + 0.0036 = 0.0086, / 4 = 0.00215
    summary = summarize(values)
    assert summary.mean == pytest.approx(0.76)
    assert summary.std == pytest.approx(math.sqrt(0.00215))
    # All 5^5 equally likely resamples, enumerated: the exact bootstrap distribution of the mean.
    exact = np.array([np.mean(r) for r in itertools.product(values, repeat=5)])
    # 10,000 Monte Carlo resamples put the 2.5% level within +-0.5% (over 3 standard errors) of it.
    assert np.quantile(exact, 0.020) - 1e-12 <= summary.ci_low <= np.quantile(exact, 0.030) + 1e-12
    assert np.quantile(exact, 0.970) - 1e-12 <= summary.ci_high <= np.quantile(exact, 0.980) + 1e-12
    # A fixed RNG seed: the same interval every time.
    assert summarize(values) == summary


def test_wider_confidence_gives_a_wider_interval():
    values = [0.70, 0.74, 0.75, 0.79, 0.82]
    narrow = summarize(values, Statistics(confidence=0.5))
    wide = summarize(values, Statistics(confidence=0.95))
    assert wide.ci_low < narrow.ci_low < narrow.ci_high < wide.ci_high


def test_one_seed_has_no_std_and_no_interval():
    single = summarize([0.9])
    assert single.n == 1 and single.mean == 0.9
    assert math.isnan(single.std) and math.isnan(single.ci_low) and math.isnan(single.ci_high)


def test_paired_t_test_by_hand():
    # Differences lora - ia3 by seed: 0.02, 0.04, 0.03 -> mean 0.03, sd 0.01, t = 0.03 / (0.01 / sqrt 3) = sqrt 27.
    # Student t with 2 degrees of freedom has cdf 1/2 + t / (2 sqrt(2 + t^2)), so p = 1 - t / sqrt(2 + t^2)
    # = 1 - sqrt(27 / 29).
    result = paired_test(LORA_TEST, IA3_TEST, "ia3")
    assert result.n_pairs == 3
    assert result.delta == pytest.approx(0.03)
    assert result.t_statistic == pytest.approx(math.sqrt(27))
    assert result.p_value == pytest.approx(1 - math.sqrt(27 / 29))


def test_paired_test_uses_only_shared_seeds_and_says_when_it_cannot():
    result = paired_test({1: 0.9, 2: 0.8, 7: 0.1}, {1: 0.85, 2: 0.8, 9: 0.99}, "ref")
    assert result.n_pairs == 2 and result.delta == pytest.approx(0.025)
    one = paired_test({1: 0.9}, {1: 0.8}, "ref")
    assert one.n_pairs == 1 and math.isnan(one.p_value) and one.note == "one pair"
    none = paired_test({1: 0.9}, {2: 0.8}, "ref")
    assert none.n_pairs == 0 and math.isnan(none.delta) and math.isnan(none.p_value)
    constant = paired_test({1: 0.9, 2: 0.8}, {1: 0.8, 2: 0.7}, "ref")
    assert math.isnan(constant.p_value) and constant.note == "zero variance"


def test_leaderboard_from_records(results_dir):
    collection = collect(results_dir)
    (board,), _ = build_leaderboards(collection.completed, reference="ia3")
    lora, ia3 = board.groups  # best test mean first
    assert (lora.method, ia3.method) == ("lora", "ia3")
    assert lora.best and not ia3.best
    assert lora.test.n == 3 and lora.seeds == [1, 2, 3]  # the failed seed 4 is not among them
    assert lora.test.mean == pytest.approx(0.84) and lora.test.std == pytest.approx(0.04)
    assert lora.dev.mean == pytest.approx(0.72)
    assert ia3.is_reference and ia3.comparison is None
    assert lora.comparison.p_value == pytest.approx(1 - math.sqrt(27 / 29))
    assert lora.trainable_params == 4_194_304 and lora.peak_memory_bytes == 3 * 2**30


def test_runs_differing_in_config_are_separate_variants_and_seeds_are_one_group(make_record):
    records = [make_record("lora", s, 0.8 + s / 100, config={"r": r, "lr": 1e-4}) for s in (1, 2) for r in (8, 16)]
    (board,), _ = build_leaderboards(records)
    assert len(board.groups) == 2
    assert sorted(g.variant for g in board.groups) == ["r=16", "r=8"]
    assert all(g.test.n == 2 for g in board.groups)


def test_reference_variant_is_chosen_on_dev_not_test(make_record):
    records = [make_record("lora", s, 0.90, 0.60, config={"r": 8}) for s in (1, 2)]  # best test, worse dev
    records += [make_record("lora", s, 0.70, 0.65, config={"r": 16}) for s in (1, 2)]
    (board,), _ = build_leaderboards(records, reference="lora")
    (reference,) = [g for g in board.groups if g.is_reference]
    assert reference.variant == "r=16"


def test_ties_for_best_are_all_marked(make_record):
    records = [make_record(m, s, 0.8) for m in ("lora", "ia3") for s in (1, 2)]
    (board,), _ = build_leaderboards(records)
    assert all(g.best for g in board.groups)


def test_run_only_keys_do_not_split_groups_and_a_seed_counts_once(make_record):
    # harness.run records the whole resolved config: sweep, paths and logger vary, the experiment does not.
    records = []
    for sweep, score, finished_at in (("first", 0.80, "2025-01-01T00:00:00+00:00"),
                                      ("second", 0.90, "2025-02-01T00:00:00+00:00")):
        for seed in (1, 2):
            record = make_record("lora", seed, score, finished_at=finished_at)
            record.config.update(sweep=sweep, paths={"results_dir": f"/r/{sweep}"}, logger={"wandb": True})
            record.sweep = sweep
            records.append(record)
    (board,), notes = build_leaderboards(records)
    (group,) = board.groups
    assert group.test.n == 2 and group.test.mean == pytest.approx(0.90)  # the later record of each seed
    assert len(notes) == 2 and "only the later one counts" in notes[0]


def test_each_method_is_represented_by_its_variant_selected_on_dev(make_record):
    # bidir: pattern 1111 has the best test but the worse dev, so 0011 is selected and a lucky test
    # score cannot make bidir the winner; lora's single variant is selected trivially.
    records = [make_record("bidir", s, 0.95, 0.60, config={"pattern": "1111"}) for s in (1, 2)]
    records += [make_record("bidir", s, 0.70, 0.66, config={"pattern": "0011"}) for s in (1, 2)]
    records += [make_record("lora", s, 0.80, 0.65) for s in (1, 2)]
    (board,), _ = build_leaderboards(records, reference="lora")
    by_label = {g.label: g for g in board.groups}
    assert by_label["bidir [pattern=0011]"].selected and not by_label["bidir [pattern=1111]"].selected
    assert by_label["lora"].selected
    assert [g.label for g in board.groups if g.best] == ["lora"]


def test_selected_variant_is_reported_in_every_table(make_record):
    from harness.results.leaderboard import leaderboard_table
    from harness.results.leaderboard_csv import leaderboard_csv

    records = [make_record("bidir", s, 0.95, 0.60, config={"pattern": "1111"}) for s in (1, 2)]
    records += [make_record("bidir", s, 0.70, 0.66, config={"pattern": "0011"}) for s in (1, 2)]
    (board,), _ = build_leaderboards(records)
    headers, rows = leaderboard_table(board)
    column = headers.index("selected on dev")
    variant = headers.index("variant")
    assert {row[variant]: row[column] for row in rows} == {"pattern=0011": "yes", "pattern=1111": ""}
    csv_rows = leaderboard_csv([board]).splitlines()
    header = csv_rows[0].split(",")
    selected = {line.split(",")[header.index("variant")]: line.split(",")[header.index("selected")]
                for line in csv_rows[1:]}
    assert selected == {"pattern=0011": "True", "pattern=1111": "False"}


def test_search_trials_select_on_dev_and_the_rerun_brings_the_test_score(make_record):
    # Two Optuna trials scored on dev only; the better one (lr=1e-3) is rerun once with the test set.
    trials = [make_record("lora", 1, None, dev, config={"lr": lr}) for lr, dev in ((1e-4, 0.60), (1e-3, 0.70))]
    for trial in trials:
        trial.config["evaluate_test"] = False
        trial.finished_at = "2025-01-02T00:00:00+00:00"
    rerun = make_record("lora", 1, 0.75, 0.70, config={"lr": 1e-3}, finished_at="2025-01-01T00:00:00+00:00")
    rerun.config["evaluate_test"] = True
    (board,), notes = build_leaderboards([*trials, rerun])
    by_variant = {g.variant: g for g in board.groups}
    assert set(by_variant) == {"lr=0.0001", "lr=0.001"}  # evaluate_test does not split a configuration
    chosen = by_variant["lr=0.001"]
    assert chosen.selected and chosen.best and chosen.test.mean == pytest.approx(0.75)
    assert math.isnan(by_variant["lr=0.0001"].test.mean) and not by_variant["lr=0.0001"].best
    assert board.groups[0] is chosen  # tested groups first, trials without a test score after
    assert "only the later one counts" in notes[0]  # the record with the test score counts, though older


def test_a_selected_trial_without_a_test_score_is_named_in_the_notes(make_record):
    # A dev-only trial (lr 1e-2) beats the tested default (lr 1e-3) on dev: it stays selected, so the
    # method has no test score, and the notes say which variant to rerun with test.
    trial = make_record("ntk_prefix", 1, None, 0.52, config={"lr": 1e-2})
    trial.config["evaluate_test"] = False
    tested = make_record("ntk_prefix", 1, 0.46, 0.50, config={"lr": 1e-3})
    (board,), notes = build_leaderboards([trial, tested])
    assert [g.variant for g in board.groups if g.selected] == ["lr=0.01"]
    assert notes == [
        "conll2003/ntk_prefix on tiny-llama: the variant selected on dev (lr=0.01) was scored on dev only, so the "
        "method has no test score on this board though 1 other variant(s) have one; rerun the selected variant "
        "with evaluate_test=true to compare it on test"
    ]
    # With the rerun's test score the note goes.
    rerun = make_record("ntk_prefix", 1, 0.48, 0.52, config={"lr": 1e-2}, finished_at="2099-01-01T00:00:00+00:00")
    assert build_leaderboards([trial, tested, rerun])[1] == [
        "conll2003/ntk_prefix: seed 1 recorded by runs "
        f"{trial.run_id} and {rerun.run_id}; only the later one counts"
    ]


def test_search_trial_records_are_completed_not_incomplete(tmp_path, make_record, write_record):
    trial = make_record("lora", 1, None, 0.6, config={"lr": 1e-4})
    trial.config["evaluate_test"] = False
    untested = make_record("lora", 2, None, 0.6, config={"lr": 1e-4})  # test expected but missing
    for record in (trial, untested):
        write_record(tmp_path, record)
    collection = collect(tmp_path)
    assert [r.run_id for r in collection.completed] == [trial.run_id]
    assert [r.run_id for r in collection.incomplete] == [untested.run_id]


def test_runs_scored_on_different_evaluation_sets_are_never_ranked_together(make_record):
    # The same method on the full test set and on a 1,000-sentence subset: two leaderboards, no pairing
    # across them. A different training budget is compared within one board.
    def record(method, seed, test, eval_sentences, train_sentences=2000):
        r = make_record(method, seed, test, 0.5)
        r.config["task"] = {"name": "conll2003", "max_eval_sentences": eval_sentences,
                            "max_train_sentences": train_sentences}
        return r

    records = [record("lora", s, 0.80, None) for s in (1, 2)] + [record("full", s, 0.85, None, 1000) for s in (1, 2)]
    records += [record("bidir", s, 0.90, 1000) for s in (1, 2)]
    boards = {b.eval_set: b for b in build_leaderboards(records, reference="lora")[0]}
    assert set(boards) == {"max_eval_examples=all", "max_eval_examples=1000"}
    full_set, subset = boards["max_eval_examples=all"], boards["max_eval_examples=1000"]
    assert {g.method for g in full_set.groups} == {"lora", "full"}
    assert [g.method for g in subset.groups] == ["bidir"]
    (bidir,) = subset.groups
    assert bidir.best and bidir.comparison.n_pairs == 0  # no lora on this evaluation set to pair with
    assert "conll2003 — span_f1 — max_eval_examples=1000" == subset.title


def test_records_before_and_after_the_task_readers_share_an_evaluation_set(make_record):
    # Same data (hash) and subset, read by the old Conll2003Task and by the new ColumnTask: one board.
    old = make_record("lora", 1, 0.80, 0.5)
    old.config["task"] = {"_target_": "harness.tasks.conll2003.Conll2003Task", "column": "ner", "max_eval_sentences": 1000}
    new = make_record("lora", 2, 0.82, 0.5)
    new.config["task"] = {"_target_": "harness.tasks.columns.ColumnTask", "tag_column": "ner", "max_eval_examples": 1000}
    other_data = make_record("lora", 3, 0.84, 0.5)
    other_data.config["task"] = dict(new.config["task"])
    for record, data in ((old, "a" * 64), (new, "a" * 64), (other_data, "b" * 64)):
        record.data_hash = data
    boards = build_leaderboards([old, new, other_data])[0]
    assert sorted(len([r for g in b.groups for r in g.runs]) for b in boards) == [1, 2]


def test_a_key_added_later_with_value_none_does_not_split_a_configuration(make_record):
    old = make_record("lora", 1, 0.80, 0.7, config={"r": 8})  # written before the key existed
    new = make_record("lora", 2, 0.82, 0.7, config={"r": 8, "min_steps": None})
    on = make_record("lora", 3, 0.84, 0.7, config={"r": 8, "min_steps": 300})
    (board,), _ = build_leaderboards([old, new, on])
    assert sorted((g.variant, g.test.n) for g in board.groups) == [("min_steps=(unset)", 2), ("min_steps=300", 1)]


def test_display_keys_never_split_a_configuration(make_record):
    quiet = make_record("lora", 1, 0.80, 0.7, config={"r": 8, "trainer": {"progress_bar": False, "num_workers": 0}})
    shown = make_record("lora", 2, 0.82, 0.7, config={"r": 8, "trainer": {"progress_bar": True, "num_workers": 4}})
    logged = make_record("lora", 3, 0.84, 0.7, config={"r": 8, "trainer": {"log_every_n_steps": 1}})
    (board,), _ = build_leaderboards([quiet, shown, logged])
    assert [(g.variant, g.test.n) for g in board.groups] == [("", 3)]


def test_a_model_without_reference_runs_is_paired_with_the_reference_on_the_other_model(make_record):
    records = [make_record("lora", s, LORA_TEST[s], 0.7, model="smollm2") for s in (1, 2, 3)]
    records += [make_record("full", s, IA3_TEST[s], 0.7, model="minilm") for s in (1, 2, 3)]
    (board,), _ = build_leaderboards(records, reference="lora")
    (encoder,) = [g for g in board.groups if g.model == "minilm"]
    assert encoder.comparison.reference_model == "smollm2" and encoder.comparison.n_pairs == 3
    assert encoder.comparison.delta == pytest.approx(-0.03)  # ia3 - lora differences by hand: -0.02, -0.04, -0.03
    # With the reference on two models, a third model has no single reference to pair with.
    records += [make_record("lora", s, 0.5, 0.7, model="qwen") for s in (1, 2)]
    (board,), _ = build_leaderboards(records, reference="lora")
    (encoder,) = [g for g in board.groups if g.model == "minilm"]
    assert encoder.comparison.n_pairs == 0 and encoder.comparison.note == "no reference runs on this model"


def test_truthfulqa_is_read_as_mc1_and_mc2_boards(make_record):
    records = []
    for seed, (mc1, mc2) in enumerate([(0.25, 0.40), (0.30, 0.45), (0.35, 0.50)], start=1):
        record = make_record("lora", seed, None, None, task="truthfulqa_mc")
        record.primary_metric = "mc1"
        record.metrics = {split: {"mc1": mc1, "mc2": mc2, "acc": 0.5} for split in ("dev", "test")}
        records.append(record)
    boards, _ = build_leaderboards(records)
    by_metric = {board.metric: board for board in boards}
    assert set(by_metric) == {"mc1", "mc2"}
    assert by_metric["mc1"].groups[0].test.mean == pytest.approx(0.30)
    assert by_metric["mc2"].groups[0].test.mean == pytest.approx(0.45)
    assert all(r.primary_metric == "mc1" for r in records)  # the records themselves are untouched


def test_variant_labels_name_only_what_differs_on_their_own_board(make_record):
    # Two learning rates on a 1,000-example evaluation set; an older record of the method on the
    # full set with other keys: the subset board's labels name the rate only.
    records = [
        make_record("full", 1, None, 0.70, config={"lr": 1e-4}),
        make_record("full", 1, None, 0.75, config={"lr": 3e-4}),
        make_record("full", 1, 0.6, 0.6, config={"lr": 5e-5, "old_key": "x"}),
    ]
    for record in records[:2]:
        record.config["task"] = {"name": "conll2003", "max_eval_examples": 1000}
    boards, _ = build_leaderboards(records)
    (subset,) = [b for b in boards if "1000" in b.eval_set]
    assert sorted(g.variant for g in subset.groups) == ["lr=0.0001", "lr=0.0003"]
