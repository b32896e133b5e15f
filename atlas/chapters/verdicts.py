"""Reproduction verdicts and the reproduction map: each chapter records, claim by claim, the paper's number,
ours and a status; the intro gathers them, one row per claim, under the chapters of :data:`atlas.chapters.CHAPTERS`.

A chapter calls :func:`record` while it executes (papermill runs chapters with ``--cwd book``, so the files
land in ``book/_verdicts/<chapter>.json``); the intro chapter, executed last, gathers them with
:func:`load_all` into the reproduction map. Nothing here is hand-written: a status is whatever the chapter
computed from the runs of the preset it was executed with.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from atlas import rules
from atlas.chapters import get, reproduced_chapters
from atlas.records import atomic_write_json

#: The statuses of :mod:`atlas.rules` (defined in the fitting-protocol appendix); there is no partial status.
STATUSES = rules.STATUSES


@dataclass(frozen=True)
class Verdict:
    chapter: str  # e.g. "04_transfer_matrix"
    claim: str  # short statement of the paper's claim
    source: str  # where the paper says it (section / table / figure)
    paper: str  # the paper's number(s), as printed
    ours: str  # our number(s), computed from the runs
    status: str  # one of STATUSES
    reason: str  # why this status (scale, data, method), and the noise the rule read
    preset: str
    rule: str = ""  # the key of atlas.rules.RULES that gave the status ("not_testable" for not testable)

    def __post_init__(self) -> None:
        if not self.rule and self.status == rules.NOT_TESTABLE:
            object.__setattr__(self, "rule", "not_testable")


def judged(chapter: str, source: str, preset: str, v: rules.Verdict) -> Verdict:
    """A chapter verdict from a rule's verdict (:mod:`atlas.rules`): the rule's status, its reason and noise."""
    reason = v.reason if v.noise in ("", "n/a") else f"{v.reason} [noise: {v.noise}]"
    return Verdict(chapter, v.claim, source, v.paper, v.ours, v.status, reason, preset, v.rule)


def untestable(chapter: str, claim: str, source: str, paper: str, reason: str, preset: str,
               ours: str = "not measured") -> Verdict:
    """A ``not testable`` verdict (:func:`atlas.rules.not_testable`: the reason is required)."""
    return judged(chapter, source, preset, rules.not_testable(claim, paper, reason, ours))


#: A deterministic computation (a formula, a configuration, a recomputed published number) has no noise.
EXACT = rules.Noise.seed_sd(0.0, "exact: a deterministic computation, no sampling noise")


def spearman_ci(x: np.ndarray, y: np.ndarray, *, unit: str, min_points: int = 0, n_boot: int = 2000,
                seed: int = 0) -> rules.Noise:
    """Percentile bootstrap 95 % CI of Spearman's rho over the (x, y) pairs (resamples without spread skipped);
    unknown noise with fewer than ``min_points`` pairs or when over half the resamples are degenerate."""
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_boot):
        i = rng.integers(0, len(x), len(x))
        if np.ptp(x[i]) > 0 and np.ptp(y[i]) > 0:
            vals.append(sps.spearmanr(x[i], y[i]).statistic)
    if len(x) < min_points:
        return rules.Noise.unknown(f"no noise estimate: {len(x)} points")
    if len(vals) < n_boot / 2:
        return rules.Noise.unknown("no noise estimate: too few distinct resamples")
    return rules.Noise.bootstrap_ci(*np.nanpercentile(vals, [2.5, 97.5]), source=f"bootstrap over {len(x)} {unit}")


def mean_ci(values, *, unit: str = "languages", n_boot: int = 2000, seed: int = 0, stat=np.mean) -> rules.Noise:
    """Percentile bootstrap 95 % CI of ``stat`` (the mean) over independent units (languages, pairs ...).

    Fewer than 3 finite units give :meth:`atlas.rules.Noise.unknown` (a verdict on them is never reproduced).
    """
    x = np.asarray([float(v) for v in values], float)
    x = x[np.isfinite(x)]
    if x.size < 3:
        return rules.Noise.unknown(f"no noise estimate: {x.size} {unit} (a bootstrap needs 3 or more)")
    rng = np.random.default_rng(seed)
    boots = np.array([stat(x[rng.integers(0, x.size, x.size)]) for _ in range(n_boot)])
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return rules.Noise.bootstrap_ci(lo, hi, source=f"bootstrap over {x.size} {unit}")


def flags_of(cells) -> list[str]:
    """The distinct fit flags in ``cells`` (comma-separated strings, lists or NaN), for :mod:`atlas.rules`."""
    out: list[str] = []
    for c in cells if cells is not None else ():
        if c is None or (isinstance(c, float) and np.isnan(c)):
            continue
        for f in (c if isinstance(c, (list, tuple)) else str(c).split(",")):
            f = str(f).strip()
            if f and f not in out:
                out.append(f)
    return out


def fit_mark(flags) -> str:
    """A fit's diagnosis as a table cell: ``ok``, ``at bound: E``, ``not identified: lam``, ``failed``."""
    fl = flags_of([flags])
    if not fl:
        return "ok"
    parts: dict[str, list[str]] = {}
    for f in fl:
        kind, _, param = f.partition(":")
        parts.setdefault(kind.replace("_", " "), []).append(param)
    return "; ".join(f"{k}: {', '.join(p for p in ps if p)}" if any(ps) else k for k, ps in parts.items())


def table(chapter_verdicts: list[Verdict]) -> pd.DataFrame:
    """A chapter's verdicts as the table it shows (claim, paper, ours, status, rule, reason)."""
    return pd.DataFrame([asdict(v) for v in chapter_verdicts],
                        columns=list(Verdict.__dataclass_fields__))[["claim", "paper", "ours", "status", "rule", "reason"]]


def verdict_dir() -> Path:
    return Path(os.environ.get("ATLAS_VERDICT_DIR", "_verdicts"))


def record(chapter: str, verdicts: list[Verdict]) -> Path:
    """Write a chapter's verdicts (replacing its previous ones) and return the file path."""
    get(chapter)  # a registered chapter, or a ValueError naming the allowed ones
    for v in verdicts:
        if v.status not in STATUSES:
            raise ValueError(f"verdict status {v.status!r} for {v.claim!r}; allowed: {', '.join(STATUSES)}")
        if v.rule not in rules.RULES:
            raise ValueError(f"verdict rule {v.rule!r} for {v.claim!r}; known: {', '.join(rules.RULES)}")
    path = verdict_dir() / f"{chapter}.json"
    atomic_write_json(path, [asdict(v) for v in verdicts])
    return path


def load_all(directory: Path | None = None) -> pd.DataFrame:
    """Every chapter's verdicts in one table (empty with the right columns if none were recorded)."""
    directory = Path(directory or verdict_dir())
    rows = []
    for path in sorted(directory.glob("*.json")):
        rows.extend(json.loads(path.read_text(encoding="utf-8")))
    columns = list(Verdict.__dataclass_fields__)
    return pd.DataFrame(rows, columns=columns).fillna({"rule": ""})


def chapter_map() -> pd.DataFrame:
    """Paper item -> chapter -> chapter source -> the command that regenerates its runs (from the registry)."""
    rows = [{"paper": p.item, "topic": p.topic, "chapter": c.title, "source": c.notebook, "command": p.command}
            for c in reproduced_chapters() for p in c.paper]
    return pd.DataFrame(rows)


#: What the map says of a chapter that recorded no verdict (the browser test fails on this text).
NOT_EXECUTED = "(no verdict recorded: chapter not executed in this build)"


def reproduction_map(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Verdicts joined with chapter titles and the preset each chapter read; a chapter that recorded nothing is
    listed as such (status missing)."""
    rows = []
    for chapter in reproduced_chapters():
        sub = verdicts[verdicts["chapter"] == chapter.name] if len(verdicts) else verdicts
        if len(sub) == 0:
            rows.append({"chapter": chapter.title, "preset": "", "claim": NOT_EXECUTED, "source": "", "paper": "",
                         "ours": "", "status": "missing", "rule": "", "reason": "no verdicts recorded"})
            continue
        for _, v in sub.iterrows():
            rows.append({"chapter": chapter.title, "preset": v["preset"], "claim": v["claim"], "source": v["source"],
                         "paper": v["paper"], "ours": v["ours"], "status": v["status"], "rule": v["rule"],
                         "reason": v["reason"]})
    return pd.DataFrame(rows)
