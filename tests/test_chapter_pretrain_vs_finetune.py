"""Chapter 08's analysis: finetuning's lead over scratch, and the verdicts built from it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from atlas.chapters import pretrain_vs_finetune as R


def _curves(lead_at_end: float) -> pd.DataFrame:
    tokens = np.geomspace(1e4, 1e6, 8)
    scratch = 8.0 - 0.5 * np.log(tokens / 1e4)  # falls fast from a random start
    finetune = scratch - np.linspace(3.0, lead_at_end, len(tokens))  # starts 3 nats ahead
    rows = []
    for kind, loss in (("scratch", scratch), ("finetune", finetune)):
        for t, y in zip(tokens, loss):
            rows.append({"run_id": "ft-eng", "target": "eng", "shape": "s0", "N": 1e4, "base_tokens": 1e6, "kind": kind,
                         "tokens": t, "loss": y})
    return pd.DataFrame(rows)


def test_advantage_measures_the_lead_at_both_ends():
    lead = R.advantage(_curves(0.3))
    assert len(lead) == 1
    row = lead.iloc[0]
    assert abs(row["lead_first"] - 3.0) < 1e-9 and abs(row["lead_last"] - 0.3) < 1e-9
    assert abs(row["lead_kept"] - 0.1) < 1e-9


def test_crossover_verdict_can_fail_and_ignores_the_warmup():
    lead = R.advantage(_curves(0.3))
    # N = 1e4: the range reaches 100 tokens per parameter, past the paper's crossovers (71-139)
    cross = pd.DataFrame([{"run_id": "ft-eng", "eval_lang": "eng", "N": 1e4, "base_tokens": 1e6, "tokens": np.nan, "compute": np.nan,
                           "compute_with_base": np.nan, "reason": "no crossing", "n_crossings": 0}])
    laws = R.law_by_base(cross)
    assert laws["b"].isna().all() and laws["reason"].str.contains("2 distinct model sizes").all()
    v = R.verdicts("test", cross, laws, lead, warmup=2e4)
    assert v[0].status == "not reproduced" and v[0].rule == "existence"  # no crossover in the valid range
    assert "[2e+04, 1e+06]" in v[0].ours  # the range starts after the warmup, not at the first shared point
    assert v[1].status == "not testable" and not any(x.status == "partially" for x in v)
    found = cross.assign(tokens=3e5)
    assert R.verdicts("test", found, laws, lead, warmup=2e4)[0].status == "reproduced"
    inside_warmup = cross.assign(tokens=1.5e4)  # a crossing inside the warmup is not evidence
    assert R.verdicts("test", inside_warmup, laws, lead, warmup=2e4)[0].status == "inconclusive"


def test_a_range_short_of_the_papers_tokens_per_parameter_cannot_refute_the_crossover():
    lo, hi = R.paper_crossover_tokens_per_param()
    assert 70 < lo < hi < 140  # 144B-283B tokens on 2.03B parameters
    lead = R.advantage(_curves(0.3).assign(N=1e5))
    cross = pd.DataFrame([{"run_id": "ft-eng", "eval_lang": "eng", "N": 1e5, "base_tokens": 1e6, "tokens": np.nan, "compute": np.nan,
                           "compute_with_base": np.nan, "reason": "no crossing", "n_crossings": 0}])
    v = R.crossover_verdicts("test", cross, lead, warmup=2e4)[0]
    assert v.status == "not testable" and "10.0 tokens per parameter" in v.ours and "eng crossover lies at 71" in v.reason
    assert R.paper_crossover_tokens_per_param("cmn")[0] > 135  # zh: 283B tokens
    assert R.crossover_verdicts("test", cross.assign(tokens=3e5), lead, warmup=2e4)[0].status == "reproduced"
