"""Pre-registered verdict rules: hand-made cases on both sides of every threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest

from atlas import rules as R
from atlas.rules import (
    INCONCLUSIVE,
    K_NOISE,
    NOT_REPRODUCED,
    NOT_TESTABLE,
    REPRODUCED,
    Noise,
    RuleError,
    Verdict,
    diff_sd,
    existence,
    fmt,
    not_testable,
    ordering,
    rank_trend,
    rules_markdown,
    sign,
    trend,
    value,
)

SD = Noise.seed_sd(0.05, "5 seeds")
EPS = 1e-9


# --------------------------------------------------------------------------------------------------------
# the issue's own examples: ties within the noise are never reproduced


@pytest.mark.parametrize("a, b", [(0.94, 0.94), (0.87, 0.86)])
def test_issue_ties_are_not_reproduced(a, b):
    v = ordering("ATLAS beats the baseline on R2", "0.98 vs 0.70", a, b, SD, names=("ATLAS", "baseline"))
    assert v.status in (INCONCLUSIVE, NOT_REPRODUCED)
    assert v.status == INCONCLUSIVE and "tie" in v.reason
    # the paper's own gap (0.28) exceeds our band (2 x 0.05): the tie is a failure to reproduce
    v = ordering("ATLAS beats the baseline on R2", "0.98 vs 0.70", a, b, SD, paper_gap=0.28)
    assert v.status == NOT_REPRODUCED and "exceeds our noise" in v.reason


# --------------------------------------------------------------------------------------------------------
# ordering


@pytest.mark.parametrize(
    "d, status",
    [
        (K_NOISE * 0.05 + 1e-6, REPRODUCED),
        (K_NOISE * 0.05 - 1e-6, INCONCLUSIVE),
        (0.0, INCONCLUSIVE),
        (-K_NOISE * 0.05 + 1e-6, INCONCLUSIVE),
        (-K_NOISE * 0.05 - 1e-6, NOT_REPRODUCED),
    ],
)
def test_ordering_sd_threshold(d, status):
    assert ordering("a > b", "p", 0.5 + d, 0.5, SD).status == status


@pytest.mark.parametrize("lo, hi, status", [(1e-6, 0.2, REPRODUCED), (-1e-6, 0.2, INCONCLUSIVE),
                                             (-0.2, -1e-6, NOT_REPRODUCED), (-0.2, 1e-6, INCONCLUSIVE)])
def test_ordering_ci_of_the_difference(lo, hi, status):
    v = ordering("a > b", "p", 0.6, 0.5, Noise.bootstrap_ci(lo, hi, source="run bootstrap"))
    assert v.status == status
    assert "95% run bootstrap CI" in v.noise


@pytest.mark.parametrize("gap, status", [(0.1 + 1e-6, NOT_REPRODUCED), (0.1 - 1e-6, INCONCLUSIVE), (None, INCONCLUSIVE)])
def test_ordering_tie_against_the_papers_effect_size(gap, status):
    assert ordering("a > b", "p", 0.51, 0.5, SD, paper_gap=gap).status == status


def test_ordering_flags_bar_reproduced_but_keep_failures():
    v = ordering("a > b", "p", 0.9, 0.5, SD, flags=["at_bound:lam"])
    assert v.status == INCONCLUSIVE and "at_bound:lam" in v.reason
    v = ordering("a > b", "p", 0.9, 0.5, SD, flags=[""])
    assert v.status == REPRODUCED  # empty flag strings are no flags
    v = ordering("a > b", "p", 0.1, 0.5, SD, flags=["not_identified:R_D_star"])
    assert v.status == NOT_REPRODUCED and "not_identified:R_D_star" in v.reason


def test_ordering_missing_number_and_no_noise():
    assert ordering("a > b", "p", math.nan, 0.5, SD).status == NOT_REPRODUCED
    v = ordering("a > b", "p", 0.9, 0.1, Noise.unknown())
    assert v.status == INCONCLUSIVE


def test_diff_sd_adds_in_quadrature():
    assert diff_sd(0.03, 0.04) == pytest.approx(0.05)


# --------------------------------------------------------------------------------------------------------
# sign


@pytest.mark.parametrize(
    "val, expected, status",
    [
        (0.1 + 1e-6, "positive", REPRODUCED),
        (0.1 - 1e-6, "positive", INCONCLUSIVE),
        (-0.1 - 1e-6, "positive", NOT_REPRODUCED),
        (-0.1 - 1e-6, "negative", REPRODUCED),
        (-0.1 + 1e-6, "negative", INCONCLUSIVE),
        (0.1 + 1e-6, "negative", NOT_REPRODUCED),
    ],
)
def test_sign_sd(val, expected, status):
    assert sign("phi > 0", "p", val, SD, expected=expected, name="phi").status == status


@pytest.mark.parametrize("lo, hi, status", [(1e-6, 1.0, REPRODUCED), (-1e-6, 1.0, INCONCLUSIVE), (-1.0, -1e-6, NOT_REPRODUCED)])
def test_sign_ci_excludes_zero_on_the_papers_side(lo, hi, status):
    v = sign("phi > 0", "0.11", 0.3, Noise.bootstrap_ci(lo, hi), name="phi")
    assert v.status == status and v.ours.startswith("phi = 0.3 [")


def test_sign_flags_and_paper_value():
    assert sign("phi > 0", "p", 0.5, SD, flags=["at_bound:E"]).status == INCONCLUSIVE
    assert sign("phi > 0", "p", 0.01, SD, paper_value=0.3).status == NOT_REPRODUCED
    assert sign("phi > 0", "p", 0.01, SD, paper_value=0.05).status == INCONCLUSIVE
    with pytest.raises(RuleError):
        sign("phi > 0", "p", 0.5, SD, expected="up")


# --------------------------------------------------------------------------------------------------------
# value with a tolerance


@pytest.mark.parametrize(
    "ours, noise, status",
    [
        (0.35 + 0.05 - 1e-6, Noise.seed_sd(0.01), REPRODUCED),  # inside tol, band 0.02 <= tol
        (0.35 + 0.05 + 1e-6, Noise.seed_sd(0.01), INCONCLUSIVE),  # just outside tol, band reaches it
        (0.35 + 0.05 + 0.02 + 1e-6, Noise.seed_sd(0.01), NOT_REPRODUCED),  # band entirely outside
        (0.35 + 0.05 + 0.02 - 1e-6, Noise.seed_sd(0.01), INCONCLUSIVE),
        (0.35, Noise.seed_sd(0.025 + 1e-6), INCONCLUSIVE),  # on target but noise wider than tol
        (0.35, Noise.seed_sd(0.025 - 1e-6), REPRODUCED),
        (0.30 + 1e-6, Noise.bootstrap_ci(0.28, 0.32), REPRODUCED),  # just inside tol at the lower end
        (0.30 - 1e-6, Noise.bootstrap_ci(0.28, 0.32), INCONCLUSIVE),  # just outside, CI reaches the band
        (0.20, Noise.bootstrap_ci(0.15, 0.2999), NOT_REPRODUCED),
        (0.20, Noise.bootstrap_ci(0.15, 0.3001), INCONCLUSIVE),
    ],
)
def test_value_tolerance(ours, noise, status):
    assert value("alpha = 0.35", "0.35", ours, 0.35, 0.05, noise, name="alpha").status == status


def test_value_relative_tolerance_and_flags():
    assert value("R_D* = 15.4", "15.4", 17.0, 15.4, 0.25, Noise.seed_sd(0.5), relative=True).status == REPRODUCED
    assert value("R_D* = 15.4", "15.4", 47.0, 15.4, 0.25, Noise.seed_sd(0.5), relative=True).status == NOT_REPRODUCED
    v = value("R_D* = 15.4", "15.4", 15.4, 15.4, 0.25, Noise.seed_sd(0.5), relative=True, flags=["not_identified:R_D_star"])
    assert v.status == INCONCLUSIVE
    with pytest.raises(RuleError):
        value("x", "p", 1.0, 1.0, -1.0, SD)


# --------------------------------------------------------------------------------------------------------
# trends


def test_trend_every_step_beyond_noise():
    x = [1, 2, 4, 8]
    sd = 0.01  # step s.d. = 0.01 * sqrt(2) = 0.01414; band 0.0283
    step = K_NOISE * sd * np.sqrt(2)
    up = [0, step + 1e-6, 2 * step + 2e-6, 3 * step + 3e-6]
    assert trend("loss rises with K", "p", x, up, sd).status == REPRODUCED
    flat = [0, step - 1e-6, 2 * step, 3 * step + 1e-6]
    assert trend("loss rises with K", "p", x, flat, sd).status == INCONCLUSIVE
    down = [0, step + 1e-6, 2 * step + 2e-6, 2 * step + 2e-6 - step - 1e-6]
    v = trend("loss rises with K", "p", x, down, sd)
    assert v.status == NOT_REPRODUCED and "4 -> 8" in v.reason
    assert trend("loss falls with N", "p", x[::-1], up, sd, direction="decreasing").status == REPRODUCED  # sorted by x
    assert trend("loss rises", "p", x, up, sd, flags=["at_bound:E"]).status == INCONCLUSIVE


def test_trend_per_point_sd_and_errors():
    assert trend("up", "p", [1, 2], [0.0, 0.1], [0.0, 0.05]).status == INCONCLUSIVE  # 0.1 == 2 x 0.05: not beyond
    assert trend("up", "p", [1, 2], [0.0, 0.1], [0.0, 0.049]).status == REPRODUCED
    with pytest.raises(RuleError):
        trend("up", "p", [1], [0.0], 0.1)
    with pytest.raises(RuleError):
        trend("up", "p", [1, 2], [0.0, 1.0], 0.1, direction="sideways")


def test_rank_trend_uses_the_sign_rule():
    v = rank_trend("up", "p", 0.8, Noise.bootstrap_ci(0.2, 0.95), method="Kendall")
    assert v.status == REPRODUCED and v.rule == "rank_trend" and v.ours.startswith("Kendall rho = 0.8")
    assert rank_trend("up", "p", 0.3, Noise.bootstrap_ci(-0.1, 0.6)).status == INCONCLUSIVE
    assert rank_trend("down", "p", 0.3, Noise.bootstrap_ci(0.1, 0.6), direction="decreasing").status == NOT_REPRODUCED


# --------------------------------------------------------------------------------------------------------
# existence


def test_existence_inside_outside_and_none():
    rng = (1e6, 1e8)  # e.g. after the scratch run's warmup, up to the last budget
    assert existence("crossover", "p", 5e6, rng, unit="tokens").status == REPRODUCED
    assert existence("crossover", "p", 5e5, rng).status == INCONCLUSIVE  # inside warmup: not resolvable
    assert existence("crossover", "p", 2e8, rng).status == INCONCLUSIVE  # extrapolated
    assert existence("crossover", "p", None, rng).status == NOT_REPRODUCED
    assert existence("crossover", "p", math.nan, rng).status == NOT_REPRODUCED
    assert existence("crossover", "p", 5e6, rng, noise=Noise.bootstrap_ci(2e6, 9e7)).status == REPRODUCED
    assert existence("crossover", "p", 5e6, rng, noise=Noise.bootstrap_ci(9e5, 9e7)).status == INCONCLUSIVE
    assert existence("crossover", "p", 5e6, rng, flags=["at_bound:lam"]).status == INCONCLUSIVE
    with pytest.raises(RuleError):
        existence("crossover", "p", 5e6, (1e8, 1e6))


# --------------------------------------------------------------------------------------------------------
# not testable, the record, the appendix


def test_not_testable_requires_a_reason():
    v = not_testable("8B models", "Table 1", "the miniature trains models below 2M parameters")
    assert v.status == NOT_TESTABLE and v.rule == "not_testable"
    with pytest.raises(RuleError):
        not_testable("8B models", "Table 1", "  ")


def test_verdict_is_frozen_readable_and_validated():
    v = ordering("a > b", "p", np.float64(0.9), np.float32(0.5), Noise.seed_sd(np.float64(0.01)))
    assert "np." not in v.ours + v.reason + v.noise and "float" not in v.ours
    with pytest.raises(Exception):
        v.status = REPRODUCED  # type: ignore[misc]
    assert set(v.to_dict()) == {"claim", "paper", "ours", "status", "rule", "reason", "noise"}
    with pytest.raises(RuleError):
        Verdict("c", "p", "o", "partially", "ordering", "r", "n")
    with pytest.raises(RuleError):
        Verdict("c", "p", "o", REPRODUCED, "vibes", "r", "n")


def test_noise_constructors_reject_nonsense():
    with pytest.raises(RuleError):
        Noise.seed_sd(math.nan)
    with pytest.raises(RuleError):
        Noise.seed_sd(-1)
    with pytest.raises(RuleError):
        Noise.bootstrap_ci(1.0, 0.0)
    assert Noise.seed_sd(0.1).halfwidth() == pytest.approx(K_NOISE * 0.1)
    assert Noise.bootstrap_ci(0.0, 0.4).halfwidth() == pytest.approx(0.2)


def test_fmt_is_plain_text():
    assert fmt(np.float64(0.9412)) == "0.941" and fmt(np.int64(3)) == "3" and fmt(None) == "n/a"
    assert fmt(math.nan) == "nan" and fmt(1.2e9) == "1.2e+09"


def test_rules_markdown_quotes_every_status_and_rule():
    md = rules_markdown()
    for s, text in R.STATUS_DEFINITIONS.items():
        assert f"**{s}**: {text}" in md
    for name, text in R.RULES.items():
        assert f"**{name}**: {text}" in md
    assert set(R.STATUS_DEFINITIONS) == set(R.STATUSES)
    rule_fns = {"ordering", "sign", "value", "trend", "rank_trend", "existence", "not_testable"}
    assert rule_fns <= set(R.RULES) and all(callable(getattr(R, f)) for f in rule_fns)


def test_rules_module_is_science_layer():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(R))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not [m for m in imported if m.startswith("atlas")], imported


def test_wider_reads_the_more_cautious_noise():
    sd, ci, none = R.Noise.seed_sd(0.1), R.Noise.bootstrap_ci(-0.05, 0.05), R.Noise.unknown("x")
    assert R.wider(sd, ci) is sd and R.wider(ci, R.Noise.seed_sd(0.01)) is ci
    assert R.wider(none, ci) is none and R.wider(none) is none  # one estimate alone may be a lower bound
    with pytest.raises(R.RuleError):
        R.wider()


def test_existence_with_a_remaining_gap_inside_the_noise_is_inconclusive_not_a_refutation():
    sd = R.Noise.seed_sd(0.03, "seeds")  # band +-0.06
    near = R.existence("c", "p", None, (1.0, 10.0), gap=0.045, gap_noise=sd)
    assert near.status == R.INCONCLUSIVE and "just beyond" in near.reason
    far = R.existence("c", "p", None, (1.0, 10.0), gap=0.2, gap_noise=sd)
    assert far.status == R.NOT_REPRODUCED and "exceeds the noise" in far.reason
    assert R.existence("c", "p", None, (1.0, 10.0), gap=0.045).status == R.NOT_REPRODUCED  # no noise given
    assert R.existence("c", "p", 5.0, (1.0, 10.0), gap=0.045, gap_noise=sd).status == R.REPRODUCED
