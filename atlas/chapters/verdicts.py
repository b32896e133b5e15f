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

import pandas as pd

from atlas.chapters import get, reproduced_chapters
from atlas.records import atomic_write_json

STATUSES = ("reproduced", "partially", "not reproduced", "not testable")


@dataclass(frozen=True)
class Verdict:
    chapter: str  # e.g. "04_transfer_matrix"
    claim: str  # short statement of the paper's claim
    source: str  # where the paper says it (section / table / figure)
    paper: str  # the paper's number(s), as printed
    ours: str  # our number(s), computed from the runs
    status: str  # one of STATUSES
    reason: str  # why this status (scale, data, method)
    preset: str


def verdict_dir() -> Path:
    return Path(os.environ.get("ATLAS_VERDICT_DIR", "_verdicts"))


def record(chapter: str, verdicts: list[Verdict]) -> Path:
    """Write a chapter's verdicts (replacing its previous ones) and return the file path."""
    get(chapter)  # a registered chapter, or a ValueError naming the allowed ones
    for v in verdicts:
        if v.status not in STATUSES:
            raise ValueError(f"verdict status {v.status!r} for {v.claim!r}; allowed: {', '.join(STATUSES)}")
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
    return pd.DataFrame(rows, columns=columns)


def chapter_map() -> pd.DataFrame:
    """Paper item -> chapter -> chapter source -> the command that regenerates its runs (from the registry)."""
    rows = [{"paper": p.item, "topic": p.topic, "chapter": c.title, "source": c.notebook, "command": p.command}
            for c in reproduced_chapters() for p in c.paper]
    return pd.DataFrame(rows)


#: What the map says of a chapter that recorded no verdict (the browser test fails on this text).
NOT_EXECUTED = "(no verdict recorded: chapter not executed in this build)"


def reproduction_map(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Verdicts joined with chapter titles; a chapter that recorded nothing is listed as such (status missing)."""
    rows = []
    for chapter in reproduced_chapters():
        sub = verdicts[verdicts["chapter"] == chapter.name] if len(verdicts) else verdicts
        if len(sub) == 0:
            rows.append({"chapter": chapter.title, "claim": NOT_EXECUTED, "source": "", "paper": "", "ours": "",
                         "status": "missing", "reason": "no verdicts recorded"})
            continue
        for _, v in sub.iterrows():
            rows.append({"chapter": chapter.title, "claim": v["claim"], "source": v["source"], "paper": v["paper"],
                         "ours": v["ours"], "status": v["status"], "reason": v["reason"]})
    return pd.DataFrame(rows)
