"""A two-phase sweep hands on the setting the report selects on dev, never the best on test."""

from __future__ import annotations

import pytest

from harness.results.selection import main, selected_values


def test_the_learning_rate_of_the_best_dev_variant_is_selected(tmp_path, make_record, write_record, capsys):
    root = tmp_path / "results"
    # lr 1e-3 has the better dev score, lr 3e-3 the better test score: dev decides.
    for lr, dev, test in ((3e-4, 0.60, 0.61), (1e-3, 0.72, 0.70), (3e-3, 0.71, 0.75)):
        write_record(root, make_record("lora", 1, test, dev, config={"lr": lr}))
    write_record(root, make_record("full", 1, 0.5, 0.55, config={"lr": 5e-5}))
    (lora,) = [s for s in selected_values(root, "method.lr") if s.method == "lora"]
    assert (lora.value, lora.candidates, lora.dev_mean) == (1e-3, 3, pytest.approx(0.72))
    assert main([str(root), "--key", "method.lr"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "model=tiny-llama method=full method.lr=5e-05", "model=tiny-llama method=lora method.lr=0.001",
    ]


def test_a_key_the_selected_variant_lacks_is_an_error_naming_it(tmp_path, make_record, write_record):
    root = tmp_path / "results"
    write_record(root, make_record("lora", 1, 0.7, 0.7, config={"lr": 1e-3}))
    with pytest.raises(ValueError, match="method.rank"):
        selected_values(root, "method.rank")


def test_selection_among_one_seed_ignores_the_seeds_added_later(tmp_path, make_record, write_record, capsys):
    root = tmp_path / "results"
    # Seed 1 picked lr 1e-3; seeds 2 and 3 added to it afterwards score lower on dev. Over every seed
    # lr 3e-3 (seed 1 only) would now win; among seed 1's runs the choice stays 1e-3.
    write_record(root, make_record("lora", 1, 0.70, 0.72, config={"lr": 1e-3}))
    write_record(root, make_record("lora", 1, 0.69, 0.71, config={"lr": 3e-3}))
    for seed in (2, 3):
        write_record(root, make_record("lora", seed, 0.66, 0.66, config={"lr": 1e-3}))
    assert [s.value for s in selected_values(root, "method.lr")] == [3e-3]
    assert [(s.value, s.candidates) for s in selected_values(root, "method.lr", seed=1)] == [(1e-3, 2)]
    assert main([str(root), "--seed", "1"]) == 0
    assert capsys.readouterr().out.splitlines() == ["model=tiny-llama method=lora method.lr=0.001"]
