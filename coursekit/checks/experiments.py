"""Check that a skip-versus-no-skip comparison is fair: the two arms differ only in the skips.

A comparison is only evidence if everything else is equal. The learner passes both arms'
models (before training) and training configurations; the check finds the first thing that
differs besides the residual connections: architecture (depth, widths), initial weights
(different seeds), or training (steps, learning rate, batch size, data order).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..nn import Stack
from ..training import TrainConfig
from .core import CheckFailed, check

HINTS = {
    "types": "pass two torch.nn.Module models and two coursekit.TrainConfig objects",
    "widths": "the arms have different architectures: keep depth and widths equal, change only residual",
    "seeds": "the arms start from different weights: call seed_everything(seed) with the same seed before "
    "building each arm",
    "same_arm": "both arms are the same network: build one with residual=False and one with residual=True "
    "(for BatchNormNet: shortcut='none' and shortcut='identity')",
    "steps": "the arms train for different numbers of steps: use one TrainConfig for both",
    "training": "the arms train differently: use one TrainConfig (learning rate, batch size, seed) for both",
    "settings": "the arms differ in a setting besides the skip: build both with the same settings and change "
    "only the skip switch (residual=True/False, shortcut='none'/'identity')",
    "shared": "the arms share modules, so training one trains the other: build each arm on its own "
    "(the same seed before each constructor call), or copy.deepcopy the weights",
    "frozen": "one arm has frozen parameters (requires_grad=False): let both arms train every parameter",
    "mode": "one arm is in train mode and the other in eval mode: leave both as built (train mode)",
    "dtype": "the arms have different dtypes or devices: build both the same way",
}

SKIP_WORDS = ("resid", "skip", "shortcut")


def _is_skip(name: str) -> bool:
    return any(w in name.lower() for w in SKIP_WORDS)


def _plain(value: object) -> dict[str, object] | None:
    """The fields of a dataclass (a StackConfig), or None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return None


def _setting_differences(a: nn.Module, b: nn.Module) -> list[str]:
    """Plain attributes (and dataclass fields, buffers) that differ between same-named modules, skips aside.

    The skip switch is an attribute whose name says so (residual, skip, shortcut), or, when
    none does, the one True/False attribute that differs (``self.plain``, ``self.use_res``).
    """
    modules_b = dict(b.named_modules())
    found: list[tuple[str, str, bool]] = []  # (attribute name, description, a True/False switch)
    for name, ma in a.named_modules():
        mb = modules_b.get(name)
        if mb is None or type(ma) is not type(mb):
            continue
        where = f"{name}." if name else ""
        va = {k: v for k, v in vars(ma).items() if not k.startswith("_") and k != "training"}
        vb = {k: v for k, v in vars(mb).items() if not k.startswith("_") and k != "training"}
        for key in sorted(set(va) | set(vb)):
            if _is_skip(key):
                continue
            x, y = va.get(key), vb.get(key)
            fx, fy = _plain(x), _plain(y)
            if fx is not None and fy is not None:
                found += [
                    (f, f"{where}{key}.{f}", isinstance(fx[f], bool))
                    for f in fx
                    if not _is_skip(f) and fx[f] != fy.get(f)
                ]
            elif repr(x) != repr(y):
                found.append(
                    (key, f"{where}{key} ({x!r} against {y!r})", isinstance(x, bool) and isinstance(y, bool))
                )
        buffers_b = dict(mb.named_buffers(recurse=False))
        for key, buf in ma.named_buffers(recurse=False):
            other = buffers_b.get(key)
            if _is_skip(key) or other is None:
                continue
            if buf.shape != other.shape or not torch.equal(buf, other):
                found.append((key, f"{where}{key} (a buffer)", False))
    switches = {key for key, _, is_bool in found if is_bool}
    if len(switches) == 1 and not _has_skip_setting(a, b):
        found = [f for f in found if f[0] not in switches]
    return [description for _, description, _ in found]


def _has_skip_setting(a: nn.Module, b: nn.Module) -> bool:
    """Whether the arms differ in an attribute named for the skip (then that is the switch)."""
    for (_, ma), (_, mb) in zip(a.named_modules(), b.named_modules(), strict=False):
        for key, value in vars(ma).items():
            if _is_skip(key) and not key.startswith("_") and repr(value) != repr(vars(mb).get(key)):
                return True
            fields = _plain(value)
            if fields is not None and any(
                _is_skip(f) and fields[f] != getattr(vars(mb).get(key), f, None) for f in fields
            ):
                return True
    return False


def _settings(model: nn.Module) -> list[tuple]:
    """Every module's class and plain attributes: where a ``residual=True/False`` flag lives."""
    return [
        (name, type(m), sorted((k, repr(v)) for k, v in vars(m).items() if not k.startswith("_")))
        for name, m in model.named_modules()
    ]


def _same_network(a: nn.Module, b: nn.Module) -> bool:
    """Same modules, settings, weights and buffers: the two compute the same function."""
    buffers_a, buffers_b = list(a.buffers()), list(b.buffers())
    return (
        a is b
        or _settings(a) == _settings(b)
        and len(buffers_a) == len(buffers_b)
        and all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(buffers_a, buffers_b, strict=True))
    )


def _shapes(model: nn.Module) -> list[tuple[int, ...]]:
    """Parameter shapes in order (names differ: a residual wraps its branch in one more module)."""
    return [tuple(p.shape) for p in model.parameters()]


@check("fair_comparison")
def check_fair_comparison(
    plain: object, residual: object, plain_config: object, residual_config: object
) -> None:
    """Check that the two untrained arms and their ``TrainConfig``s differ only in the skips."""
    if not all(isinstance(m, nn.Module) for m in (plain, residual)) or not all(
        isinstance(c, TrainConfig) for c in (plain_config, residual_config)
    ):
        raise CheckFailed(
            "expected (plain model, residual model, plain TrainConfig, residual TrainConfig)", HINTS["types"]
        )
    if _shapes(plain) != _shapes(residual):  # type: ignore[arg-type]
        count = [sum(p.numel() for p in m.parameters()) for m in (plain, residual)]  # type: ignore[union-attr]
        raise CheckFailed(
            f"the arms have {count[0]} and {count[1]} parameters, or differently shaped ones", HINTS["widths"]
        )
    if isinstance(plain, Stack) and isinstance(residual, Stack):
        if plain.config.residual == residual.config.residual:
            raise CheckFailed(f"both arms have residual={plain.config.residual}", HINTS["same_arm"])
        if dataclasses.replace(plain.config, residual=residual.config.residual) != residual.config:
            raise CheckFailed("the arms' StackConfigs differ in more than residual", HINTS["widths"])
    own = {id(p) for p in plain.parameters()}  # type: ignore[union-attr]
    if plain is not residual and any(id(p) in own for p in residual.parameters()):  # type: ignore[union-attr]
        raise CheckFailed("the two arms share parameter tensors", HINTS["shared"])
    modes = [{m.training for m in arm.modules()} for arm in (plain, residual)]  # type: ignore[union-attr]
    if modes[0] != modes[1]:
        raise CheckFailed("the arms are in different train/eval modes", HINTS["mode"])
    for (name, a), b in zip(plain.named_parameters(), residual.parameters(), strict=True):  # type: ignore[union-attr]
        if a.dtype != b.dtype or a.device != b.device:
            raise CheckFailed(
                f"the arms' {name} are {a.dtype} on {a.device} and {b.dtype} on {b.device}", HINTS["dtype"]
            )
        if a.requires_grad != b.requires_grad:
            raise CheckFailed(f"the arms' {name} differ in requires_grad", HINTS["frozen"])
        if not torch.equal(a, b):
            raise CheckFailed(f"the arms' initial {name} differ", HINTS["seeds"])
    if _same_network(plain, residual):  # type: ignore[arg-type]
        raise CheckFailed("the two arms have the same modules, settings and weights", HINTS["same_arm"])
    differ = _setting_differences(plain, residual)  # type: ignore[arg-type]
    if differ:
        raise CheckFailed(f"the arms differ besides the skip: {', '.join(differ[:3])}", HINTS["settings"])
    if plain_config != residual_config:
        fields = [f.name for f in dataclasses.fields(TrainConfig)]
        differ = [f for f in fields if getattr(plain_config, f) != getattr(residual_config, f)]
        raise CheckFailed(
            f"the TrainConfigs differ in {', '.join(differ)}",
            HINTS["steps" if "steps" in differ else "training"],
        )
