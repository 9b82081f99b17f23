"""Claims that once failed at a seed beyond the suite's 0-2, rerun at that seed (~1 s each; the
slow ones 10-30 s).

Robustness scans at seeds 6-47 found them; the fixes are in the claims' docstrings.
"""

import operator

import pytest

from deltalab.lab.runner import run_one


@pytest.mark.parametrize(
    ("claim", "seed", "metric", "op", "limit"),
    [
        # w = 0 held 0.1% of the error along λ_min's direction: 1 − contraction was 34% off
        ("sgd-step-size", 6, "max_rel_err_1_minus_rate", operator.le, 0.01),
        ("sgd-step-size", 13, "max_rel_err_1_minus_rate", operator.le, 0.01),
        # a constant rate left RMSprop's last iterate at 92.7% / 93.8% test accuracy
        ("rmsprop-adam", 6, "test_acc_rmsprop", operator.ge, 0.96),
        ("rmsprop-adam", 11, "test_acc_rmsprop", operator.ge, 0.96),
        # one-sample SGD at step 0.1/λ_max, its second half averaged, ended 1.09e-3 above the optimum
        ("gd-variants", 22, "rel_gap_sgd", operator.le, 5e-4),
        ("gd-variants", 31, "rel_gap_sgd", operator.le, 5e-4),
        # a constant step size α = 0.1 left the greedy policy 19.4 points below value iteration's
        ("q-learning", 16, "success_gap_points", operator.le, 2.0),
        ("q-learning", 37, "success_gap_points", operator.le, 2.0),
        # batches of 64 left the ViT at 0.9489 test accuracy (bar 0.95) (~15 s)
        pytest.param("vit", 15, "test_acc", operator.ge, 0.955, marks=pytest.mark.slow),
        # 1500 steps left the masking autoencoder +0.97 points over the plain one (bar 1) (~10 s)
        pytest.param(
            "denoising-masking", 17, "probe_gain_mask_points", operator.ge, 1.5, marks=pytest.mark.slow
        ),
        # 200 steps and a 5-draw probe left the SimCLR encoder +1.9 points over the random one (~18 s)
        pytest.param("simclr", 17, "gain_over_random_points", operator.ge, 3.5, marks=pytest.mark.slow),
        # the identity (q·k + 1)² = φ(q)·φ(k), checked in float32, rounded to 1.07e-5 (bar 1e-5) (~8 s)
        pytest.param(
            "linear-attention", 19, "poly_identity_rel_error", operator.le, 1e-12, marks=pytest.mark.slow
        ),
        # without a warm-up ACT never learned parity past length 3 (acc_act_minus_fixed −0.22) (~50 s)
        pytest.param(
            "universal-transformer", 11, "acc_act_minus_fixed", operator.ge, 0.2, marks=pytest.mark.slow
        ),
        # one-shot at 99% recovered as well as IMP; the sweep now goes on to 99.5% (~10 s)
        pytest.param(
            "pruning", 7, "best_gap_imp_over_oneshot_at_95plus", operator.ge, 0.1, marks=pytest.mark.slow
        ),
        # long-only training missed the old cap of 5000 steps (it needs 5700) (~30 s)
        pytest.param("curriculum", 11, "reached_long_only", operator.ge, 1, marks=pytest.mark.slow),
        # 1000 8x8 steps left seed 11 at 65.3% judge-confident, still rising (~30 s)
        pytest.param("progressive-gan", 11, "confident_frac", operator.ge, 0.75, marks=pytest.mark.slow),
        # one CNN run per rate: AdamW's tail 0.088 against Muon's 0.093 (ratio 1.05, bar 0.9) (~25 s)
        pytest.param("muon", 25, "cnn_loss_ratio_muon_over_adamw", operator.le, 0.8, marks=pytest.mark.slow),
        # L_τ weighted 10: Recycle-GAN's tone followed the lamp, flicker ratio 1.033 (bar 1.05) (~15 s)
        pytest.param(
            "recycle-gan", 26, "flicker_ratio_cyclegan_over_recycle", operator.ge, 1.1, marks=pytest.mark.slow
        ),
        # 400 steps left BYOL's probe still climbing, +1.54 points over the random encoder (~20 s)
        pytest.param("byol", 27, "gain_over_random_points", operator.ge, 2.3, marks=pytest.mark.slow),
        # 1200 ring steps held 7/8 modes with 79% of samples near one (~20 s)
        pytest.param("gan", 12, "ring_near_frac", operator.ge, 0.85, marks=pytest.mark.slow),
    ],
)
def test_claim_passes_at_the_seed_it_once_failed(claim, seed, metric, op, limit, tmp_path):
    rec = run_one(claim, "quick", seed, "cpu", str(tmp_path), 0, verbose=False)
    assert rec["verdict"] == "pass", rec["message"]
    assert op(rec["metrics"][metric], limit), (metric, rec["metrics"][metric], limit)


@pytest.mark.parametrize(
    ("claim", "seed"),
    [
        # one 200-digit subset per seed: the gap ratio fell to 0.68 / 0.63 (bar <= 0.7), an unstable
        # expected failure; three subsets averaged: 0.98 / 0.83
        ("noise-injection", 27),
        ("dropout", 38),
    ],
)
def test_expected_failure_fails_at_the_seed_it_once_passed(claim, seed, tmp_path):
    rec = run_one(claim, "quick", seed, "cpu", str(tmp_path), 0, verbose=False)
    assert rec["verdict"] == "fail", rec["metrics"]
    assert rec["metrics"]["gap_ratio"] >= 0.75, rec["metrics"]["gap_ratio"]
