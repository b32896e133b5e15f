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
            rows.append({"target": "eng", "shape": "s0", "N": 1e5, "base_tokens": 1e6, "kind": kind,
                         "tokens": t, "loss": y})
    return pd.DataFrame(rows)


def test_advantage_measures_the_lead_at_both_ends():
    lead = R.advantage(_curves(0.3))
    assert len(lead) == 1
    row = lead.iloc[0]
    assert abs(row["lead_first"] - 3.0) < 1e-9 and abs(row["lead_last"] - 0.3) < 1e-9
    assert abs(row["lead_kept"] - 0.1) < 1e-9


def test_shrinking_lead_without_crossing_is_partial_not_reproduced():
    lead = R.advantage(_curves(0.3))
    cross = pd.DataFrame([{"eval_lang": "eng", "N": 1e5, "base_tokens": 1e6, "tokens": np.nan, "compute": np.nan,
                           "compute_with_base": np.nan, "reason": "no crossing", "n_crossings": 0}])
    laws = R.law_by_base(cross)
    assert laws["b"].isna().all() and laws["reason"].str.contains("2 distinct model sizes").all()
    v = R.verdicts("test", cross, laws, lead)
    assert v[0].status == "partially" and "10.0-10.0 tokens per parameter" in v[0].reason
    flat = R.advantage(_curves(3.0))  # the lead never shrinks: no evidence of an approaching crossover
    assert R.verdicts("test", cross, laws, flat)[0].status == "not reproduced"
