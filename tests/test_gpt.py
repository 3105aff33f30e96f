"""The capstone GPT (lesson 8): the model against torch, the learner's blocks against the
reference, the baselines and measures against direct computations, and the directions over
seeds at small sizes."""

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from coursekit import TransformerBlock, load_your_blocks
from coursekit.experiments.gpt import (
    ARMS,
    Arm,
    GPTConfig,
    baseline_bits,
    eval_windows,
    heldout_bits,
    lr_at,
    run_gpt,
)
from coursekit.experiments.gpt_model import GPT, GPTShape, generate
from coursekit.text import CharText, load_text
from coursekit.widgets import gpt_findings, heldout_table, sample_view
from coursekit.widgets.gpt import SAMPLE_CHARS

ROOT = Path(__file__).resolve().parents[1]
V = 11  # a small vocabulary for the model tests


def torch_gpt_logits(model: GPT, layers: list[nn.TransformerEncoderLayer], ids: torch.Tensor) -> torch.Tensor:
    """What ``model`` should compute, with torch's own layers doing the blocks."""
    seq = ids.shape[1]
    x = model.tok_emb(ids) + model.pos_emb.weight[:seq]
    mask = nn.Transformer.generate_square_subsequent_mask(seq)
    for layer in layers:
        x = layer(x, src_mask=mask, is_causal=True)
    return model.head(model.norm(x))


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_gpt_with_the_reference_blocks_is_torchs_encoder_stack_with_a_causal_mask(norm):
    torch.manual_seed(0)
    layers = [
        nn.TransformerEncoderLayer(
            16, 2, 64, dropout=0.0, activation="gelu", batch_first=True, norm_first=norm == "pre"
        )
        for _ in range(3)
    ]
    for layer in layers:
        layer.eval()
        with torch.no_grad():
            for p in layer.parameters():  # non-trivial norm gains and biases too
                p.add_(0.1 * torch.randn_like(p))
    model = GPT(GPTShape(V, depth=3, d_model=16, n_heads=2, seq=8, norm=norm), seed=3)
    for block, layer in zip(model.blocks, layers, strict=True):
        block.load_state_dict(TransformerBlock.from_torch(layer).state_dict())
    ids = torch.randint(V, (4, 8))
    with torch.no_grad():
        torch.testing.assert_close(model(ids), torch_gpt_logits(model, layers, ids), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_the_no_skip_arm_is_the_reference_block_without_its_residuals(norm):
    model = GPT(GPTShape(V, depth=2, d_model=16, n_heads=2, seq=8, norm=norm, residual=False), seed=1)
    twin = GPT(GPTShape(V, depth=2, d_model=16, n_heads=2, seq=8, norm=norm), seed=1)
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)  # the same weights with and without skips
    ids = torch.randint(V, (3, 8))
    x = model.tok_emb(ids) + model.pos_emb.weight[:8]
    for wrapped in model.blocks:
        reference = TransformerBlock(16, 2, norm=norm, residual=False)
        reference.load_state_dict(wrapped.block.state_dict())
        x = reference(x, causal=True)
    with torch.no_grad():
        torch.testing.assert_close(model(ids), model.head(model.norm(x)))


def test_the_model_is_causal():
    model = GPT(GPTShape(V, depth=2, d_model=16, n_heads=2, seq=8))
    ids = torch.randint(V, (1, 8))
    changed = ids.clone()
    changed[0, 5] = (ids[0, 5] + 1) % V
    with torch.no_grad():
        moved = (model(changed) - model(ids)).abs().amax(dim=(0, 2))  # (seq,)
    assert (moved[:5] == 0).all() and (moved[5:] > 0).all()


def _copy_work(tmp_path: Path, source: str) -> Path:
    for name in ("exercise_02_layer_norm", "exercise_03_mlp", "exercise_04_transformer_block"):
        shutil.copy(ROOT / source / f"{name}.ipynb", tmp_path / f"{name}.ipynb")
    return tmp_path


def test_your_blocks_are_used_when_their_checks_pass_and_start_from_the_same_weights(tmp_path):
    parts = load_your_blocks(_copy_work(tmp_path, "solutions"))
    assert all(line.startswith("yours") for line in parts.sources), parts.describe()
    assert parts.TransformerBlock is not TransformerBlock
    ids = torch.randint(V, (2, 8))
    for norm in ("pre", "post"):
        for residual in (True, False):
            shape = GPTShape(V, depth=2, d_model=16, n_heads=2, seq=8, norm=norm, residual=residual)
            yours, reference = GPT(shape, parts, seed=2), GPT(shape, seed=2)
            assert isinstance(
                yours.blocks[0].attn if residual else yours.blocks[0].block.attn, nn.MultiheadAttention
            )
            with torch.no_grad():
                torch.testing.assert_close(yours(ids), reference(ids), atol=1e-5, rtol=1e-5)


def test_unfinished_or_missing_exercises_fall_back_to_the_reference_and_say_why(tmp_path):
    parts = load_your_blocks(_copy_work(tmp_path, "exercises"))
    assert all("check not attempted" in line for line in parts.sources), parts.describe()
    assert parts.TransformerBlock is TransformerBlock
    (tmp_path / "exercise_03_mlp.ipynb").unlink()
    broken = json.loads((ROOT / "solutions/exercise_02_layer_norm.ipynb").read_text())
    for cell in broken["cells"]:
        if "class LayerNorm(" in "".join(cell["source"]):
            cell["source"] = "".join(cell["source"]).replace("unbiased=False", "unbiased=True")
    (tmp_path / "02_layer_norm.ipynb").write_text(json.dumps(broken))  # the old name still counts
    (tmp_path / "exercise_02_layer_norm.ipynb").unlink()
    lines = load_your_blocks(tmp_path).describe().splitlines()
    assert "check failed" in lines[0] and "not started" in lines[1]


def test_baselines_against_a_direct_count():
    text = CharText(train=torch.tensor([0, 1, 0, 1, 0, 2]), heldout=torch.tensor([0, 1, 2]), vocab="abc")
    unigram, bigram = baseline_bits(text, seq=1, chars=2)  # scored: "b" after "a", "c" after "b"
    p = {0: 4 / 9, 1: 3 / 9, 2: 2 / 9}  # counts 3, 2, 1 plus one each
    assert unigram == pytest.approx(-(math.log2(p[1]) + math.log2(p[2])) / 2)
    # after "a": b twice, c once, a never -> (0+1, 2+1, 1+1)/6; after "b": a twice -> (2+1, 1, 1)/5
    assert bigram == pytest.approx(-(math.log2(3 / 6) + math.log2(1 / 5)) / 2)


def test_heldout_bits_is_the_cross_entropy_in_bits_over_whole_windows():
    model = GPT(GPTShape(V, depth=1, d_model=16, n_heads=2, seq=4))
    ids = torch.randint(V, (23,))
    x, y = ids[:20].view(5, 4), ids[1:21].view(5, 4)
    with torch.no_grad():
        expected = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1)).item() / math.log(2)
    assert heldout_bits(model, ids, seq=4, chars=100) == pytest.approx(expected)


def test_the_scored_windows_spread_over_the_whole_held_out_text():
    ids = torch.arange(1000)
    x, y = eval_windows(ids, seq=10, chars=40)  # 4 windows of 10, the last one ending the text
    assert x[:, 0].tolist() == [0, 329, 658, 987] and torch.equal(y, x + 1)
    assert eval_windows(ids[:23], seq=4, chars=100)[0].flatten().tolist() == list(range(20))
    with pytest.raises(ValueError, match="too short"):
        eval_windows(ids[:4], seq=4, chars=100)


def test_the_schedule_warms_up_only_the_warm_up_arms_and_falls_to_zero():
    config = GPTConfig(steps=100, warmup_steps=10, lr=1.0)
    assert lr_at(0, config, warmup=False) == 1.0 and lr_at(0, config, warmup=True) == pytest.approx(0.1)
    assert lr_at(9, config, warmup=True) == 1.0 and lr_at(50, config, warmup=False) == 1.0
    assert lr_at(99, config, warmup=False) == pytest.approx(0.02)


def test_greedy_generation_takes_the_likeliest_character_from_the_last_seq_characters():
    model = GPT(GPTShape(V, depth=1, d_model=16, n_heads=2, seq=4)).eval()
    prompt = torch.tensor([1, 2, 3, 4, 5])
    out = generate(model, prompt, 3, 0.0, torch.Generator())
    ids = prompt
    for _ in range(3):
        ids = torch.cat([ids, model(ids[-4:].unsqueeze(0))[0, -1].argmax().view(1)])
    assert torch.equal(out, ids)


def test_config_refuses_bad_arms_and_seeds():
    with pytest.raises(ValueError, match="share a name"):
        GPTConfig(arms=(Arm("a"), Arm("a", residual=False)))
    with pytest.raises(ValueError, match="distinct"):
        GPTConfig(seeds=(1, 1))
    with pytest.raises(ValueError, match="norm"):
        Arm("x", norm="middle")


@pytest.fixture(scope="module")
def small_run():
    """Every lesson arm at a small size: 150 steps of 16 windows, three seeds (about 25 s of CPU)."""
    return run_gpt(GPTConfig(steps=150, batch=16, eval_chars=4096, sample_steps=(150,)), progress_bar=False)


def test_skips_beat_no_skips_on_every_seed_and_no_skips_learn_no_more_than_frequencies(small_run):
    pre, none = small_run.heldout("pre-norm"), small_run.heldout("pre-norm, no skips")
    assert all(n - p > 0.4 for p, n in zip(pre, none, strict=True)), (pre, none)
    assert min(none) > small_run.unigram_bits - 0.1


def test_post_norm_without_warm_up_stays_at_the_unigram_baseline_and_warm_up_rescues_some_seeds(small_run):
    """At this small budget warm-up rescues post-norm on one seed of three (4.22 against 4.84 bits);
    on the others both stay at the unigram baseline. Pinned: never worse, and a rescue on some seed."""
    post, warm = small_run.heldout("post-norm"), small_run.heldout("post-norm + warm-up")
    assert all(abs(p - small_run.unigram_bits) < 0.1 for p in post), post
    assert all(w < p + 0.02 for p, w in zip(post, warm, strict=True)), (post, warm)
    assert max(p - w for p, w in zip(post, warm, strict=True)) > 0.5, (post, warm)


def test_the_lesson_widgets_read_the_result(small_run):
    table = heldout_table(small_run)
    assert "pre-norm, no skips" in table and f"{small_run.bigram_bits:.2f}" in table
    assert "no skips: " in gpt_findings(small_run)
    summary, figure = sample_view(small_run, "The é", 0.0)
    assert "'The '" in summary and len(figure.texts) == 2 * len(small_run.config.arms)
    assert figure._repr_png_().startswith(b"\x89PNG")  # a live widget shows a picture, not <Figure ...>
    assert sample_view(small_run, "The ", 0.0)[1].texts[1].get_text() == figure.texts[1].get_text()
    assert small_run.run("pre-norm").samples[0][0] == 150
    for k, arm in enumerate(small_run.config.arms):  # the default view reuses training's last sample
        ids = small_run.text.encode("The ")
        model, stream = small_run.run(arm.name).model, torch.Generator().manual_seed(0)
        fresh = small_run.text.decode(generate(model, ids, SAMPLE_CHARS, 0.8, stream))
        assert sample_view(small_run)[1].texts[2 * k + 1].get_text() == repr(fresh)[1:-1]


def test_the_lesson_model_with_skips_ends_clearly_below_the_bigram_baseline():
    """The lesson's own set-up, pre-norm arm, first seed (about 7 s of CPU)."""
    result = run_gpt(GPTConfig(arms=(Arm("pre-norm"),), seeds=(0,), sample_steps=()), progress_bar=False)
    assert result.heldout("pre-norm")[0] < result.bigram_bits - 0.25
    assert result.bigram_bits < result.unigram_bits - 1.0
    assert load_text().vocab_size == result.text.vocab_size


def test_thread_workers_elsewhere_give_the_numbers_of_the_forked_ones(monkeypatch):
    """Linux trains in forked processes, macOS and Windows in threads: the same numbers."""
    from coursekit.experiments import gpt

    config = GPTConfig(
        arms=ARMS[:2], seeds=(0, 1), steps=6, warmup_steps=3, eval_chars=512, sample_steps=(6,)
    )
    forked = run_gpt(config, progress_bar=False)
    monkeypatch.setattr(gpt, "FORKS", False)
    threaded = run_gpt(config, progress_bar=False)
    for a, b in zip(forked.runs, threaded.runs, strict=True):
        assert (a.arm, a.seed, a.train_bits, a.samples, a.heldout_bits) == (
            b.arm,
            b.seed,
            b.train_bits,
            b.samples,
            b.heldout_bits,
        )
