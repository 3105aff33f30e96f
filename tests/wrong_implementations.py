"""A catalogue of learner implementations: the usual wrong ones and correct ones in other styles.

``WRONG`` pairs each wrong class with the check it must fail and the key of the hint in
``coursekit.checks.norms.HINTS`` that the check must give; ``CORRECT`` lists classes,
written in different styles, that must pass.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class _LN(nn.Module):
    """Correct parameters; subclasses override ``normalise`` with their (wrong) formula."""

    def __init__(self, normalized_shape, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(normalized_shape))
        self.bias = nn.Parameter(torch.zeros(normalized_shape))

    def forward(self, x):
        return self.normalise(x) * self.weight + self.bias


class _RMS(nn.Module):
    def __init__(self, normalized_shape, eps=None):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(normalized_shape))

    def epsilon(self, x):
        return torch.finfo(x.dtype).eps if self.eps is None else self.eps

    def forward(self, x):
        return self.normalise(x) * self.weight


# --- LayerNorm: wrong -------------------------------------------------------------------


class LNEpsOutsideSqrt(_LN):
    def normalise(self, x):
        mean = x.mean(-1, keepdim=True)
        return (x - mean) / (x.var(-1, unbiased=False, keepdim=True).sqrt() + self.eps)


class LNUnbiasedVariance(_LN):
    def normalise(self, x):
        return (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + self.eps)


class LNUnbiasedStdEpsOutside(_LN):
    def normalise(self, x):
        return (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + self.eps)


class LNOverBatch(_LN):
    def normalise(self, x):
        mean = x.mean(0, keepdim=True)
        return (x - mean) / torch.sqrt(x.var(0, unbiased=False, keepdim=True) + self.eps)


class LNOverSequence(_LN):
    def normalise(self, x):
        mean = x.mean(1, keepdim=True)
        return (x - mean) / torch.sqrt(x.var(1, unbiased=False, keepdim=True) + self.eps)


class LNOverEverything(_LN):
    def normalise(self, x):
        return (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + self.eps)


class LNNoAffineInForward(_LN):
    def forward(self, x):
        return F.layer_norm(x, x.shape[-1:], eps=self.eps)


class LNNoBiasInForward(_LN):
    def forward(self, x):
        return F.layer_norm(x, x.shape[-1:], eps=self.eps) * self.weight


class LNNoBiasParameter(nn.Module):
    def __init__(self, normalized_shape, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(normalized_shape))

    def forward(self, x):
        return F.layer_norm(x, x.shape[-1:], self.weight, None, eps=self.eps)


class LNGainNotLearned(_LN):
    def __init__(self, normalized_shape, eps=1e-5):
        super().__init__(normalized_shape, eps)
        del self.weight
        self.weight = torch.ones(normalized_shape)  # a plain tensor: never trained

    def normalise(self, x):
        return F.layer_norm(x, x.shape[-1:], eps=self.eps)


class LNGainInitZero(_LN):
    def __init__(self, normalized_shape, eps=1e-5):
        super().__init__(normalized_shape, eps)
        self.weight = nn.Parameter(torch.zeros(normalized_shape))

    def normalise(self, x):
        return F.layer_norm(x, x.shape[-1:], eps=self.eps)


class LNBiasInitRandom(_LN):
    def __init__(self, normalized_shape, eps=1e-5):
        super().__init__(normalized_shape, eps)
        self.bias = nn.Parameter(torch.randn(normalized_shape))

    def normalise(self, x):
        return F.layer_norm(x, x.shape[-1:], eps=self.eps)


class LNEpsIgnored(_LN):
    def normalise(self, x):
        return (x - x.mean(-1, keepdim=True)) / x.var(-1, unbiased=False, keepdim=True).sqrt()


class LNEpsHardcoded(_LN):
    def normalise(self, x):
        return F.layer_norm(x, x.shape[-1:], eps=1e-5)


class LNNoCentering(_LN):
    def normalise(self, x):
        return x / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + self.eps)


class LNInPlace(_LN):
    def normalise(self, x):
        x -= x.mean(-1, keepdim=True)
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


class LNDetachedStatistics(_LN):
    def normalise(self, x):
        mean = x.mean(-1, keepdim=True).detach()
        var = x.var(-1, unbiased=False, keepdim=True).detach()
        return (x - mean) / torch.sqrt(var + self.eps)


class LNWrongDefaultEps(_LN):
    def __init__(self, normalized_shape, eps=1e-6):
        super().__init__(normalized_shape, eps)

    def normalise(self, x):
        return F.layer_norm(x, x.shape[-1:], eps=self.eps)


class LNFlattens(_LN):
    def normalise(self, x):
        x = x.reshape(-1, x.shape[-1])  # (batch * seq, d_model), never reshaped back
        return F.layer_norm(x, x.shape[-1:], eps=self.eps)


# --- RMSNorm: wrong ---------------------------------------------------------------------


class RMSCentred(_RMS):
    def normalise(self, x):
        x = x - x.mean(-1, keepdim=True)
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + self.epsilon(x))


class RMSEpsOutsideSqrt(_RMS):
    def normalise(self, x):
        return x / (x.pow(2).mean(-1, keepdim=True).sqrt() + self.epsilon(x))


class RMSNoSqrt(_RMS):
    def normalise(self, x):
        return x / (x.pow(2).mean(-1, keepdim=True) + self.epsilon(x))


class RMSSumNotMean(_RMS):
    def normalise(self, x):
        return x / torch.sqrt(x.pow(2).sum(-1, keepdim=True) + self.epsilon(x))


class RMSOverBatch(_RMS):
    def normalise(self, x):
        return x / torch.sqrt(x.pow(2).mean(0, keepdim=True) + self.epsilon(x))


class RMSNoGainInForward(_RMS):
    def forward(self, x):
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + self.epsilon(x))


class RMSEpsNoneAsFixed(_RMS):
    def normalise(self, x):
        eps = 1e-6 if self.eps is None else self.eps
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)


class RMSEpsIgnored(_RMS):
    def normalise(self, x):
        return x / x.pow(2).mean(-1, keepdim=True).sqrt()


class RMSNoWeight(nn.Module):
    def __init__(self, normalized_shape, eps=None):
        super().__init__()
        self.eps = eps

    def forward(self, x):
        return F.rms_norm(x, x.shape[-1:], eps=self.eps)


# --- correct, in different styles ---------------------------------------------------------


class LNVarUnbiasedFalse(_LN):
    def normalise(self, x):
        var, mean = torch.var_mean(x, dim=-1, unbiased=False, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps)


class LNRsqrt(_LN):
    def normalise(self, x):
        centred = x - x.mean(dim=-1, keepdim=True)
        return centred * torch.rsqrt(centred.pow(2).mean(dim=-1, keepdim=True) + self.eps)


class LNEinsum(_LN):
    def normalise(self, x):
        n = x.shape[-1]
        mean = torch.einsum("...d->...", x).unsqueeze(-1) / n
        centred = x - mean
        var = torch.einsum("...d,...d->...", centred, centred).unsqueeze(-1) / n
        return centred / (var + self.eps) ** 0.5


class LNFunctional(nn.Module):
    def __init__(self, normalized_shape, eps=1e-5):
        super().__init__()
        self.normalized_shape = (normalized_shape,)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(normalized_shape))
        self.bias = nn.Parameter(torch.zeros(normalized_shape))

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)


class LNSubclassOfTorch(nn.LayerNorm):
    pass


class RMSRsqrt(_RMS):
    def normalise(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.epsilon(x))


class RMSNormStyle(_RMS):
    def normalise(self, x):
        rms = x.norm(dim=-1, keepdim=True) / x.shape[-1] ** 0.5
        return x / torch.sqrt(rms**2 + self.epsilon(x))


class RMSFunctional(_RMS):
    def forward(self, x):
        return F.rms_norm(x, x.shape[-1:], self.weight, self.eps)


WRONG = [
    (LNEpsOutsideSqrt, "layer_norm", "eps_outside_sqrt"),
    (LNUnbiasedVariance, "layer_norm", "unbiased_variance"),
    (LNUnbiasedStdEpsOutside, "layer_norm", "unbiased_std_eps_outside"),
    (LNOverBatch, "layer_norm", "wrong_dim"),
    (LNOverSequence, "layer_norm", "wrong_dim"),
    (LNOverEverything, "layer_norm", "wrong_dim"),
    (LNNoAffineInForward, "layer_norm", "no_affine"),
    (LNNoBiasInForward, "layer_norm", "no_bias"),
    (LNNoBiasParameter, "layer_norm", "missing_bias"),
    (LNGainNotLearned, "layer_norm", "missing_gain"),
    (LNGainInitZero, "layer_norm", "gain_init"),
    (LNBiasInitRandom, "layer_norm", "bias_init"),
    (LNEpsIgnored, "layer_norm", "eps_ignored"),
    (LNEpsHardcoded, "layer_norm", "eps_hardcoded"),
    (LNNoCentering, "layer_norm", "no_centering"),
    (LNInPlace, "layer_norm", "in_place"),
    (LNDetachedStatistics, "layer_norm", "detached"),
    (LNWrongDefaultEps, "layer_norm", "default_eps"),
    (LNFlattens, "layer_norm", "shape"),
    (RMSCentred, "rms_norm", "centering"),
    (RMSEpsOutsideSqrt, "rms_norm", "rms_eps_outside_sqrt"),
    (RMSNoSqrt, "rms_norm", "no_sqrt"),
    (RMSSumNotMean, "rms_norm", "sum_not_mean"),
    (RMSOverBatch, "rms_norm", "wrong_dim"),
    (RMSNoGainInForward, "rms_norm", "no_gain"),
    (RMSEpsNoneAsFixed, "rms_norm", "rms_eps_none"),
    (RMSEpsIgnored, "rms_norm", "eps_ignored"),
    (RMSNoWeight, "rms_norm", "missing_gain"),
    (LNFunctional, "layer_norm", "from_scratch_ln"),
    (LNSubclassOfTorch, "layer_norm", "from_scratch_ln"),
    (RMSFunctional, "rms_norm", "from_scratch_rms"),
]

CORRECT = [
    (LNVarUnbiasedFalse, "layer_norm"),
    (LNRsqrt, "layer_norm"),
    (LNEinsum, "layer_norm"),
    (RMSRsqrt, "rms_norm"),
    (RMSNormStyle, "rms_norm"),
]


# --- Residual ---------------------------------------------------------------------------


class _Res(nn.Module):
    def __init__(self, sublayer):
        super().__init__()
        self.sublayer = sublayer


class ResBranchOnly(_Res):
    def forward(self, x):
        return self.sublayer(x)


class ResAddedTwice(_Res):
    def forward(self, x):
        return x + self.sublayer(x) + x


class ResBranchTwice(_Res):
    def forward(self, x):
        return x + self.sublayer(x) + self.sublayer(x)


class ResMultiplied(_Res):
    def forward(self, x):
        return x * self.sublayer(x)


class ResInPlace(_Res):
    def forward(self, x):
        x += self.sublayer(x)
        return x


class ResDetachedSkip(_Res):
    def forward(self, x):
        return x.detach() + self.sublayer(x)


class ResOtherName(nn.Module):
    def __init__(self, sublayer):
        super().__init__()
        self.f = sublayer

    def forward(self, x):
        return x + self.f(x)


class ResCorrect(_Res):
    def forward(self, x):
        return torch.add(x, self.sublayer(x))


# --- MLP --------------------------------------------------------------------------------


class _MLP(nn.Module):
    def __init__(self, d_model, d_hidden=None):
        super().__init__()
        d_hidden = d_hidden or 4 * d_model
        self.fc1 = nn.Linear(d_model, d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_model)


class MLPNoActivation(_MLP):
    def forward(self, x):
        return self.fc2(self.fc1(x))


class MLPReLU(_MLP):
    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class MLPTanhGELU(_MLP):
    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class MLPActivationAfter(_MLP):
    def forward(self, x):
        return F.gelu(self.fc2(self.fc1(x)))


class MLPDefaultHidden(_MLP):
    def __init__(self, d_model, d_hidden=None):
        super().__init__(d_model, d_hidden or 2 * d_model)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class MLPSequential(nn.Module):
    def __init__(self, d_model, d_hidden=None):
        super().__init__()
        d_hidden = d_hidden or 4 * d_model
        self.fc1, self.act, self.fc2 = nn.Linear(d_model, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_model)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class MLPEinsum(_MLP):
    def forward(self, x):
        h = F.gelu(torch.einsum("...d,hd->...h", x, self.fc1.weight) + self.fc1.bias)
        return torch.einsum("...h,dh->...d", h, self.fc2.weight) + self.fc2.bias


# --- TransformerBlock -------------------------------------------------------------------


class _Block(nn.Module):
    def __init__(self, d_model, n_heads, d_hidden=None, norm="pre"):
        super().__init__()
        self.norm = norm
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.mlp = MLPSequential(d_model, d_hidden)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)

    def sa(self, h):
        return self.attn(h, h, h, need_weights=False)[0]


class BlockCorrect(_Block):
    def forward(self, x):
        if self.norm == "pre":
            x = x + self.sa(self.norm1(x))
            return x + self.mlp(self.norm2(x))
        x = self.norm1(x + self.sa(x))
        return self.norm2(x + self.mlp(x))


class BlockSwapped(_Block):
    def forward(self, x):
        if self.norm == "post":
            x = x + self.sa(self.norm1(x))
            return x + self.mlp(self.norm2(x))
        x = self.norm1(x + self.sa(x))
        return self.norm2(x + self.mlp(x))


class BlockAlwaysPre(_Block):
    def forward(self, x):
        x = x + self.sa(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class BlockNoResidual(_Block):
    def forward(self, x):
        if self.norm == "pre":
            return self.mlp(self.norm2(self.sa(self.norm1(x))))
        return self.norm2(self.mlp(self.norm1(self.sa(x))))


class BlockNormOnSkip(_Block):
    def forward(self, x):
        if self.norm == "post":
            return BlockCorrect.forward(self, x)
        x = self.norm1(x)
        x = x + self.sa(x)
        x = self.norm2(x)
        return x + self.mlp(x)


class BlockSharedNorm(_Block):
    def forward(self, x):
        if self.norm == "pre":
            x = x + self.sa(self.norm1(x))
            return x + self.mlp(self.norm1(x))
        x = self.norm1(x + self.sa(x))
        return self.norm1(x + self.mlp(x))


class BlockResidualTwice(_Block):
    def forward(self, x):
        if self.norm == "pre":
            x = x + x + self.sa(self.norm1(x))
            return x + x + self.mlp(self.norm2(x))
        return BlockCorrect.forward(self, x)


class BlockReturnsTuple(_Block):
    def forward(self, x):
        h = self.norm1(x)
        return self.attn(h, h, h)


class BlockOtherNames(BlockCorrect):
    def __init__(self, d_model, n_heads, d_hidden=None, norm="pre"):
        super().__init__(d_model, n_heads, d_hidden, norm)
        self.ln1 = self.norm1
        del self.norm1


WRONG += [
    (ResBranchOnly, "residual", "no_residual"),
    (ResAddedTwice, "residual", "residual_twice"),
    (ResBranchTwice, "residual", "branch_twice"),
    (ResMultiplied, "residual", "multiplied"),
    (ResInPlace, "residual", "in_place"),
    (ResDetachedSkip, "residual", "detached"),
    (ResOtherName, "residual", "sublayer_attr"),
    (MLPNoActivation, "mlp", "activation_missing"),
    (MLPReLU, "mlp", "relu"),
    (MLPTanhGELU, "mlp", "tanh_gelu"),
    (MLPActivationAfter, "mlp", "activation_after"),
    (MLPDefaultHidden, "mlp", "default_hidden"),
    (BlockSwapped, "transformer_block", "swapped"),
    (BlockAlwaysPre, "transformer_block", "swapped"),
    (BlockNoResidual, "transformer_block", "no_residual"),
    (BlockNormOnSkip, "transformer_block", "norm_on_skip"),
    (BlockSharedNorm, "transformer_block", "shared_norm"),
    (BlockResidualTwice, "transformer_block", "residual_twice"),
    (BlockReturnsTuple, "transformer_block", "tuple"),
    (BlockOtherNames, "transformer_block", "names"),
]

CORRECT += [
    (ResCorrect, "residual"),
    (MLPSequential, "mlp"),
    (MLPEinsum, "mlp"),
    (BlockCorrect, "transformer_block"),
]


# --- warm-up schedule: warmup_lr(step, base_lr, warmup_steps) ---------------------------


def warmup_correct(step, base_lr, warmup_steps):
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    return base_lr


def warmup_min_style(step, base_lr, warmup_steps):
    return base_lr * min(1.0, (step + 1) / max(1, warmup_steps))


def warmup_starts_at_zero(step, base_lr, warmup_steps):
    return base_lr * min(1.0, step / warmup_steps) if warmup_steps else base_lr


def warmup_no_cap(step, base_lr, warmup_steps):
    return base_lr * (step + 1) / warmup_steps if warmup_steps else base_lr


def warmup_divides_by_zero(step, base_lr, warmup_steps):
    return base_lr * min(1.0, (step + 1) / warmup_steps)


def warmup_forgets_base_lr(step, base_lr, warmup_steps):
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps else base_lr


def warmup_tensor(step, base_lr, warmup_steps):
    return torch.tensor([base_lr, base_lr])


# --- gradient-norm probe: grad_norms(model, x, y) -------------------------------------------


def _loss(model, x, y):
    return F.cross_entropy(model(x), y)


def probe_correct(model, x, y):
    params = [list(b.parameters()) for b in model.blocks]
    grads = torch.autograd.grad(_loss(model, x, y), [p for ps in params for p in ps])
    out, k = [], 0
    for ps in params:
        out.append(torch.sqrt(sum(g.pow(2).sum() for g in grads[k : k + len(ps)])).item())
        k += len(ps)
    return out


def probe_with_vector_norm(model, x, y):
    loss = _loss(model, x, y)
    out = []
    for block in model.blocks:
        grads = torch.autograd.grad(loss, list(block.parameters()), retain_graph=True)
        out.append(torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads])).item())
    return out


def probe_backward(model, x, y):
    _loss(model, x, y).backward()
    return [torch.sqrt(sum(p.grad.pow(2).sum() for p in b.parameters())).item() for b in model.blocks]


def probe_squared(model, x, y):
    return [v * v for v in probe_correct(model, x, y)]


def probe_reversed(model, x, y):
    return probe_correct(model, x, y)[::-1]


def probe_weights(model, x, y):
    return [torch.sqrt(sum(p.detach().pow(2).sum() for p in b.parameters())).item() for b in model.blocks]


def probe_per_parameter_sum(model, x, y):
    loss = _loss(model, x, y)
    out = []
    for block in model.blocks:
        grads = torch.autograd.grad(loss, list(block.parameters()), retain_graph=True)
        out.append(sum(g.norm().item() for g in grads))
    return out


def probe_per_parameter(model, x, y):
    grads = torch.autograd.grad(_loss(model, x, y), list(model.parameters()))
    return [g.norm().item() for g in grads]


# --- fair comparison: (plain, residual, plain_config, residual_config) ------------------------


def _arms(plain=None, residual=None, seeds=(0, 0), widths=(16, 16), configs=({}, {})):
    from coursekit import build_stack, seed_everything
    from coursekit.training import TrainConfig

    seed_everything(seeds[0])
    a = build_stack(4, widths[0], residual=False if plain is None else plain)
    seed_everything(seeds[1])
    b = build_stack(4, widths[1], residual=True if residual is None else residual)
    return a, b, TrainConfig(**configs[0]), TrainConfig(**configs[1])


def fair_arms():
    return _arms()


def arms_different_seeds():
    return _arms(seeds=(0, 1))


def arms_different_widths():
    return _arms(widths=(16, 32))


def arms_different_steps():
    return _arms(configs=({"steps": 300}, {"steps": 100}))


def arms_different_lr():
    return _arms(configs=({}, {"lr": 0.01}))


def arms_both_residual():
    return _arms(plain=True)


def _digits_arms(shortcuts):
    from coursekit import seed_everything
    from coursekit.experiments import BatchNormNet
    from coursekit.training import TrainConfig

    arms = []
    for shortcut in shortcuts:
        seed_everything(0)
        arms.append(BatchNormNet(4, 16, shortcut=shortcut))  # the skip lives in a buffer, not in the repr
    return *arms, TrainConfig(), TrainConfig()


def arms_both_plain_digits_nets():
    return _digits_arms(("none", "none"))


def arms_one_object_twice():
    plain, _, config, _ = _arms()
    return plain, plain, config, config


def fair_digits_arms():
    return _digits_arms(("none", "identity"))


class _LearnerStack(torch.nn.Module):
    """A learner's own stack: the switch is a plain attribute that no tensor shows."""

    def __init__(self, residual):
        super().__init__()
        self.residual = residual
        self.layers = torch.nn.ModuleList(torch.nn.Linear(16, 16) for _ in range(4))

    def forward(self, x):
        for layer in self.layers:
            x = x + torch.relu(layer(x)) if self.residual else torch.relu(layer(x))
        return x


def fair_learner_arms():
    from coursekit import seed_everything
    from coursekit.training import TrainConfig

    seed_everything(0)
    plain = _LearnerStack(False)
    seed_everything(0)
    return plain, _LearnerStack(True), TrainConfig(), TrainConfig()


WRONG += [
    (warmup_starts_at_zero, "warmup", "starts_at_zero"),
    (warmup_no_cap, "warmup", "no_cap"),
    (warmup_divides_by_zero, "warmup", "no_warmup"),
    (warmup_forgets_base_lr, "warmup", "base_lr"),
    (warmup_tensor, "warmup", "not_number"),
    (probe_backward, "grad_norm_probe", "left_grad"),
    (probe_squared, "grad_norm_probe", "squared"),
    (probe_reversed, "grad_norm_probe", "reversed"),
    (probe_weights, "grad_norm_probe", "weights"),
    (probe_per_parameter_sum, "grad_norm_probe", "per_parameter_sum"),
    (probe_per_parameter, "grad_norm_probe", "length"),
    (arms_different_seeds, "fair_comparison", "seeds"),
    (arms_different_widths, "fair_comparison", "widths"),
    (arms_different_steps, "fair_comparison", "steps"),
    (arms_different_lr, "fair_comparison", "training"),
    (arms_both_residual, "fair_comparison", "same_arm"),
    (arms_both_plain_digits_nets, "fair_comparison", "same_arm"),
    (arms_one_object_twice, "fair_comparison", "same_arm"),
]

CORRECT += [
    (warmup_correct, "warmup"),
    (warmup_min_style, "warmup"),
    (probe_correct, "grad_norm_probe"),
    (probe_with_vector_norm, "grad_norm_probe"),
    (fair_arms, "fair_comparison"),
    (fair_digits_arms, "fair_comparison"),
    (fair_learner_arms, "fair_comparison"),
]

# fair_comparison takes four arguments: its catalogue entries are functions that make them
MAKES_ARGUMENTS = {"fair_comparison"}


# =========================================================================================
# Grown for issue 10: more wrong implementations (each with the hint it must get) and more
# correct ones in other styles, for every check.
# =========================================================================================

import numpy as np  # noqa: E402

import coursekit  # noqa: E402


def _ln(x, eps):
    """LayerNorm by hand (no weight, bias), for wrong classes whose bug lies elsewhere."""
    mean = x.mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt((x - mean).pow(2).mean(-1, keepdim=True) + eps)


# --- LayerNorm ---------------------------------------------------------------------------


class LNWrapsTorch(nn.Module):
    def __init__(self, normalized_shape, eps=1e-5):
        super().__init__()
        self.inner = nn.LayerNorm(normalized_shape, eps=eps)
        self.weight, self.bias = self.inner.weight, self.inner.bias

    def forward(self, x):
        return self.inner(x)


class LNSubclassOfReference(coursekit.LayerNorm):
    pass


class LNExtraParameter(_LN):
    def __init__(self, normalized_shape, eps=1e-5):
        super().__init__(normalized_shape, eps)
        self.eps_param = nn.Parameter(torch.tensor(float(eps)))  # eps would be learned

    def normalise(self, x):
        return _ln(x, self.eps)


class LNNoDefaultEps(_LN):
    def __init__(self, normalized_shape, eps):
        super().__init__(normalized_shape, eps)

    def normalise(self, x):
        return _ln(x, self.eps)


class LNDetachedGain(_LN):
    def forward(self, x):
        return _ln(x, self.eps) * self.weight.detach() + self.bias


class LNReturnsFloat32(_LN):
    def forward(self, x):
        return (_ln(x, self.eps) * self.weight + self.bias).float()


class LNInPlaceSub(_LN):
    def normalise(self, x):
        var = x.var(-1, unbiased=False, keepdim=True)
        x.sub_(x.mean(-1, keepdim=True))
        return x / torch.sqrt(var + self.eps)


class LNViaNumpy(_LN):
    def normalise(self, x):
        a = x.detach().numpy()
        mean, var = a.mean(-1, keepdims=True), a.var(-1, keepdims=True)
        return torch.from_numpy((a - mean) / np.sqrt(var + self.eps))


# --- RMSNorm -----------------------------------------------------------------------------


class RMSWrapsTorch(nn.Module):
    def __init__(self, normalized_shape, eps=None):
        super().__init__()
        self.norm = nn.RMSNorm(normalized_shape, eps=eps)
        self.weight = self.norm.weight

    def forward(self, x):
        return self.norm(x)


class RMSFloat32Eps(_RMS):
    def normalise(self, x):
        eps = torch.finfo(torch.float32).eps if self.eps is None else self.eps
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)


class RMSWithBias(_RMS):
    def __init__(self, normalized_shape, eps=None):
        super().__init__(normalized_shape, eps)
        self.bias = nn.Parameter(torch.zeros(normalized_shape))

    def normalise(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.epsilon(x))


class RMSDefaultEpsNumber(_RMS):
    def __init__(self, normalized_shape, eps=1e-6):
        super().__init__(normalized_shape, eps)

    def normalise(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.epsilon(x))


class RMSDetached(_RMS):
    def normalise(self, x):
        rms = x.pow(2).mean(-1, keepdim=True).add(self.epsilon(x)).sqrt().detach()
        return x / rms


class RMSLoop(_RMS):
    """Correct: a row at a time, in plain Python."""

    def normalise(self, x):
        rows = x.reshape(-1, x.shape[-1])
        out = [row / torch.sqrt(row.pow(2).mean() + self.epsilon(x)) for row in rows]
        return torch.stack(out).reshape(x.shape)


class LNTwoPass(_LN):
    """Correct: the variance as the mean of squares minus the squared mean."""

    def normalise(self, x):
        mean = x.mean(-1, keepdim=True)
        var = (x * x).mean(-1, keepdim=True) - mean * mean
        return (x - mean) / torch.sqrt(var + self.eps)


class LNNoTypeHints(nn.Module):
    """Correct: eps stored under another name, parameters created with ones_like."""

    def __init__(self, normalized_shape, eps=1e-5):
        super().__init__()
        self.epsilon = eps
        self.weight = nn.Parameter(torch.ones(normalized_shape))
        self.bias = nn.Parameter(torch.zeros_like(self.weight))

    def forward(self, x):
        centred = x - x.mean(-1, keepdim=True)
        std = torch.sqrt(centred.square().mean(-1, keepdim=True) + self.epsilon)
        return self.weight * (centred / std) + self.bias


WRONG += [
    (LNWrapsTorch, "layer_norm", "from_scratch_ln"),
    (LNSubclassOfReference, "layer_norm", "from_scratch_ln"),
    (LNExtraParameter, "layer_norm", "extra_params"),
    (LNNoDefaultEps, "layer_norm", "default_eps"),
    (LNDetachedGain, "layer_norm", "detached"),
    (LNReturnsFloat32, "layer_norm", "dtype"),
    (LNInPlaceSub, "layer_norm", "in_place"),
    (LNViaNumpy, "layer_norm", "detached"),
    (RMSWrapsTorch, "rms_norm", "from_scratch_rms"),
    (RMSFloat32Eps, "rms_norm", "rms_eps_dtype"),
    (RMSWithBias, "rms_norm", "extra_params"),
    (RMSDefaultEpsNumber, "rms_norm", "default_eps"),
    (RMSDetached, "rms_norm", "detached"),
]
CORRECT += [(RMSLoop, "rms_norm"), (LNTwoPass, "layer_norm"), (LNNoTypeHints, "layer_norm")]


# --- Residual ----------------------------------------------------------------------------


class ResAveraged(_Res):
    def forward(self, x):
        return (x + self.sublayer(x)) / 2


class ResHalfBranch(_Res):
    def forward(self, x):
        return x + 0.5 * self.sublayer(x)


class ResSubclassOfReference(coursekit.Residual):
    pass


class ResSwitchesToEval(_Res):
    def forward(self, x):
        self.eval()
        return x + self.sublayer(x)


class ResDetachedBranch(_Res):
    def forward(self, x):
        return x + self.sublayer(x).detach()


class ResNoArgument(nn.Module):
    def __init__(self):
        super().__init__()
        self.sublayer = nn.Identity()

    def forward(self, x):
        return x + self.sublayer(x)


class ResBranchFirst(_Res):
    """Correct: the branch's output first, then the skip."""

    def forward(self, x):
        out = self.sublayer(x)
        out = out + x
        return out


class ResFunctionalAdd(_Res):
    """Correct: torch.add with alpha."""

    def forward(self, x):
        return torch.add(self.sublayer(x), x, alpha=1)


WRONG += [
    (ResAveraged, "residual", "scaled"),
    (ResHalfBranch, "residual", "scaled"),
    (ResSubclassOfReference, "residual", "from_scratch"),
    (ResSwitchesToEval, "residual", "mode"),
    (ResDetachedBranch, "residual", "detached"),
    (ResNoArgument, "residual", "signature"),
]
CORRECT += [(ResBranchFirst, "residual"), (ResFunctionalAdd, "residual")]


# --- MLP ---------------------------------------------------------------------------------


class MLPNoBias(nn.Module):
    def __init__(self, d_model, d_hidden=None):
        super().__init__()
        d_hidden = d_hidden or 4 * d_model
        self.fc1 = nn.Linear(d_model, d_hidden, bias=False)
        self.fc2 = nn.Linear(d_hidden, d_model, bias=False)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class MLPNoDefault(_MLP):
    def __init__(self, d_model, d_hidden):
        super().__init__(d_model, d_hidden)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class MLPExtraParameter(_MLP):
    def __init__(self, d_model, d_hidden=None):
        super().__init__(d_model, d_hidden)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class MLPResidualInside(_MLP):
    def forward(self, x):
        return x + self.fc2(F.gelu(self.fc1(x)))


class MLPActivationTwice(_MLP):
    def forward(self, x):
        return F.gelu(self.fc2(F.gelu(self.fc1(x))))


class MLPDetachedHidden(_MLP):
    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)).detach())


class MLPSubclassOfReference(coursekit.MLP):
    pass


class MLPOtherNames(nn.Module):
    def __init__(self, d_model, d_hidden=None):
        super().__init__()
        d_hidden = d_hidden or 4 * d_model
        self.lin1, self.lin2 = nn.Linear(d_model, d_hidden), nn.Linear(d_hidden, d_model)

    def forward(self, x):
        return self.lin2(F.gelu(self.lin1(x)))


class MLPInPlaceInput(_MLP):
    def forward(self, x):
        x.mul_(1.0).add_(0.0)
        x += 0
        x[..., 0] = x[..., 0] * 1.5
        return self.fc2(F.gelu(self.fc1(x)))


class MLPGeluModule(nn.Module):
    """Correct: the activation as a module between the layers."""

    def __init__(self, d_model, d_hidden=None):
        super().__init__()
        hidden = 4 * d_model if d_hidden is None else d_hidden
        self.fc1, self.gelu, self.fc2 = nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, d_model)

    def forward(self, x):
        return self.fc2(self.gelu(self.fc1(x)))


class MLPFunctionalLinear(_MLP):
    """Correct: F.linear on the layers' own weights, the exact GELU written out with erf."""

    def forward(self, x):
        h = F.linear(x, self.fc1.weight, self.fc1.bias)
        h = 0.5 * h * (1 + torch.erf(h / 2**0.5))
        return F.linear(h, self.fc2.weight, self.fc2.bias)


WRONG += [
    (MLPNoBias, "mlp", "bias"),
    (MLPNoDefault, "mlp", "default_hidden"),
    (MLPExtraParameter, "mlp", "extra_params"),
    (MLPResidualInside, "mlp", "residual_inside"),
    (MLPActivationTwice, "mlp", "activation_after"),
    (MLPDetachedHidden, "mlp", "detached"),
    (MLPSubclassOfReference, "mlp", "from_scratch"),
    (MLPOtherNames, "mlp", "layers"),
    (MLPInPlaceInput, "mlp", "in_place"),
]
CORRECT += [(MLPGeluModule, "mlp"), (MLPFunctionalLinear, "mlp")]


# --- TransformerBlock --------------------------------------------------------------------


def _pre(block, x, attn_res=1, mlp_res=1, skip_normed=(False, False), norms=None, act=None, kv_raw=False):
    n1, n2 = norms or (block.norm1, block.norm2)
    h = n1(x)
    kv = x if kv_raw else h
    a = block.attn(h, kv, kv, need_weights=False)[0]
    x = attn_res * (h if skip_normed[0] else x) + a
    h = n2(x)
    m = block.mlp.fc2((act or F.gelu)(block.mlp.fc1(h)))
    return mlp_res * (h if skip_normed[1] else x) + m


def _post(block, x, attn_res=1, mlp_res=1, norms=None, act=None):
    n1, n2 = norms or (block.norm1, block.norm2)
    x = n1(attn_res * x + block.attn(x, x, x, need_weights=False)[0])
    return n2(mlp_res * x + block.mlp.fc2((act or F.gelu)(block.mlp.fc1(x))))


class _Wired(_Block):
    """A block whose forward is ``_pre``/``_post`` with the class's ``PRE``/``POST`` options."""

    PRE: dict = {}
    POST: dict = {}

    def forward(self, x):
        if self.norm == "pre":
            return _pre(self, x, **self.PRE)
        return _post(self, x, **self.POST)


class BlockResidualAttentionOnly(_Wired):
    PRE = {"mlp_res": 0}


class BlockResidualMLPOnly(_Wired):
    POST = {"attn_res": 0}


class BlockNormOnSkipAttention(_Wired):
    PRE = {"skip_normed": (True, False)}


class BlockNormOnSkipMLP(_Wired):
    PRE = {"skip_normed": (False, True)}


class BlockSharedNormPost(_Block):
    def forward(self, x):
        if self.norm == "pre":
            return _pre(self, x)
        return _post(self, x, norms=(self.norm2, self.norm2))


class BlockNoActivation(_Wired):
    PRE = {"act": lambda h: h}
    POST = {"act": lambda h: h}


class BlockReLU(_Wired):
    PRE = {"act": F.relu}
    POST = {"act": F.relu}


class BlockNormsSwapped(_Block):
    def forward(self, x):
        norms = (self.norm2, self.norm1)
        return _pre(self, x, norms=norms) if self.norm == "pre" else _post(self, x, norms=norms)


class BlockNoNorms(_Block):
    def forward(self, x):
        norms = (nn.Identity(), nn.Identity())
        return _pre(self, x, norms=norms) if self.norm == "pre" else _post(self, x, norms=norms)


class BlockRawKeysValues(_Wired):
    PRE = {"kv_raw": True}


class BlockParallel(_Block):
    def forward(self, x):
        if self.norm == "post":
            return _post(self, x)
        return x + self.sa(self.norm1(x)) + self.mlp(self.norm2(x))


class BlockDetachedBranch(_Block):
    def forward(self, x):
        if self.norm == "post":
            return _post(self, x)
        x = x + self.sa(self.norm1(x)).detach()
        return x + self.mlp(self.norm2(x))


class BlockNotBatchFirst(BlockCorrect):
    def __init__(self, d_model, n_heads, d_hidden=None, norm="pre"):
        super().__init__(d_model, n_heads, d_hidden, norm)
        self.attn = nn.MultiheadAttention(d_model, n_heads)


class BlockDefaultPost(BlockCorrect):
    def __init__(self, d_model, n_heads, d_hidden=None, norm="post"):
        super().__init__(d_model, n_heads, d_hidden, norm)


class BlockNoDefaultHidden(BlockCorrect):
    def __init__(self, d_model, n_heads, d_hidden, norm="pre"):
        super().__init__(d_model, n_heads, d_hidden, norm)


class BlockWrapsTorchLayer(BlockCorrect):
    def __init__(self, d_model, n_heads, d_hidden=None, norm="pre"):
        super().__init__(d_model, n_heads, d_hidden, norm)
        self.layer = nn.TransformerEncoderLayer(d_model, n_heads, batch_first=True)


class BlockExtraParameter(BlockCorrect):
    def __init__(self, d_model, n_heads, d_hidden=None, norm="pre"):
        super().__init__(d_model, n_heads, d_hidden, norm)
        self.gamma = nn.Parameter(torch.ones(d_model))


class BlockInPlace(_Block):
    def forward(self, x):
        if self.norm == "post":
            return _post(self, x)
        x += self.sa(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class BlockPostResidualTwice(_Wired):
    POST = {"attn_res": 2, "mlp_res": 2}


class BlockWithOwnParts(nn.Module):
    """Correct: the learner's own LayerNorm and MLP from above as parts, sublayers as methods."""

    def __init__(self, d_model, n_heads, d_hidden=None, norm="pre"):
        super().__init__()
        self.norm = norm
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.mlp = MLPEinsum(d_model, d_hidden)
        self.norm1, self.norm2 = LNRsqrt(d_model), LNTwoPass(d_model)

    def attention(self, h):
        out, _ = self.attn(h, h, h)
        return out

    def forward(self, x):
        if self.norm == "post":
            x = self.norm1(x + self.attention(x))
            return self.norm2(x + self.mlp(x))
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


WRONG += [
    (BlockResidualAttentionOnly, "transformer_block", "residual_one_sublayer"),
    (BlockResidualMLPOnly, "transformer_block", "residual_one_sublayer"),
    (BlockNormOnSkipAttention, "transformer_block", "norm_on_skip"),
    (BlockNormOnSkipMLP, "transformer_block", "norm_on_skip"),
    (BlockSharedNormPost, "transformer_block", "shared_norm"),
    (BlockNoActivation, "transformer_block", "activation_missing"),
    (BlockReLU, "transformer_block", "activation"),
    (BlockNormsSwapped, "transformer_block", "norms_swapped"),
    (BlockNoNorms, "transformer_block", "no_norm"),
    (BlockRawKeysValues, "transformer_block", "attn_inputs"),
    (BlockParallel, "transformer_block", "parallel"),
    (BlockDetachedBranch, "transformer_block", "detached"),
    (BlockNotBatchFirst, "transformer_block", "batch_first"),
    (BlockDefaultPost, "transformer_block", "default_norm"),
    (BlockNoDefaultHidden, "transformer_block", "signature"),
    (BlockWrapsTorchLayer, "transformer_block", "from_scratch"),
    (BlockExtraParameter, "transformer_block", "extra_params"),
    (BlockInPlace, "transformer_block", "in_place"),
    (BlockPostResidualTwice, "transformer_block", "residual_twice"),
]
CORRECT += [(BlockWithOwnParts, "transformer_block")]


# --- warm-up -----------------------------------------------------------------------------


def warmup_ends_early(step, base_lr, warmup_steps):
    return base_lr * min(1.0, (step + 1) / max(1, warmup_steps - 1)) if warmup_steps else base_lr


def warmup_decays(step, base_lr, warmup_steps):
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    return base_lr * warmup_steps / (step + 1)


def warmup_quadratic(step, base_lr, warmup_steps):
    return base_lr * min(1.0, (step + 1) / warmup_steps) ** 2 if warmup_steps else base_lr


def warmup_list(step, base_lr, warmup_steps):
    return [warmup_correct(step, base_lr, warmup_steps)]


def warmup_zero_d_tensor(step, base_lr, warmup_steps):
    """Correct: a 0-d tensor (float32) is a number too."""
    return torch.tensor(warmup_correct(step, base_lr, warmup_steps))


def warmup_numpy(step, base_lr, warmup_steps):
    """Correct: a NumPy float."""
    return np.float32(warmup_correct(step, base_lr, warmup_steps))


WRONG += [
    (warmup_ends_early, "warmup", "ends_early"),
    (warmup_decays, "warmup", "decays"),
    (warmup_quadratic, "warmup", "not_linear"),
    (warmup_list, "warmup", "not_number"),
]
CORRECT += [(warmup_zero_d_tensor, "warmup"), (warmup_numpy, "warmup")]


# --- gradient-norm probe -----------------------------------------------------------------


def probe_zero_grad_backward(model, x, y):
    model.zero_grad()
    _loss(model, x, y).backward()
    out = [torch.sqrt(sum(p.grad.pow(2).sum() for p in b.parameters())).item() for b in model.blocks]
    model.zero_grad(set_to_none=True)
    return out


def probe_switches_to_eval(model, x, y):
    model.eval()
    return probe_correct(model, x, y)


def probe_mean(model, x, y):
    loss = _loss(model, x, y)
    out = []
    for block in model.blocks:
        grads = torch.autograd.grad(loss, list(block.parameters()), retain_graph=True)
        out.append(torch.cat([g.flatten() for g in grads]).mean().item())
    return out


def probe_max(model, x, y):
    loss = _loss(model, x, y)
    out = []
    for block in model.blocks:
        grads = torch.autograd.grad(loss, list(block.parameters()), retain_graph=True)
        out.append(torch.cat([g.flatten() for g in grads]).abs().max().item())
    return out


def _probe_of(loss):
    out = []
    for block_params in loss[1]:
        grads = torch.autograd.grad(loss[0], block_params, retain_graph=True)
        out.append(torch.sqrt(sum(g.pow(2).sum() for g in grads)).item())
    return out


def probe_summed_loss(model, x, y):
    loss = F.cross_entropy(model(x), y, reduction="sum")
    return _probe_of((loss, [list(b.parameters()) for b in model.blocks]))


def probe_output_not_loss(model, x, y):
    return _probe_of((model(x).sum(), [list(b.parameters()) for b in model.blocks]))


def probe_takes_a_step(model, x, y):
    out = probe_correct(model, x, y)
    grads = torch.autograd.grad(_loss(model, x, y), list(model.parameters()))
    with torch.no_grad():
        for p, g in zip(model.parameters(), grads, strict=True):
            p.sub_(0.01 * g)
    return out


def probe_freezes_the_rest(model, x, y):
    for p in list(model.embed.parameters()) + list(model.head.parameters()):
        p.requires_grad_(False)
    return probe_correct(model, x, y)


def probe_numpy_floats(model, x, y):
    """Correct: NumPy floats."""
    return [np.float32(v) for v in probe_correct(model, x, y)]


def probe_zero_d_tensors(model, x, y):
    """Correct: a list of 0-d tensors."""
    return [torch.tensor(v) for v in probe_correct(model, x, y)]


def probe_one_tensor(model, x, y):
    """Correct: one 1-d tensor, switching to eval and back."""
    was = model.training
    model.eval()
    try:
        return torch.tensor(probe_correct(model, x, y))
    finally:
        model.train(was)


WRONG += [
    (probe_zero_grad_backward, "grad_norm_probe", "zeroed_grad"),
    (probe_switches_to_eval, "grad_norm_probe", "mode"),
    (probe_mean, "grad_norm_probe", "mean_not_norm"),
    (probe_max, "grad_norm_probe", "max_not_norm"),
    (probe_summed_loss, "grad_norm_probe", "wrong_loss"),
    (probe_output_not_loss, "grad_norm_probe", "output_not_loss"),
    (probe_takes_a_step, "grad_norm_probe", "weights_changed"),
    (probe_freezes_the_rest, "grad_norm_probe", "requires_grad"),
]
CORRECT += [
    (probe_numpy_floats, "grad_norm_probe"),
    (probe_zero_d_tensors, "grad_norm_probe"),
    (probe_one_tensor, "grad_norm_probe"),
]


# --- fair comparison ---------------------------------------------------------------------


class _SettingsStack(torch.nn.Module):
    """A learner's stack with a skip switch and another plain setting."""

    def __init__(self, use_skip, slope=0.0):
        super().__init__()
        self.use_skip, self.slope = use_skip, slope
        self.layers = torch.nn.ModuleList(torch.nn.Linear(16, 16) for _ in range(4))

    def forward(self, x):
        for layer in self.layers:
            h = F.leaky_relu(layer(x), self.slope)
            x = x + h if self.use_skip else h
        return x


def _settings_arms(slopes=(0.0, 0.0)):
    from coursekit import seed_everything
    from coursekit.training import TrainConfig

    seed_everything(0)
    plain = _SettingsStack(False, slopes[0])
    seed_everything(0)
    return plain, _SettingsStack(True, slopes[1]), TrainConfig(), TrainConfig()


def arms_differ_in_a_plain_setting():
    return _settings_arms((0.0, 0.1))


def arms_one_in_eval_mode():
    plain, residual, a, b = _arms()
    return plain.eval(), residual, a, b


def arms_one_in_float64():
    plain, residual, a, b = _arms()
    return plain, residual.double(), a, b


def arms_different_norm_placement():
    from coursekit import build_stack, seed_everything
    from coursekit.training import TrainConfig

    seed_everything(0)
    a = build_stack(4, 16, residual=False, norm="pre")
    seed_everything(0)
    b = build_stack(4, 16, residual=True, norm="post")
    return a, b, TrainConfig(), TrainConfig()


def arms_different_batch_size():
    return _arms(configs=({"batch_size": 32}, {"batch_size": 64}))


def fair_settings_arms():
    return _settings_arms()


WRONG += [
    (arms_differ_in_a_plain_setting, "fair_comparison", "settings"),
    (arms_one_in_eval_mode, "fair_comparison", "mode"),
    (arms_one_in_float64, "fair_comparison", "dtype"),
    (arms_different_norm_placement, "fair_comparison", "widths"),
    (arms_different_batch_size, "fair_comparison", "training"),
]
CORRECT += [(fair_settings_arms, "fair_comparison")]

# the hint a check gives for a constructor that does not fit the contract's signature
SIGNATURE_HINT = "give the constructor exactly the contract's arguments and defaults"


# --- more slips, each with its own hint ----------------------------------------------------


class LNWeightFirst(_LN):
    def forward(self, x):
        return _ln(x * self.weight, self.eps) + self.bias


class LNBiasSubtracted(_LN):
    def forward(self, x):
        return _ln(x, self.eps) * self.weight - self.bias


class LNParamsSwapped(_LN):
    def forward(self, x):
        return _ln(x, self.eps) * self.bias + self.weight


class LNEpsSquared(_LN):
    def normalise(self, x):
        return _ln(x, self.eps**2)


class LNOverSequenceAndFeatures(_LN):
    def normalise(self, x):
        mean = x.mean((-2, -1), keepdim=True)
        return (x - mean) / torch.sqrt(x.var((-2, -1), unbiased=False, keepdim=True) + self.eps)


class RMSOverSequenceAndFeatures(_RMS):
    def normalise(self, x):
        return x / torch.sqrt(x.pow(2).mean((-2, -1), keepdim=True) + self.epsilon(x))


class RMSStd(_RMS):
    def normalise(self, x):
        return x / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + self.epsilon(x))


class MLPSiLU(_MLP):
    def forward(self, x):
        return self.fc2(F.silu(self.fc1(x)))


class MLPSigmoidGELU(_MLP):
    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(h * torch.sigmoid(1.702 * h))


class BlockFinalNorm(_Block):
    def forward(self, x):
        if self.norm == "post":
            return _post(self, x)
        return self.norm2(_pre(self, x))


class BlockPostNormOnBranch(_Block):
    def forward(self, x):
        if self.norm == "pre":
            return _pre(self, x)
        x = x + self.norm1(self.sa(x))
        return x + self.norm2(self.mlp(x))


class BlockCausal(_Block):
    def forward(self, x):
        mask = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool).triu(1)
        h = self.norm1(x) if self.norm == "pre" else x
        a = self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        if self.norm == "pre":
            x = x + a
            return x + self.mlp(self.norm2(x))
        x = self.norm1(x + a)
        return self.norm2(x + self.mlp(x))


def probe_weights_only(model, x, y):
    loss = _loss(model, x, y)
    out = []
    for block in model.blocks:
        params = [p for n, p in block.named_parameters() if n.endswith("weight") and p.dim() > 1]
        grads = torch.autograd.grad(loss, params, retain_graph=True)
        out.append(torch.sqrt(sum(g.pow(2).sum() for g in grads)).item())
    return out


WRONG += [
    (LNWeightFirst, "layer_norm", "affine_order"),
    (LNBiasSubtracted, "layer_norm", "bias_sign"),
    (LNParamsSwapped, "layer_norm", "param_swap"),
    (LNEpsSquared, "layer_norm", "eps_used_wrong"),
    (LNOverSequenceAndFeatures, "layer_norm", "wrong_dim"),
    (RMSOverSequenceAndFeatures, "rms_norm", "wrong_dim"),
    (RMSStd, "rms_norm", "rms_is_std"),
    (MLPSiLU, "mlp", "other_activation"),
    (MLPSigmoidGELU, "mlp", "tanh_gelu"),
    (BlockFinalNorm, "transformer_block", "final_norm"),
    (BlockPostNormOnBranch, "transformer_block", "norm_on_branch"),
    (BlockCausal, "transformer_block", "causal"),
    (probe_weights_only, "grad_norm_probe", "weights_only"),
]


class LNFixedWidth(_LN):
    def normalise(self, x):
        mean = x.sum(-1, keepdim=True) / 5  # the check's width, hard-coded
        return (x - mean) / torch.sqrt((x - mean).pow(2).sum(-1, keepdim=True) / 5 + self.eps)


class RMSDimTwo(_RMS):
    def normalise(self, x):
        return x / torch.sqrt(x.pow(2).mean(2, keepdim=True) + self.epsilon(x))  # dim=2, not -1


class BlockOneHead(BlockCorrect):
    def __init__(self, d_model, n_heads, d_hidden=None, norm="pre"):
        super().__init__(d_model, n_heads, d_hidden, norm)
        self.attn = nn.MultiheadAttention(d_model, 1, batch_first=True)


WRONG += [
    (LNFixedWidth, "layer_norm", "other_sizes"),
    (RMSDimTwo, "rms_norm", "other_sizes"),
    (BlockOneHead, "transformer_block", "heads"),
]


class RMSAbsMean(_RMS):
    def normalise(self, x):
        return x / (x.abs().mean(-1, keepdim=True) + self.epsilon(x))


class ResActivationAfterAdd(_Res):
    def forward(self, x):
        return F.relu(x + self.sublayer(x))


class MLPDropoutAlways(_MLP):
    def forward(self, x):
        return self.fc2(F.dropout(F.gelu(self.fc1(x)), 0.1, training=True))


class BlockHalfBranches(_Block):
    def forward(self, x):
        if self.norm == "post":
            return _post(self, x)
        x = x + 0.5 * self.sa(self.norm1(x))
        return x + 0.5 * self.mlp(self.norm2(x))


class LNKeepdimByHand(_LN):
    """Correct: statistics without keepdim, unsqueezed back."""

    def normalise(self, x):
        mean, var = x.mean(-1), x.var(-1, unbiased=False)
        return (x - mean.unsqueeze(-1)) / torch.sqrt(var.unsqueeze(-1) + self.eps)


def probe_loss_per_block(model, x, y):
    """Correct: the loss recomputed for each block (slower, same numbers)."""
    out = []
    for block in model.blocks:
        grads = torch.autograd.grad(_loss(model, x, y), list(block.parameters()))
        out.append(float(torch.sqrt(sum((g**2).sum() for g in grads))))
    return out


WRONG += [
    (RMSAbsMean, "rms_norm", "rms_abs_mean"),
    (ResActivationAfterAdd, "residual", "identity"),
    (MLPDropoutAlways, "mlp", "random"),
    (BlockHalfBranches, "transformer_block", "scaled"),
]
CORRECT += [(LNKeepdimByHand, "layer_norm"), (probe_loss_per_block, "grad_norm_probe")]


class _PlainFlagStack(torch.nn.Module):
    """A learner's stack whose switch is called `plain`, with another True/False setting."""

    def __init__(self, plain, bias=True):
        super().__init__()
        self.plain, self.use_bias = plain, bias
        self.layers = torch.nn.ModuleList(torch.nn.Linear(16, 16, bias=True) for _ in range(4))

    def forward(self, x):
        for layer in self.layers:
            h = torch.relu(layer(x) if self.use_bias else layer(x) - layer.bias)
            x = h if self.plain else x + h
        return x


def _plain_flag_arms(biases=(True, True)):
    from coursekit import seed_everything
    from coursekit.training import TrainConfig

    seed_everything(0)
    a = _PlainFlagStack(True, biases[0])
    seed_everything(0)
    return a, _PlainFlagStack(False, biases[1]), TrainConfig(), TrainConfig()


def fair_plain_flag_arms():
    return _plain_flag_arms()


def arms_differ_in_two_switches():
    return _plain_flag_arms((True, False))


WRONG += [(arms_differ_in_two_switches, "fair_comparison", "settings")]
CORRECT += [(fair_plain_flag_arms, "fair_comparison")]


class MLPActivationFirst(_MLP):
    def forward(self, x):
        return self.fc2(self.fc1(F.gelu(x)))


class BlockReturnsAttentionWeights(_Block):
    def forward(self, x):
        h = self.norm1(x)
        return self.attn(h, h, h)[1]


def warmup_constant(step, base_lr, warmup_steps):
    return base_lr


def warmup_ends_late(step, base_lr, warmup_steps):
    return base_lr * min(1.0, (step + 1) / (warmup_steps + 1))


def arms_one_partly_frozen():
    plain, residual, a, b = _arms()
    next(residual.parameters()).requires_grad_(False)
    return plain, residual, a, b


WRONG += [
    (MLPActivationFirst, "mlp", "activation_before"),
    (BlockReturnsAttentionWeights, "transformer_block", "attn_output"),
    (warmup_constant, "warmup", "constant"),
    (warmup_ends_late, "warmup", "ends_late"),
    (arms_one_partly_frozen, "fair_comparison", "frozen"),
]


class BlockWithDropout(nn.Module):
    """Correct: dropout in training (off in eval, as the check runs it), a checked `norm` argument."""

    def __init__(self, d_model, n_heads, d_hidden=None, norm="pre"):
        super().__init__()
        if norm not in ("pre", "post"):
            raise ValueError(f"norm must be 'pre' or 'post', got {norm!r}")
        self.placement = norm
        self.attn = nn.MultiheadAttention(d_model, n_heads, dropout=0.1, batch_first=True)
        self.mlp = MLPGeluModule(d_model, d_hidden)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        def sa(h):
            return self.drop(self.attn(h, h, h, need_weights=False)[0])

        if self.placement == "pre":
            x = x + sa(self.norm1(x))
            return x + self.drop(self.mlp(self.norm2(x)))
        x = self.norm1(x + sa(x))
        return self.norm2(x + self.drop(self.mlp(x)))


class BlockTwoResiduals(nn.Module):
    """Correct: the block built from two Residual wrappers of the catalogue's own correct Residual."""

    def __init__(self, d_model, n_heads, d_hidden=None, norm="pre"):
        super().__init__()
        self.norm = norm
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.mlp = MLPFunctionalLinear(d_model, d_hidden)
        self.norm1, self.norm2 = LNNoTypeHints(d_model), LNVarUnbiasedFalse(d_model)

    def forward(self, x):
        attend = lambda h: self.attn(h, h, h, need_weights=False)[0]  # noqa: E731
        if self.norm == "pre":
            x = ResCorrect(lambda h: attend(self.norm1(h)))(x)
            return ResCorrect(lambda h: self.mlp(self.norm2(h)))(x)
        x = self.norm1(ResCorrect(attend)(x))
        return self.norm2(ResCorrect(self.mlp)(x))


CORRECT += [(BlockWithDropout, "transformer_block"), (BlockTwoResiduals, "transformer_block")]


class RMSGainInsideTheRoot(_RMS):
    def forward(self, x):
        return x / torch.sqrt((x * self.weight).pow(2).mean(-1, keepdim=True) + self.epsilon(x))


class MLPSecondBiasUnused(_MLP):
    def forward(self, x):
        return F.linear(F.gelu(self.fc1(x)), self.fc2.weight)


def probe_activation_gradients(model, x, y):
    outputs, h = [], model.embed(x)
    for block in model.blocks:
        h = block(h)
        outputs.append(h)
    grads = torch.autograd.grad(F.cross_entropy(model.head(h), y), outputs)
    return [g.norm().item() for g in grads]


WRONG += [
    (RMSGainInsideTheRoot, "rms_norm", "affine_order"),
    (MLPSecondBiasUnused, "mlp", "bias_unused"),
    (probe_activation_gradients, "grad_norm_probe", "activations"),
]


class BlockIgnoresHidden(BlockCorrect):
    def __init__(self, d_model, n_heads, d_hidden=None, norm="pre"):
        super().__init__(d_model, n_heads, None, norm)  # d_hidden dropped: always 4 * d_model


def arms_sharing_blocks():
    plain, residual, a, b = _arms()
    residual.blocks = plain.blocks  # the residual arm trains the plain arm's blocks
    return plain, residual, a, b


WRONG += [
    (BlockIgnoresHidden, "transformer_block", "hidden"),
    (arms_sharing_blocks, "fair_comparison", "shared"),
]


# --- parameters judged by identity (issue 20, item 5) -----------------------------------


class MLPAliased(nn.Module):
    """Correct: the layers kept in an nn.Sequential (registered first) and also named fc1 and fc2,
    the same parameter objects under two names; named_parameters() lists them as net.*."""

    def __init__(self, d_model, d_hidden=None):
        super().__init__()
        d_hidden = d_hidden or 4 * d_model
        self.net = nn.Sequential(nn.Linear(d_model, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_model))
        self.fc1, self.fc2 = self.net[0], self.net[2]

    def forward(self, x):
        return self.net(x)


class MLPAliasedExtra(MLPAliased):
    """Wrong: aliased like MLPAliased, and a genuinely extra layer in the Sequential (unused)."""

    def __init__(self, d_model, d_hidden=None):
        super().__init__(d_model, d_hidden)
        self.net.append(nn.Linear(d_model, d_model))

    def forward(self, x):
        return self.net[:3](x)


class LNAliasedGain(_LN):
    """Correct: the gain created as `gain` and also named `weight` (one parameter, two names)."""

    def __init__(self, normalized_shape, eps=1e-5):
        nn.Module.__init__(self)
        self.eps = eps
        self.gain = nn.Parameter(torch.ones(normalized_shape))
        self.weight = self.gain
        self.bias = nn.Parameter(torch.zeros(normalized_shape))

    def normalise(self, x):
        mean = x.mean(-1, keepdim=True)
        return (x - mean) / torch.sqrt(((x - mean) ** 2).mean(-1, keepdim=True) + self.eps)


class BlockAliasedMLP(BlockCorrect):
    """Correct: the block's MLP keeps its layers in a Sequential named first, fc1 and fc2 as aliases."""

    def __init__(self, d_model, n_heads, d_hidden=None, norm="pre"):
        super().__init__(d_model, n_heads, d_hidden, norm)
        self.mlp = MLPAliased(d_model, d_hidden)


WRONG += [(MLPAliasedExtra, "mlp", "extra_params")]
CORRECT += [(MLPAliased, "mlp"), (LNAliasedGain, "layer_norm"), (BlockAliasedMLP, "transformer_block")]
