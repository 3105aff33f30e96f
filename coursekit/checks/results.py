"""Check that a learner's own skip-versus-no-skip results show what lesson 5 measured.

The learner hands over training errors (%, one per seed) by depth and arm. The check does not
compare with a stored answer; it reads the results for the *effects* of the usual mistakes:
arms swapped, the two arms the same network, a depth too shallow to tell them apart, a
residual arm that fails too (the skip added in the wrong place, a rate too high, too few
steps), one seed only. :func:`check_skip_conclusion` then holds the learner's stated
conclusion, depth by depth, to those same numbers (as exercise 7's conclusion is held).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F

from ..experiments.models import BatchNormNet
from . import conclusions
from .conclusions import NO_DIFFERENCE
from .core import (
    CheckFailed,
    check,
    compare,
    construct,
    match_bug,
    require_class,
    require_from_scratch,
    require_function,
)
from .experiments import check_fair_comparison

ARMS = ("plain", "residual")

HINTS = {
    "format": 'pass {depth: {"plain": [error % per seed], "residual": [error % per seed]}}, '
    "one entry per depth you trained",
    "depths": "train at two or more depths: one shallow (2-4 blocks) and one deep (12 or more blocks)",
    "seeds": "train every arm with two or more seeds, so a difference is not one lucky initialisation",
    "percent": "report the error in percent (100 * error_rate(...)), not as a fraction",
    "same": "the two arms gave the same numbers: they are the same network. Does ResidualStack's block "
    "add its input (x + ...)?",
    "swapped": "the plain arm beats the residual arm at depth: are the two arms swapped, or does your "
    "residual block add something other than its input?",
    "not_deep": "at your deepest depth the plain stack still trains as well as the residual one: go deeper "
    "(lesson 5 saw the plain error rise from about 12 blocks)",
    "residual_fails": "the residual stack fails too: is x added before the last ReLU, as relu(x + F(x))? "
    "Is the learning rate the lesson's (0.5) and are there enough steps (3 epochs or more)?",
    "shallow": "even your shallowest plain stack fails: train longer, or check the block's layers "
    "(Linear -> BatchNorm -> ReLU -> Linear -> BatchNorm)",
}


def _arms(results: object) -> dict[int, dict[str, list[float]]]:
    """The results as ``{depth: {arm: [errors]}}``, or a failure that says what shape was expected."""
    if not isinstance(results, Mapping) or not results:
        raise CheckFailed(
            f"expected a dict of results by depth, got {type(results).__name__}", HINTS["format"]
        )
    table = {}
    for depth, arms in results.items():
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise CheckFailed(f"the keys should be depths (positive ints), got {depth!r}", HINTS["format"])
        if not isinstance(arms, Mapping) or set(arms) != set(ARMS):
            got = sorted(arms) if isinstance(arms, Mapping) else type(arms).__name__
            raise CheckFailed(
                f"depth {depth}: expected the arms 'plain' and 'residual', got {got}", HINTS["format"]
            )
        table[depth] = {}
        for arm in ARMS:
            values = arms[arm]
            if isinstance(values, (int, float)) and not isinstance(values, bool):
                values = [values]
            if not isinstance(values, (list, tuple)) or not values:
                raise CheckFailed(
                    f"depth {depth}, {arm}: expected a list of errors, got {values!r}", HINTS["format"]
                )
            for v in values:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise CheckFailed(f"depth {depth}, {arm}: {v!r} is not a finite number", HINTS["format"])
                if not 0 <= v <= 100:
                    raise CheckFailed(
                        f"depth {depth}, {arm}: an error of {v} % is impossible", HINTS["percent"]
                    )
            table[depth][arm] = [float(v) for v in values]
    return table


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


@check("skip_results")
def check_skip_results(results: object) -> str:
    """Check ``{depth: {"plain": [...], "residual": [...]}}`` (training error in %, per seed)
    for the lesson's finding: the residual stack clearly better at depth, both fine when shallow."""
    if results is None:
        raise NotImplementedError("no results yet: run_experiment is not written")
    table = _arms(results)
    if len(table) < 2:
        raise CheckFailed(f"results for {len(table)} depth; the comparison needs a curve", HINTS["depths"])
    if min(len(v) for arms in table.values() for v in arms.values()) < 2:
        raise CheckFailed("some arm was trained with one seed only", HINTS["seeds"])
    if all(arms["plain"] == arms["residual"] for arms in table.values()):
        raise CheckFailed("plain and residual gave identical errors at every depth", HINTS["same"])
    shallow, deep = min(table), max(table)
    plain_deep, residual_deep = _mean(table[deep]["plain"]), _mean(table[deep]["residual"])
    if residual_deep > plain_deep:
        raise CheckFailed(
            f"at {deep} blocks the residual stack's error ({residual_deep:.3g} %) is above the plain "
            f"stack's ({plain_deep:.3g} %)",
            HINTS["swapped"],
        )
    if _mean(table[shallow]["plain"]) > 10:
        raise CheckFailed(
            f"at {shallow} blocks the plain stack's error is {_mean(table[shallow]['plain']):.3g} %",
            HINTS["shallow"],
        )
    if residual_deep > 5:
        raise CheckFailed(
            f"at {deep} blocks the residual stack's error is {residual_deep:.3g} %", HINTS["residual_fails"]
        )
    if plain_deep < residual_deep + 5 or min(table[deep]["plain"]) <= max(table[deep]["residual"]):
        raise CheckFailed(
            f"at {deep} blocks: plain {plain_deep:.3g} %, residual {residual_deep:.3g} %, not clearly apart "
            "at every seed",
            HINTS["not_deep"],
        )
    return (
        f"at {deep} blocks the plain stack's training error is {plain_deep:.3g} % against the residual "
        f"stack's {residual_deep:.3g} % (at {shallow} blocks: {_mean(table[shallow]['plain']):.3g} % and "
        f"{_mean(table[shallow]['residual']):.3g} %): the lesson's degradation, measured by you"
    )


# ---- the learner's conclusion, held to their own numbers -----------------------------------------

TRAINING_ERROR = conclusions.Measure(
    name="training error",
    unit="%",
    unit_long="percent (points of training error)",
    source="results",
    access='results[depth]["plain"] and results[depth]["residual"]',
    tolerance=0.05,  # points: numbers stated to one decimal pass
)
TRAINS = 10.0  # % training error: below it a stack still trains (check_skip_results' shallow bar)


def _deeper(depth: int, data: dict[int, dict]) -> str:
    """Where the learner's data show the degradation (the residual arm clearly better) deeper
    than ``depth``, or that no depth they trained does."""
    shown = [d for d in sorted(data) if d > depth and data[d]["better"] == "residual"]
    if shown:
        return f"the degradation appears deeper: your data show it at {shown[0]} blocks"
    where = "none of your deeper depths shows it yet" if max(data) > depth else "you trained no deeper"
    return (
        f"the degradation appears deeper, and {where}: lesson 5 saw the plain error rise from about "
        "12 blocks, so train deeper to see it"
    )


def _why_no_difference(depth: int, data: dict[int, dict]) -> str:
    """Why the arms tie at ``depth``: the plain stack still trains there, neither does, or
    the seeds disagree too widely to tell."""
    plain, residual = (data[depth]["means"][arm] for arm in ARMS)
    errors = f"plain {plain:.2f} %, residual {residual:.2f} %"
    if plain <= TRAINS and residual <= TRAINS:
        return (
            f"at {depth} blocks the plain stack still trains ({errors}): the gap is within the spread "
            f"over seeds, so the skip does not matter yet at that depth; {_deeper(depth, data)}"
        )
    if plain > TRAINS and residual > TRAINS:
        return (
            f"at {depth} blocks neither stack trains ({errors}), so the tie says nothing about the "
            "skip: see check_skip_results' hint"
        )
    return (
        f"at {depth} blocks the seeds disagree widely ({errors}, spread {data[depth]['spread']:.2f} %): "
        "one arm fails on some seeds only; more seeds would tell whether the gap is real"
    )


def _stated_by_depth(conclusion: object, depths: list[int]) -> dict[int, object]:
    if not isinstance(conclusion, Mapping):
        raise CheckFailed(
            f"my_conclusion(results) returned {type(conclusion).__name__}, not a dict by depth",
            '{depth: {"better": ..., "difference": ..., "spread": ...}}, one entry per depth you trained',
        )
    extra = [d for d in conclusion if d not in depths]
    if extra:
        raise CheckFailed(
            f"you state a conclusion at {extra[0]!r} blocks, but your results have no such depth "
            f"(you trained {depths})",
            "state what your own results show, at the depths you trained, not a lesson's",
        )
    missing = [d for d in depths if d not in conclusion]
    if missing:
        raise CheckFailed(
            f"no conclusion at {missing[0]} blocks", "state one for every depth you trained: " + str(depths)
        )
    return conclusion


def _not_a_fraction(entry: Mapping, data: dict, depth: int) -> None:
    """Fail a difference or spread stated as a fraction where the results are in percent."""
    for key in ("difference", "spread"):
        stated, measured = entry[key], data[key]
        if (
            measured >= 1
            and abs(stated - measured) > TRAINING_ERROR.tolerance
            and abs(100 * stated - measured) <= 1
        ):
            raise CheckFailed(
                f"at {depth} blocks, the {key} you state, {stated:.2f}, is a fraction: your results give "
                f"{measured:.2f} %",
                HINTS["percent"],
            )


@check("skip_conclusion")
def check_skip_conclusion(my_conclusion: object, results: object) -> str:
    """The learner's conclusion, ``{depth: {"better", "difference", "spread"}}``, recomputed from
    their own ``results`` depth by depth: "plain", "residual" or "no clear difference" must be
    what the numbers show, and a tie is explained (the plain stack still trains there)."""
    if results is None:
        raise NotImplementedError("no results yet: run_experiment is not written")
    table = _arms(results)
    if min(len(v) for arms in table.values() for v in arms.values()) < 2:
        raise CheckFailed("some arm was trained with one seed only: there is no spread", HINTS["seeds"])
    if not callable(my_conclusion):
        raise CheckFailed(
            "pass your function my_conclusion itself", "check_skip_conclusion(my_conclusion, results)"
        )
    depths = sorted(table)
    data = {depth: conclusions.recompute(table[depth]) for depth in depths}
    stated = _stated_by_depth(my_conclusion(results), depths)
    for depth in depths:
        what = f"my_conclusion(results)[{depth}] must be"
        entry = conclusions.read_stated(stated[depth], what, TRAINING_ERROR)
        _not_a_fraction(entry, data[depth], depth)
        conclusions.judge(
            entry,
            data[depth],
            TRAINING_ERROR,
            at=f"at {depth} blocks, ",
            inside_spread=_why_no_difference(depth, data),
        )
    said = "; ".join(
        f"at {depth} blocks: {d['better']} (difference {d['difference']:.2f} %, spread {d['spread']:.2f} %)"
        for depth, d in data.items()
    )
    ties = [depth for depth, d in data.items() if d["better"] == NO_DIFFERENCE]
    if ties:
        return f"{said}. Why the tie: {_why_no_difference(ties[-1], data)}"
    return f"{said}: your conclusion follows from your numbers"


# ---- the two stacks themselves -------------------------------------------------------------

STACK_HINTS = {
    "attrs": "keep the contract's names: stem, blocks (an nn.ModuleList), norm, head; each block "
    "with linear1, norm1, linear2, norm2",
    "depth": "PlainStack(depth) must hold `depth` blocks in self.blocks",
    "params": "the two stacks must have exactly the same parameters: give ResidualStack the same "
    "layers as PlainStack and change only the forward",
    "from_reference": "build the stacks yourself from nn.Linear and nn.BatchNorm1d",
    "plain_has_skip": "PlainStack adds its input somewhere: a plain block is relu(F(x)), with no x +",
    "no_skip": "ResidualStack computes what a plain stack computes: its block should return relu(x + F(x))",
    "skip_after_relu": "the skip is added after the last ReLU: He et al.'s block is relu(x + F(x)), "
    "not x + relu(F(x))",
    "skip_one_layer": "the skip goes around one layer only: add x around both (x + BN(W2 relu(BN(W1 x)))), "
    "then the ReLU",
    "inner_relu": "the ReLU between the two layers is missing: F(x) = BN(W2 relu(BN(W1 x)))",
    "running_stats": "build every BatchNorm1d with track_running_stats=False, as the contract says "
    "(the trainer reads no running statistics)",
    "forward": "follow the contract: stem, every block in order, norm, head",
}

WIDTH, D_IN, CLASSES, DEPTH = 8, 5, 4, 3


def _reference_logits(learner: nn.Module, x: torch.Tensor, block_fn: object) -> torch.Tensor:
    """What the contract's stack computes with the learner's own weights, ``block_fn`` per block."""
    stem_linear, stem_norm = learner.stem[0], learner.stem[1]
    h = F.relu(F.batch_norm(stem_linear(x), None, None, stem_norm.weight, stem_norm.bias, training=True))
    for block in learner.blocks:
        h = block_fn(block, h)
    h = F.batch_norm(h, None, None, learner.norm.weight, learner.norm.bias, training=True)
    return learner.head(h)


def _bn(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return F.batch_norm(x, None, None, norm.weight, norm.bias, training=True)


def _branch(block: nn.Module, x: torch.Tensor, inner_relu: bool = True) -> torch.Tensor:
    h = _bn(block.norm1, block.linear1(x))
    return _bn(block.norm2, block.linear2(F.relu(h) if inner_relu else h))


BLOCKS = {
    "plain": lambda b, x: F.relu(_branch(b, x)),
    "residual": lambda b, x: F.relu(x + _branch(b, x)),
    "skip_after_relu": lambda b, x: x + F.relu(_branch(b, x)),
    "skip_one_layer": lambda b, x: F.relu(_bn(b.norm2, b.linear2(F.relu(x + _bn(b.norm1, b.linear1(x)))))),
    "inner_relu": lambda b, x: F.relu(x + _branch(b, x, inner_relu=False)),
}


def _build(cls: object, name: str) -> nn.Module:
    cls = require_class(cls, name, "check_skip_stacks")
    stack = construct(
        cls, name, f"{name}(depth, width=64, d_in=64, n_classes=10)", DEPTH, WIDTH, D_IN, CLASSES
    )
    blocks = getattr(stack, "blocks", None)
    parts = ("stem", "norm", "head")
    if not isinstance(blocks, nn.ModuleList) or not all(hasattr(stack, p) for p in parts):
        raise CheckFailed(
            f"{name} lacks one of stem, blocks (an nn.ModuleList), norm, head", STACK_HINTS["attrs"]
        )
    if len(blocks) != DEPTH:
        raise CheckFailed(f"{name}({DEPTH}, ...) has {len(blocks)} blocks", STACK_HINTS["depth"])
    layers = ("linear1", "norm1", "linear2", "norm2")
    if not all(hasattr(b, a) for b in blocks for a in layers):
        raise CheckFailed(f"a block of {name} lacks one of {', '.join(layers)}", STACK_HINTS["attrs"])
    if not isinstance(stack.stem, nn.Sequential) or len(stack.stem) < 2:
        raise CheckFailed(f"{name}.stem is not Sequential(Linear, BatchNorm1d, ReLU)", STACK_HINTS["attrs"])
    norms = [m for m in stack.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if any(m.track_running_stats for m in norms):
        raise CheckFailed(
            f"{name} has a BatchNorm that tracks running statistics", STACK_HINTS["running_stats"]
        )
    return stack


@check("skip_stacks")
def check_skip_stacks(PlainStack: type, ResidualStack: type) -> None:  # noqa: N803 - the learner's classes
    """Check the learner's ``PlainStack`` and ``ResidualStack``: same layers and parameters,
    block ``relu(F(x))`` against ``relu(x + F(x))`` with ``F(x) = BN(W2 relu(BN(W1 x)))``."""
    for cls, name in ((PlainStack, "PlainStack"), (ResidualStack, "ResidualStack")):
        require_from_scratch(
            require_class(cls, name, "check_skip_stacks"), (BatchNormNet,), "the course's net"
        )
    torch.manual_seed(0)
    plain, residual = _build(PlainStack, "PlainStack"), _build(ResidualStack, "ResidualStack")
    shapes = [[(n, tuple(p.shape)) for n, p in m.named_parameters()] for m in (plain, residual)]
    if shapes[0] != shapes[1]:
        raise CheckFailed("PlainStack and ResidualStack have different parameters", STACK_HINTS["params"])
    for module in (plain, residual):
        with torch.no_grad():  # non-trivial norms, so a wrongly placed one shows
            for m in module.modules():
                if isinstance(m, nn.BatchNorm1d):
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.5, 0.5)
    x = torch.randn(32, D_IN)
    for module, name, expected in ((plain, "PlainStack", "plain"), (residual, "ResidualStack", "residual")):
        module.train()
        y = module(x)
        if not isinstance(y, torch.Tensor) or y.shape != (32, CLASSES):
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise CheckFailed(f"{name} returned {got} for a (32, {D_IN}) batch, expected (32, {CLASSES})")
        with torch.no_grad():
            candidates = {kind: _reference_logits(module, x, fn) for kind, fn in BLOCKS.items()}
        bug = match_bug(y, {k: v for k, v in candidates.items() if k != expected})
        hint = {"residual": "plain_has_skip", "plain": "no_skip"}.get(bug, bug) if bug else "forward"
        compare(y, candidates[expected], f"{name}'s output", STACK_HINTS[hint])


# ---- the learner's two arms, built by their own function --------------------------------------

ARMS_HINTS = {
    "tuple": "make_arms(depth, seed) should return (plain, residual, plain_config, residual_config)",
    "seed": "make_arms(depth, 0) and make_arms(depth, 1) build the same weights: call "
    "seed_everything(seed) with the seed you were given before building each stack",
    "depth": "make_arms(depth, seed) should build stacks of `depth` blocks",
}


@check("skip_arms")
def check_skip_arms(make_arms: object) -> None:
    """Check the learner's ``make_arms(depth, seed)``: the two arms it builds differ only in
    the skips (:func:`~coursekit.checks.check_fair_comparison`), have ``depth`` blocks, and
    another seed gives other weights (so seeds really are repeats of the experiment)."""
    require_function(make_arms, "make_arms", "check_skip_arms")
    arms = make_arms(4, 0)
    if not isinstance(arms, tuple) or len(arms) != 4:
        raise CheckFailed(
            f"make_arms(4, 0) returned {type(arms).__name__}, not a 4-tuple", ARMS_HINTS["tuple"]
        )
    check_fair_comparison.__wrapped__(*arms)  # the fairness sub-checks, reported under this check
    blocks = getattr(arms[0], "blocks", None)
    if blocks is not None and len(blocks) != 4:
        raise CheckFailed(f"make_arms(4, 0) built {len(blocks)} blocks", ARMS_HINTS["depth"])
    other = make_arms(4, 1)
    same = all(torch.equal(a, b) for a, b in zip(arms[0].parameters(), other[0].parameters(), strict=True))
    if same:
        raise CheckFailed("seeds 0 and 1 give the plain arm the same initial weights", ARMS_HINTS["seed"])
