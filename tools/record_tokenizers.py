"""Record which tokenizer model files a preset's runs were trained with (runs/<preset>/tokenizers.json).

Runs finished since this record existed carry the hash in their own ``summary.json`` (``vocab_sha256``); this
script is for runs that predate that field. It trains (or loads from the cache) the preset's vocabularies on
this machine and writes their SHA-256s, with a note that must say why they are the runs' models.

    python tools/record_tokenizers.py --preset cpu --note "..."
"""

from __future__ import annotations

import argparse
import sys

from atlas import records
from atlas.chapters import data_sampling as data_report
from atlas.presets import Preset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", required=True)
    parser.add_argument("--note", required=True, help="how these hashes are known to be the runs' models")
    args = parser.parse_args(argv)
    try:  # every check before the vocabularies are trained
        preset = Preset.load(args.preset)
        specs = records.load_specs(args.preset)
        if specs.empty:
            raise ValueError(f"runs/{args.preset} holds no finished runs: nothing to record")
        if not args.note.strip():
            raise ValueError("--note is empty: say how these hashes are known to be the runs' models")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    used = set(specs["vocab.name"])
    toks = data_report.tokenizers(preset, preset.languages)
    models = {t.name: t.sha256 for t in toks.values() if t.name in used}
    missing = sorted(used - set(models))
    if missing:
        print(f"error: runs name vocabularies this preset did not build: {missing}", file=sys.stderr)
        return 2
    print(records.write_tokenizer_record(args.preset, models, args.note))
    return 0


if __name__ == "__main__":
    sys.exit(main())
