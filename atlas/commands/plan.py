"""``python -m atlas plan ...``: scale N and D when adding languages; finetune or pretrain; compute-optimal sizes."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from atlas.cli import lazy_help
from atlas.commands.fit import _clean
from atlas.planning import isoloss  # numpy-free: its constants are the options' defaults

P = isoloss.PAPER_EXPONENTS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("plan", help="planning: languages (iso-loss), finetune vs pretrain, compute-optimal",
                              description=__doc__.splitlines()[0].replace("``", ""))
    sub = p.add_subparsers(dest="plan_command", required=True, metavar="PLAN")

    lang = sub.add_parser(
        "languages",
        help="how much to scale N and D when going from K to K2 languages (K-law iso-loss, ATLAS Sec. 5)",
        description=(
            "Compute-optimal iso-loss multipliers for K -> K2 = rK languages: N'/N = r^(phi/alpha), "
            "D_t'/D_t = r^(psi/beta), D_tot'/D_tot = r^(1+psi/beta), C'/C = r^(1+phi/alpha+psi/beta). "
            f"Defaults are the paper's: {isoloss.PAPER_SOURCE}."
        ),
    )
    lang.add_argument("--from-k", type=float, required=True, help="languages now (K)")
    lang.add_argument("--to-k", type=float, required=True, help="languages planned (K2); r = K2/K")
    lang.add_argument("--phi", type=float, default=P["phi"], help=f"K exponent of the parameter term (default {P['phi']})")
    lang.add_argument("--psi", type=float, default=P["psi"], help=f"K exponent of the data term (default {P['psi']})")
    lang.add_argument("--alpha", type=float, default=P["alpha"], help=f"parameter exponent (default {P['alpha']:.4f}, inferred)")
    lang.add_argument("--beta", type=float, default=P["beta"], help=f"data exponent (default {P['beta']:.4f}, inferred)")
    lang.add_argument("--n-multiplier", type=float, default=None,
                      help="also solve Eq. 8 for the data multiplier given this N multiplier s = N'/N")
    lang.add_argument("--w-n", type=float, default=None,
                      help="parameter term's share of the reducible loss at the start (default: compute-optimal beta/(alpha+beta))")
    lang.add_argument("--json", action="store_true", help="print one JSON object")
    lang.set_defaults(func=run_languages)

    ft = sub.add_parser(
        "finetune",
        help="finetune a multilingual base or pretrain from scratch? (crossover law, ATLAS Sec. 6)",
        description="Compares the planned target-language tokens with the crossover D* = C*/(6N), C* = a N^b.",
    )
    lazy_help(ft, _crossover_source)
    ft.add_argument("--target", required=True, help="target language (en, eng, eng_Latn ...)")
    ft.add_argument("--params", type=float, required=True, help="model parameters N")
    ft.add_argument("--tokens", type=float, required=True, help="planned target-language training tokens D")
    ft.add_argument("--fit", default=None, metavar="FILE", help='JSON with your crossover law {"a": .., "b": ..}')
    ft.add_argument("--a", type=float, default=None, help="crossover law coefficient a (with --b)")
    ft.add_argument("--b", type=float, default=None, help="crossover law exponent b (with --a)")
    ft.add_argument("--base-tokens", type=float, default=None, help="tokens the base model was trained on (adds compute_with_base)")
    ft.add_argument("--json", action="store_true", help="print one JSON object")
    ft.set_defaults(func=run_finetune)

    opt = sub.add_parser("optimal", help="compute-optimal N and D for a FLOP budget from a fitted CSL or K-law",
                         description="Reads the JSON of `python -m atlas fit csl|klaw ... --json` (its params).")
    opt.add_argument("--compute", type=float, required=True, help="budget C = 6 N D_tot (FLOPs)")
    opt.add_argument("--fit", required=True, metavar="FILE", help="JSON output of `atlas fit` (csl or klaw)")
    opt.add_argument("--k", type=float, default=None, help="languages (K-law fits only)")
    opt.add_argument("--json", action="store_true", help="print one JSON object")
    opt.set_defaults(func=run_optimal)
    from atlas.commands.plan_sources import add_parser as add_sources  # `plan sources`: its own module

    add_sources(sub)


def _crossover_source(parser: argparse.ArgumentParser) -> None:
    """Name the default crossover law (atlas.planning.crossover imports pandas: only when help is printed)."""
    from atlas.planning.crossover import PAPER_CROSSOVER_LAW

    parser.description = (f"{parser.description.split(' Default law:')[0]} "
                          f"Default law: {PAPER_CROSSOVER_LAW.source}.")


def _check_languages(args: argparse.Namespace) -> None:
    """Whole numbers of languages; --w-n a share in [0, 1] that the requested outputs use."""
    for option, value in (("--from-k", args.from_k), ("--to-k", args.to_k)):
        if math.isfinite(value) and value > 0 and value != int(value):
            raise ValueError(f"{option} must be a whole number of languages, got {value:g}")
    if args.w_n is not None:
        if not 0 <= args.w_n <= 1:
            raise ValueError(f"--w-n is the parameter term's share of the reducible loss, in [0, 1]; got {args.w_n:g}")
        if args.n_multiplier is None and not 0 < args.w_n < 1:
            raise ValueError(f"--w-n {args.w_n:g} gives no plan on its own (the cheapest plan needs 0 < w_N < 1); "
                             "give --n-multiplier too, or a share strictly between 0 and 1")


def _emit(out: dict[str, Any], as_json: bool) -> None:
    out = _clean(out)
    if as_json:
        print(json.dumps(out, indent=2))
        return
    for k, v in out.items():
        if isinstance(v, float):
            sys.stdout.write(f"{k:>28}: {v:.6g}\n")
        else:
            sys.stdout.write(f"{k:>28}: {v}\n")


def run_languages(args: argparse.Namespace) -> int:
    _check_languages(args)
    m = isoloss.language_multipliers(args.from_k, args.to_k, phi=args.phi, psi=args.psi, alpha=args.alpha, beta=args.beta)
    defaults = all(getattr(args, k) == P[k] for k in P)
    out: dict[str, Any] = {
        "from_k": args.from_k,
        "to_k": args.to_k,
        **m,
        "exponents": {k: getattr(args, k) for k in ("phi", "psi", "alpha", "beta")},
        "exponents_source": isoloss.PAPER_SOURCE if defaults else "user",
        "assumes": "a compute-optimal starting point (w_N = beta/(alpha+beta)) and even sampling (D_tot = K D_t)",
    }
    if args.n_multiplier is not None or args.w_n is not None:
        w = isoloss.optimal_share(args.alpha, args.beta) if args.w_n is None else args.w_n
        kw = dict(w_N=w, alpha=args.alpha, beta=args.beta, phi=args.phi, psi=args.psi)
        if args.n_multiplier is not None:
            out["given_N_multiplier"] = {"N_multiplier": args.n_multiplier, **isoloss.iso_loss_data_multiplier(m["r"], args.n_multiplier, **kw)}
        if 0 < w < 1:
            out["cheapest_from_start"] = {"w_N": w, **isoloss.iso_loss_optimal(m["r"], **kw)}
    _emit(out, args.json)
    return 0


def run_finetune(args: argparse.Namespace) -> int:
    if (args.a is None) != (args.b is None):
        raise ValueError("give both --a and --b (C = a N^b), or neither")
    if args.fit is not None and args.a is not None:
        raise ValueError("give either --fit FILE or --a/--b, not both")
    fitted: Any = args.fit
    if args.a is not None:
        fitted = {"a": args.a, "b": args.b, "source": "user (--a/--b)"}
    from atlas.planning import crossover

    out = crossover.decide(args.target, args.params, args.tokens, fitted, base_tokens=args.base_tokens)
    _emit(out, args.json)
    return 0


def run_optimal(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.compute) and args.compute > 0):
        raise ValueError(f"--compute must be a positive number of FLOPs, got {args.compute:g}")
    from atlas.planning import optimal
    from atlas.records import read_user_json

    spec = read_user_json(args.fit, "fit file")
    params = spec.get("params", spec)
    law = spec.get("law", "klaw" if "phi" in params else "csl")
    if law == "klaw" or "phi" in params:
        if args.k is None:
            raise ValueError("a K-law fit needs --k (number of languages)")
        res = optimal.compute_optimal_klaw(args.compute, args.k, params)
    else:
        if args.k is not None:
            raise ValueError(f"--k applies to K-law fits only; {args.fit} holds a {law!r} fit")
        res = optimal.compute_optimal(args.compute, params)
    out = {k: (float(v) if hasattr(v, "__float__") else v) for k, v in res.items()}
    out["law"] = law
    _emit(out, args.json)
    return 0
