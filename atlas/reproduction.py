"""The reproduction map: each paper table/figure -> chapter -> notebook -> command, with its computed status.

The map's *structure* (which paper item lives in which chapter) is declared here; each *status* comes from
the verdicts the chapters record while they execute (:mod:`atlas.verdicts`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class PaperItem:
    item: str  # the paper's table / figure / section
    topic: str
    chapter: str  # notebook stem, e.g. "04_transfer_matrix"
    command: str  # how to regenerate the runs behind it


CHAPTER_TITLES = {
    "01_data_sampling": "Data sampling",
    "02_training": "Model grid and training",
    "03_monolingual_scaling": "Monolingual scaling",
    "04_transfer_matrix": "Transfer matrix (BTS)",
    "05_script_family_tests": "Script and family statistics",
    "06_atlas_fits": "ATLAS fits (Table 1)",
    "07_curse_of_multilinguality": "Curse of multilinguality",
    "08_pretrain_vs_finetune": "Pretrain vs finetune",
}

PAPER_ITEMS: list[PaperItem] = [
    PaperItem("§2, App. B.1", "data, test split min(20M, 20%), vocabulary", "01_data_sampling", "(no runs needed)"),
    PaperItem("Tables B.2, B.3", "model grid and hyperparameters", "02_training", "python -m atlas grid run --preset P --experiment monolingual"),
    PaperItem("Fig. 1, Table C.1", "monolingual scaling, vocabulary tax", "03_monolingual_scaling", "python -m atlas grid run --preset P --experiment monolingual"),
    PaperItem("Fig. 2, Fig. C.2, App. C.2", "bilingual transfer scores", "04_transfer_matrix", "python -m atlas grid run --preset P --experiment bilingual"),
    PaperItem("§4 statistics", "script/family effects, asymmetry", "05_script_family_tests", "python -m atlas stats transfer MATRIX.csv"),
    PaperItem("Table 1", "ATLAS vs CSL/DCSL/MSL held-out R²", "06_atlas_fits", "python -m atlas grid run --preset P --experiment all"),
    PaperItem("§5, Fig. 4, Fig. 5", "K-law, iso-loss multipliers", "07_curse_of_multilinguality", "python -m atlas grid run --preset P --experiment capacity"),
    PaperItem("§6, Fig. 6, Fig. 7", "pretrain vs finetune crossover", "08_pretrain_vs_finetune", "python -m atlas grid run --preset P --experiment finetune"),
]


def chapter_map() -> pd.DataFrame:
    """Paper item -> chapter -> notebook -> command."""
    rows = [
        {
            "paper": p.item,
            "topic": p.topic,
            "chapter": CHAPTER_TITLES[p.chapter],
            "notebook": f"notebooks/{p.chapter}.ipynb",
            "command": p.command,
        }
        for p in PAPER_ITEMS
    ]
    return pd.DataFrame(rows)


def reproduction_map(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Verdicts joined with chapter titles and notebooks; chapters that recorded nothing are listed as such."""
    rows = []
    for chapter, title in CHAPTER_TITLES.items():
        sub = verdicts[verdicts["chapter"] == chapter] if len(verdicts) else verdicts
        if len(sub) == 0:
            rows.append({"chapter": title, "notebook": f"notebooks/{chapter}.ipynb", "claim": "(chapter not executed)",
                         "source": "", "paper": "", "ours": "", "status": "missing", "reason": "no verdicts recorded"})
            continue
        for _, v in sub.iterrows():
            rows.append({"chapter": title, "notebook": f"notebooks/{chapter}.ipynb", "claim": v["claim"],
                         "source": v["source"], "paper": v["paper"], "ours": v["ours"], "status": v["status"],
                         "reason": v["reason"]})
    return pd.DataFrame(rows)
