"""The presets appendix: what the study budgets say, as sentences (hours from :func:`atlas.grid.study_hours`)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def study_hours_markdown(studies: pd.DataFrame, preset: str) -> str:
    """One line per study with a budget: planned hours against it, and the measured hours of its finished runs."""
    budgeted = studies[np.isfinite(studies["budget_h"].astype(float))] if len(studies) else studies
    if budgeted.empty:
        return f"The `{preset}` preset states no study budgets."
    lines = []
    for r in budgeted.itertuples():
        where = "within" if r.planned_h <= r.budget_h else "over"
        if r.done == 0:
            measured = "no run finished yet"
        else:
            measured = f"measured {r.measured_h:.2f} h for " + (
                f"all {r.runs} runs" if r.done == r.runs else f"the {r.done} of {r.runs} runs finished")
        lines.append(f"- **{r.study}**: planned {r.planned_h:.2f} h, {where} its {r.budget_h:g} h budget; {measured}.")
    return "\n".join(lines)
