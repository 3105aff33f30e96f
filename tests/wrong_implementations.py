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
]

CORRECT = [
    (LNVarUnbiasedFalse, "layer_norm"),
    (LNRsqrt, "layer_norm"),
    (LNEinsum, "layer_norm"),
    (LNFunctional, "layer_norm"),
    (LNSubclassOfTorch, "layer_norm"),
    (RMSRsqrt, "rms_norm"),
    (RMSNormStyle, "rms_norm"),
    (RMSFunctional, "rms_norm"),
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
