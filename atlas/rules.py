"""Pre-registered verdict rules: the status of a claim follows from our numbers and their noise, nothing else.

Every chapter judges a claim of the paper through one of the rules below; the book's appendix quotes
:data:`STATUS_DEFINITIONS` and :data:`RULES` verbatim (:func:`rules_markdown`). The rules were written before
looking at the redesigned study's results, and tests (``tests/test_rules.py``) hold each one to hand-made
cases on both sides of its thresholds.

Noise is the caller's to state (:class:`Noise`): a **seed s.d.** (the spread of the quantity over seeds;
the rule widens it by :data:`K_NOISE`) or a **bootstrap CI** (percentile interval of the quantity itself,
used as it is). For an ordering ``a > b`` the noise is that of the *difference* ``a - b``
(:func:`diff_sd` combines two independent s.d.s). A fit diagnosis (``flags`` such as ``at_bound:lam`` or
``not_identified:R_D_star``, from :attr:`atlas.fit.FitResult.flags`) can only lower a status: a number
resting on a flagged fit is never "reproduced".

This module is science layer: it imports nothing from chapters or the book.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

import numpy as np

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
NOT_TESTABLE = "not testable"
STATUSES = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTABLE)

#: a seed s.d. is widened to K_NOISE s.d. (about a 95 % band for a normal quantity, the level of our CIs)
K_NOISE = 2.0

STATUS_DEFINITIONS: dict[str, str] = {
    REPRODUCED: (
        "The paper's direction (or value) holds in our numbers by more than the noise, and no number the "
        "verdict rests on comes from a fit with a parameter on its bound or that is not identified."
    ),
    NOT_REPRODUCED: (
        "Our numbers contradict the paper beyond the noise (the opposite direction, a value outside the "
        "tolerance by more than the noise, no crossover in the measured range), or they tie within a noise "
        "small enough that an effect of the paper's own size would have shown."
    ),
    INCONCLUSIVE: (
        "Our numbers cannot decide: the difference lies within the noise (and the paper's own effect, when "
        "known, is no larger than that noise), or the paper's direction holds but rests on a fit with a "
        "parameter on its bound or not identified, or no noise estimate exists."
    ),
    NOT_TESTABLE: "The miniature study cannot test the claim at all; the verdict says why (a reason is required).",
}

RULES: dict[str, str] = {
    "noise": (
        f"Noise is either a seed s.d. of the judged quantity, widened to {K_NOISE:g} s.d., or a percentile "
        "bootstrap CI of the judged quantity, used as it is; the verdict states which. For an ordering the "
        "noise is that of the difference (independent s.d.s add in quadrature). Without a noise estimate "
        "no claim is reproduced (except an existence, whose location's CI is optional). When a quantity has both "
        "(a seed s.d. and a bootstrap CI over languages, say), the wider band is read; if either cannot be "
        "estimated, there is no noise estimate."
    ),
    "flags": (
        "A number resting on a fit flagged at_bound (a parameter on its bound) or not_identified (near-best "
        "optima from different starts disagree) or no_information (no data move the parameter) can never be "
        "reproduced: a verdict that the numbers alone would call reproduced becomes inconclusive. A verdict "
        "of not reproduced stays, with the flags in its reason."
    ),
    "ordering": (
        f"Paper: a > b. Reproduced if a - b > {K_NOISE:g} s.d. of the difference (or its CI lies above 0); not "
        "reproduced if b - a exceeds that (or the CI lies below 0). A tie within the noise is inconclusive, "
        "unless the paper's own difference is larger than our noise band, in which case it is not reproduced "
        "(our runs would have seen an effect of the paper's size)."
    ),
    "sign": (
        f"Paper: the quantity is positive (or negative). Reproduced if the CI excludes 0 on the paper's side "
        f"(or the value is beyond {K_NOISE:g} s.d. on that side); not reproduced if it is beyond the noise on "
        "the other side. Within the noise of 0: inconclusive, unless the paper's own value is larger than our "
        "noise band, then not reproduced."
    ),
    "value": (
        "Paper: the quantity equals v. Reproduced if |ours - v| <= tol and our noise band is no wider than "
        "+-tol (precise enough to tell agreement from disagreement); not reproduced if our whole noise band "
        "lies outside [v - tol, v + tol]; inconclusive otherwise."
    ),
    "trend": (
        f"Paper: y increases (or decreases) along x. Each consecutive step must move in the paper's direction "
        f"by more than {K_NOISE:g} s.d. of the step (the s.d.s of its two ends in quadrature). Reproduced if "
        "every step does; not reproduced if any step moves against the direction beyond its noise; "
        "inconclusive otherwise."
    ),
    "rank_trend": (
        "Paper: y increases (or decreases) along x, judged by a rank correlation (Spearman or Kendall) with a "
        "bootstrap CI: the sign rule applied to the correlation."
    ),
    "existence": (
        "Paper: a point (e.g. a crossover) exists. Reproduced if ours lies inside the valid measured range "
        "(which excludes regions the measurement cannot resolve, such as a warmup) and so does its whole CI "
        "when one is given; not reproduced if none is found in that range (and, where the remaining gap to it "
        "at the range's end is measured, that gap exceeds its noise); inconclusive if it is found only by "
        "extrapolation, its CI leaves the range, or none is found but the remaining gap lies within the noise."
    ),
    "not_testable": "Not testable requires a stated reason; it never counts as reproduced or as a failure.",
}


class RuleError(ValueError):
    """A rule was called with inputs it cannot judge (NaN noise, unknown direction, empty reason)."""


# ----------------------------------------------------------------------------------------------------------
# noise and the verdict record


@dataclass(frozen=True)
class Noise:
    """The uncertainty of the judged quantity: a seed s.d. (``kind="sd"``), a CI (``"ci"``) or none (``"none"``).

    Build with :meth:`seed_sd`, :meth:`bootstrap_ci` or :meth:`unknown`. Units: those of the quantity.
    """

    kind: str
    sd: float = math.nan
    lo: float = math.nan
    hi: float = math.nan
    level: float = 0.95
    source: str = ""  # e.g. "5 seeds", "200 bootstrap replicates"

    @classmethod
    def seed_sd(cls, sd: float, source: str = "seeds") -> "Noise":
        sd = float(sd)
        if not math.isfinite(sd) or sd < 0:
            raise RuleError(f"a seed s.d. must be finite and >= 0, got {sd!r}")
        return cls("sd", sd=sd, source=source)

    @classmethod
    def bootstrap_ci(cls, lo: float, hi: float, level: float = 0.95, source: str = "bootstrap") -> "Noise":
        lo, hi = float(lo), float(hi)
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
            raise RuleError(f"a CI needs finite lo <= hi, got [{lo!r}, {hi!r}]")
        return cls("ci", lo=lo, hi=hi, level=float(level), source=source)

    @classmethod
    def unknown(cls, source: str = "no noise estimate") -> "Noise":
        return cls("none", source=source)

    def band(self, estimate: float, k: float = K_NOISE) -> tuple[float, float]:
        """The interval the rules read: ``estimate +- k sd``, the CI itself, or (-inf, inf) for no noise."""
        if self.kind == "sd":
            return estimate - k * self.sd, estimate + k * self.sd
        if self.kind == "ci":
            return self.lo, self.hi
        return -math.inf, math.inf

    def halfwidth(self, k: float = K_NOISE) -> float:
        """Half the band's width (``k sd``, or half the CI): the smallest effect the noise lets us resolve."""
        if self.kind == "sd":
            return k * self.sd
        if self.kind == "ci":
            return (self.hi - self.lo) / 2
        return math.inf

    def describe(self, k: float = K_NOISE) -> str:
        if self.kind == "sd":
            return f"seed s.d. {fmt(self.sd)} ({self.source}; band {fmt(k)} s.d.)"
        if self.kind == "ci":
            return f"{self.level:.0%} {self.source} CI [{fmt(self.lo)}, {fmt(self.hi)}]"
        return self.source or "no noise estimate"


def wider(*noises: Noise, k: float = K_NOISE) -> Noise:
    """The noise with the widest band among ``noises``: when a quantity has two estimates of its uncertainty,
    the rules read the more cautious one. If any of them could not be estimated (unknown), the result is that
    unknown noise: one estimate alone (a seed s.d. of one replicated run, say) may be only a lower bound."""
    if not noises:
        raise RuleError("wider() needs at least one noise")
    unknown = [n for n in noises if n.kind == "none"]
    return unknown[0] if unknown else max(noises, key=lambda n: n.halfwidth(k))


@dataclass(frozen=True)
class Verdict:
    """One judged claim: the paper's number, ours (readable text), the status and the rule that gave it."""

    claim: str
    paper: str
    ours: str
    status: str  # one of STATUSES
    rule: str  # a key of RULES
    reason: str
    noise: str  # the noise the rule read, in words

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise RuleError(f"status {self.status!r}; allowed: {', '.join(STATUSES)}")
        if self.rule not in RULES:
            raise RuleError(f"rule {self.rule!r}; known: {', '.join(RULES)}")

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def fmt(x: Any, digits: int = 3) -> str:
    """A number as short readable text (``0.94``, ``1.2e+09``, ``nan``): never a numpy repr."""
    if x is None:
        return "n/a"
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "nan"
    return f"{v:.{digits}g}"


def diff_sd(sd_a: float, sd_b: float) -> float:
    """The s.d. of ``a - b`` for independent ``a`` and ``b`` (units of a and b)."""
    return float(math.hypot(float(sd_a), float(sd_b)))


def _flagged(flags: Iterable[str] | None) -> list[str]:
    """The flags that bar "reproduced" (any fit diagnosis; an empty string is no flag)."""
    return [str(f) for f in (flags or ()) if str(f).strip()]


def _finish(claim: str, paper: str, ours: str, status: str, rule: str, reason: str, noise: Noise,
            flags: Iterable[str] | None, k: float, needs_noise: bool = True) -> Verdict:
    """Apply the flags rule (a flagged fit cannot be reproduced), and the noise rule, and build the verdict."""
    bad = _flagged(flags)
    if bad and status == REPRODUCED:
        status = INCONCLUSIVE
        reason = f"{reason}; but it rests on a flagged fit ({', '.join(bad)}), so it cannot count as reproduced"
    elif bad:
        reason = f"{reason}; fit flagged: {', '.join(bad)}"
    if needs_noise and noise.kind == "none" and status == REPRODUCED:
        status, reason = INCONCLUSIVE, f"{reason}; but there is no noise estimate to compare it with"
    return Verdict(claim, paper, ours, status, rule, reason, noise.describe(k))


def _finite(*xs: float) -> bool:
    return all(x is not None and math.isfinite(float(x)) for x in xs)


# ----------------------------------------------------------------------------------------------------------
# the rules


def ordering(
    claim: str,
    paper: str,
    a: float,
    b: float,
    noise: Noise,
    *,
    names: tuple[str, str] = ("a", "b"),
    paper_gap: float | None = None,
    flags: Iterable[str] | None = None,
    k: float = K_NOISE,
) -> Verdict:
    """Paper: ``a > b``. ``noise`` is that of ``a - b`` (seed s.d. or CI of the difference).

    A tie within the noise is ``inconclusive``; it is ``not reproduced`` when the paper's own difference
    ``paper_gap`` exceeds our noise half-width (an effect of the paper's size would have shown).
    """
    na, nb = names
    ours = f"{na} {fmt(a)} vs {nb} {fmt(b)} (difference {fmt(a - b) if _finite(a, b) else 'nan'})"
    if not _finite(a, b):
        return _finish(claim, paper, ours, NOT_REPRODUCED, "ordering", "a number is missing (NaN): the comparison failed", noise, flags, k)
    d = float(a) - float(b)
    lo, hi = noise.band(d, k)
    if lo > 0:
        status, reason = REPRODUCED, f"{na} exceeds {nb} beyond the noise (band of the difference [{fmt(lo)}, {fmt(hi)}])"
    elif hi < 0:
        status, reason = NOT_REPRODUCED, f"{nb} exceeds {na} beyond the noise (band of the difference [{fmt(lo)}, {fmt(hi)}]): the order is reversed"
    else:
        status, reason = _tie(f"the difference {fmt(d)} lies within the noise (band [{fmt(lo)}, {fmt(hi)}])",
                              paper_gap, noise, k)
    return _finish(claim, paper, ours, status, "ordering", reason, noise, flags, k)


def _tie(what: str, paper_effect: float | None, noise: Noise, k: float) -> tuple[str, str]:
    """A result within the noise: inconclusive, or not reproduced when the paper's effect would have shown."""
    w = noise.halfwidth(k)
    if paper_effect is not None and _finite(paper_effect) and abs(float(paper_effect)) > w:
        return NOT_REPRODUCED, f"{what}, although the paper's effect ({fmt(paper_effect)}) exceeds our noise (+-{fmt(w)})"
    return INCONCLUSIVE, f"{what}: a tie"


def sign(
    claim: str,
    paper: str,
    value: float,
    noise: Noise,
    *,
    expected: str = "positive",
    name: str = "value",
    paper_value: float | None = None,
    flags: Iterable[str] | None = None,
    k: float = K_NOISE,
) -> Verdict:
    """Paper: ``value`` is ``expected`` (``"positive"`` or ``"negative"``); ``noise`` is that of ``value``."""
    if expected not in ("positive", "negative"):
        raise RuleError(f"expected must be 'positive' or 'negative', got {expected!r}")
    ours = f"{name} = {fmt(value)}"
    if not _finite(value):
        return _finish(claim, paper, ours, NOT_REPRODUCED, "sign", "the number is missing (NaN)", noise, flags, k)
    lo, hi = noise.band(float(value), k)
    if noise.kind == "ci":
        ours += f" [{fmt(lo)}, {fmt(hi)}]"
    s = 1.0 if expected == "positive" else -1.0
    near, far = (lo, hi) if s > 0 else (-hi, -lo)  # the band seen from the paper's side
    if near > 0:
        status, reason = REPRODUCED, f"the band [{fmt(lo)}, {fmt(hi)}] excludes 0 on the {expected} side"
    elif far < 0:
        status, reason = NOT_REPRODUCED, f"the band [{fmt(lo)}, {fmt(hi)}] lies on the other side of 0"
    else:
        status, reason = _tie(f"the band [{fmt(lo)}, {fmt(hi)}] contains 0", paper_value, noise, k)
    return _finish(claim, paper, ours, status, "sign", reason, noise, flags, k)


def value(
    claim: str,
    paper: str,
    ours_value: float,
    paper_value: float,
    tol: float,
    noise: Noise,
    *,
    relative: bool = False,
    name: str = "value",
    flags: Iterable[str] | None = None,
    k: float = K_NOISE,
) -> Verdict:
    """Paper: the quantity equals ``paper_value`` within ``tol`` (absolute, or ``tol * |paper_value|``)."""
    if not _finite(tol) or tol < 0:
        raise RuleError(f"tol must be finite and >= 0, got {tol!r}")
    ours = f"{name} = {fmt(ours_value)}"
    if not _finite(ours_value, paper_value):
        return _finish(claim, paper, ours, NOT_REPRODUCED, "value", "a number is missing (NaN)", noise, flags, k)
    t = float(tol) * (abs(float(paper_value)) if relative else 1.0)
    lo, hi = noise.band(float(ours_value), k)
    if noise.kind == "ci":
        ours += f" [{fmt(lo)}, {fmt(hi)}]"
    off = abs(float(ours_value) - float(paper_value))
    target = f"[{fmt(paper_value - t)}, {fmt(paper_value + t)}]"
    w = noise.halfwidth(k)
    if off <= t and w <= t:
        status, reason = REPRODUCED, f"within the tolerance band {target}, with noise (+-{fmt(w)}) no wider than it"
    elif hi < paper_value - t or lo > paper_value + t:
        status, reason = NOT_REPRODUCED, f"our noise band [{fmt(lo)}, {fmt(hi)}] lies outside the tolerance band {target}"
    elif off <= t:
        status, reason = INCONCLUSIVE, f"within the tolerance band {target}, but our noise (+-{fmt(w)}) is wider than it"
    else:
        status, reason = INCONCLUSIVE, f"outside the tolerance band {target}, but our noise band [{fmt(lo)}, {fmt(hi)}] reaches it"
    return _finish(claim, paper, ours, status, "value", reason, noise, flags, k)


def trend(
    claim: str,
    paper: str,
    x: Sequence[float],
    y: Sequence[float],
    y_sd: float | Sequence[float],
    *,
    direction: str = "increasing",
    source: str = "seeds",
    flags: Iterable[str] | None = None,
    k: float = K_NOISE,
) -> Verdict:
    """Paper: ``y`` moves in ``direction`` along ``x``; ``y_sd`` is the seed s.d. of each ``y`` (or one for all).

    Every consecutive step (sorted by ``x``) is judged with the s.d. of its two ends in quadrature.
    """
    if direction not in ("increasing", "decreasing"):
        raise RuleError(f"direction must be 'increasing' or 'decreasing', got {direction!r}")
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    sds = np.broadcast_to(np.asarray(y_sd, float), ys.shape)
    if len(xs) != len(ys) or len(ys) < 2:
        raise RuleError(f"a trend needs >= 2 points with one x per y, got {len(xs)} x and {len(ys)} y")
    order = np.argsort(xs, kind="stable")
    xs, ys, sds = xs[order], ys[order], sds[order]
    ours = ", ".join(f"{fmt(a)}: {fmt(b)}" for a, b in zip(xs, ys))
    step_sd = np.hypot(sds[1:], sds[:-1])
    noise = Noise.seed_sd(float(np.max(step_sd)), f"{source}; largest step s.d.")
    if not np.all(np.isfinite(ys)):
        return _finish(claim, paper, ours, NOT_REPRODUCED, "trend", "a number is missing (NaN)", noise, flags, k)
    steps = np.diff(ys) * (1.0 if direction == "increasing" else -1.0)  # > 0: the paper's direction
    beyond = steps > k * step_sd
    against = steps < -k * step_sd
    if beyond.all():
        status, reason = REPRODUCED, f"all {len(steps)} steps are {direction} beyond {fmt(k)} s.d."
    elif against.any():
        i = int(np.argmax(against))
        status, reason = NOT_REPRODUCED, (f"the step {fmt(xs[i])} -> {fmt(xs[i + 1])} goes against the trend beyond the "
                                          f"noise ({fmt(ys[i])} -> {fmt(ys[i + 1])})")
    else:
        status, reason = INCONCLUSIVE, f"{int(beyond.sum())} of {len(steps)} steps are {direction} beyond the noise; the others tie"
    return _finish(claim, paper, ours, status, "trend", reason, noise, flags, k)


def rank_trend(
    claim: str,
    paper: str,
    rho: float,
    noise: Noise,
    *,
    direction: str = "increasing",
    method: str = "Spearman",
    flags: Iterable[str] | None = None,
    k: float = K_NOISE,
) -> Verdict:
    """Paper: a monotone trend; judged by the sign of a rank correlation ``rho`` and its CI (or s.d.)."""
    if direction not in ("increasing", "decreasing"):
        raise RuleError(f"direction must be 'increasing' or 'decreasing', got {direction!r}")
    v = sign(claim, paper, rho, noise, expected="positive" if direction == "increasing" else "negative",
             name=f"{method} rho", flags=flags, k=k)
    return Verdict(v.claim, v.paper, v.ours, v.status, "rank_trend", v.reason, v.noise)


def existence(
    claim: str,
    paper: str,
    found: float | None,
    valid_range: tuple[float, float],
    *,
    noise: Noise | None = None,
    name: str = "crossover",
    unit: str = "",
    flags: Iterable[str] | None = None,
    k: float = K_NOISE,
    gap: float | None = None,
    gap_noise: Noise | None = None,
) -> Verdict:
    """Paper: a point exists (e.g. a crossover). ``found`` is ours (None/NaN: none in the searched range);
    ``valid_range`` is where the measurement can resolve it (e.g. after warmup, up to the last budget).
    ``gap``: with none found, how far the measurement still is from the point at the range's end (e.g.
    finetuning's remaining lead, nats), with its noise ``gap_noise``: a gap inside the noise band cannot tell
    "no point" from "a point just beyond the range", so it is inconclusive, not a refutation."""
    lo_r, hi_r = map(float, valid_range)
    if not lo_r < hi_r:
        raise RuleError(f"valid_range must have lo < hi, got {valid_range!r}")
    noise = noise or Noise.unknown("no CI of the location")
    u = f" {unit}" if unit else ""
    rng = f"[{fmt(lo_r)}, {fmt(hi_r)}]{u}"
    if found is None or not _finite(found):
        if gap is not None and _finite(gap) and gap_noise is not None and gap_noise.kind != "none":
            half = gap_noise.halfwidth(k)
            if abs(float(gap)) <= half:
                return _finish(claim, paper, f"no {name} in {rng}; remaining gap {fmt(gap)}", INCONCLUSIVE,
                               "existence", f"no {name} inside {rng}, but the remaining gap {fmt(gap)} lies within "
                               f"the noise (+-{fmt(half)}): the {name} may lie just beyond the range", gap_noise,
                               flags, k)
            return _finish(claim, paper, f"no {name} in {rng}; remaining gap {fmt(gap)}", NOT_REPRODUCED,
                           "existence", f"no {name} inside the valid measured range {rng}, and the remaining gap "
                           f"{fmt(gap)} exceeds the noise (+-{fmt(half)})", gap_noise, flags, k)
        return _finish(claim, paper, f"no {name} in {rng}", NOT_REPRODUCED, "existence",
                       f"no {name} inside the valid measured range {rng}", noise, flags, k)
    x = float(found)
    ours = f"{name} at {fmt(x)}{u}"
    if not lo_r <= x <= hi_r:
        status, reason = INCONCLUSIVE, f"the {name} lies outside the valid measured range {rng}: found only by extrapolation"
    elif noise.kind == "none":
        status, reason = REPRODUCED, f"the {name} lies inside the valid measured range {rng}"
    else:
        blo, bhi = noise.band(x, k)
        ours += f" (band [{fmt(blo)}, {fmt(bhi)}])"
        if lo_r <= blo and bhi <= hi_r:
            status, reason = REPRODUCED, f"the {name} and its whole noise band lie inside the valid measured range {rng}"
        else:
            status, reason = INCONCLUSIVE, f"the {name} lies inside {rng} but its noise band [{fmt(blo)}, {fmt(bhi)}] leaves it"
    # a location inside the range needs no CI to exist (its CI, when given, must stay inside too)
    return _finish(claim, paper, ours, status, "existence", reason, noise, flags, k, needs_noise=False)


def not_testable(claim: str, paper: str, reason: str, ours: str = "not measured") -> Verdict:
    """The miniature cannot test the claim; ``reason`` (required, non-empty) says why."""
    if not str(reason).strip():
        raise RuleError(f"'not testable' needs a reason (claim: {claim!r})")
    return Verdict(claim, paper, ours, NOT_TESTABLE, "not_testable", str(reason).strip(), "n/a")


# ----------------------------------------------------------------------------------------------------------
# the appendix text


def rules_markdown() -> str:
    """The statuses and rules as Markdown, for the book's appendix to quote verbatim."""
    lines = ["**Statuses**", ""]
    lines += [f"- **{s}**: {d}" for s, d in STATUS_DEFINITIONS.items()]
    lines += ["", "**Rules**", ""]
    lines += [f"- **{name}**: {text}" for name, text in RULES.items()]
    return "\n".join(lines) + "\n"
