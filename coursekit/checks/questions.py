"""Conceptual questions, checked against salted hashes so the answer is not in the notebook.

An answer is normalised (a choice letter lower-cased; a number rounded to the question's
decimals), salted with the question's id and hashed; only the hash is stored here. After a
correct answer the explanation is shown; after a wrong one, a nudge that gives nothing away.
Guessing a multiple-choice answer is of course possible: the hash only keeps the answer
from being read off the page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from .core import CheckFailed, CheckResult, as_float, check


@dataclass(frozen=True)
class Question:
    """One question: ``choices`` (letters) or ``decimals`` (numeric), and the hash of the answer."""

    digest: str  # sha256 of f"{id}:{normalised answer}"
    explanation: str  # shown after a correct answer
    nudge: str  # shown after a wrong answer
    choices: tuple[str, ...] = ()  # e.g. ("a", "b", "c"); empty for a numeric answer
    decimals: int = 3  # numeric answers are compared rounded to this many decimals


def digest(question_id: str, normalised: str) -> str:
    return hashlib.sha256(f"{question_id}:{normalised}".encode()).hexdigest()


QUESTIONS = {
    # exercise 01_residual
    "residual_jacobian": Question(
        digest="1a47506ab903c4d303f87d5a60ab958467c9c601ffd6c9342063ce8da8ff4870",
        explanation="dy/dx = I + dF/dx: backpropagation sends g + (dF/dx)^T g to the input, so the "
        "incoming gradient g reaches x whatever the branch does. Lesson 1 measured it: one ReLU "
        "branch's singular values run from about 0.001 to 0.5; with the skip, from 0.7 to 1.4.",
        nudge="differentiate y = x + F(x) term by term: what is the derivative of x with respect to x?",
        choices=("a", "b", "c", "d"),
    ),
    "residual_bn_gradients": Question(
        digest="77a70f5eef54e9884b99e07897ef5a7d27078b292eeeeb82da29cd83b7f8d4eb",
        explanation="About 10^4 times larger: at initialisation BatchNorm makes the backward signal "
        "grow by about 1.2 per block toward the input (Yang et al. 2019), and one SGD step removes "
        "most of it. Normalised plain nets have no vanishing gradient for skips to fix; yet they "
        "still train worse at depth (lesson 5): the skip fixes optimisation.",
        nudge="look again at lesson 1's widget at depth 52, step 0: which block gets the larger gradient?",
        choices=("a", "b", "c"),
    ),
    "residual_stream_growth": Question(
        digest="e8a53b40abc95d5fbb87fd7a40dce90d93e54d825ae6d72710e3a4662bb70bb0",
        explanation="Each block adds a variance equal to the stream's, so the variance doubles per "
        "block and the RMS grows by sqrt(2): sqrt(2)^10 = 32 after 10 blocks (and about 3.4e7 after "
        "50, which lesson 1 measured). Scaling each branch by 1/sqrt(L), or ReZero, stops it.",
        nudge="Var(x + F(x)) = Var(x) + Var(F(x)) when the two are independent; the RMS is the square root",
        decimals=1,
    ),
    "ln_variance": Question(
        digest="a23b52e395d66ef64a673c95c476c0947b5fe3ae60637ac728cf57e806de605a",
        explanation="LayerNorm divides by n: it normalises the features actually present, and "
        "torch.nn.LayerNorm computes the biased variance. torch.var's default (n - 1) is the bug.",
        nudge="think about what torch.nn.LayerNorm computes for a row of n features, and whether "
        "it estimates anything from a sample",
        choices=("a", "b", "c"),
    ),
    "ln_unbiased_factor": Question(
        digest="dd577b757432e133b5ff9107c2b15825270283df54eaf9458d606cd9460e34df",
        explanation="The unbiased std is sqrt(n / (n - 1)) times the biased one, so the output "
        "shrinks by sqrt((n - 1) / n) = sqrt(3/4) ≈ 0.866 for n = 4; for d_model = 512 it is "
        "0.999, small enough to go unnoticed, which is why the bug survives.",
        nudge="write both standard deviations for n = 4 features and take their ratio",
        decimals=3,
    ),
    # lesson 7: skip is not always residual
    "skip_residual_same": Question(
        digest="4333313f804d2cee929b281d35a26c9f80a735ccb48c0cce465f74122308d22a",
        explanation="A residual connection adds the block's input unchanged to its output, "
        "y = x + F(x) (He et al. 2015). The others are skips too, but the input reaches the output "
        "scaled, or through a learned projection, or (DenseNet) concatenated beside new features.",
        nudge="look for the one where the input reaches the output unchanged and is added",
        choices=("a", "b", "c", "d"),
    ),
    "gate_bias_blocks": Question(
        digest="937dda59bce92b172c03667c89787ccee5eae013a652903fb6616d61fea11604",
        explanation="Each block keeps 1 - sigmoid(-1) ≈ 0.73 of the shortcut signal, so after n "
        "blocks 0.73^n, which falls below 1 % at n = ln(0.01) / ln(0.73) ≈ 14.7, so 15 blocks. "
        "At 32 blocks it is 4e-5: the input's direct path through every block starts almost "
        "empty, as in a plain net (each block still keeps 0.73 of its own input). With bias -6, 0.9975^n "
        "stays above 0.9 for 40 blocks.",
        nudge="the fraction after n blocks is (1 - sigmoid(-1))^n; solve for n with a logarithm",
        decimals=0,
    ),
    "densenet_width": Question(
        digest="31fedf2543677ea1efdfeb89cd5839acde2b238a100a30153e7757194a7db476",
        explanation="Every layer appends its 12 new features to everything before it, so after "
        "32 layers the head reads 64 + 32 × 12 = 448 features: the width grows linearly with depth.",
        nudge="start from the stem's 64 features and add the growth rate once per layer",
        decimals=0,
    ),
    "residual_exploding": Question(
        digest="8244c0db4903cea08d2cc329908622b3937b9723b14b6ba98caa31d8167ffe08",
        explanation="x + F(x) keeps x and adds F(x)'s variance on top, so an un-normalised stream "
        "roughly doubles its variance each block (RMS 2e7 to 3e7 after 50 blocks here). "
        "Normalisation, a 1/sqrt(L) branch scale or a zero-initialised gate (ReZero) tame it.",
        nudge="compute Var(x + F(x)) when F(x) is independent of x and has x's variance",
        choices=("a", "b", "c"),
    ),
    "which_skips_train": Question(
        digest="2f6faef9ed5143fdcf5dfb4e370e8db02379596170b478276d66673540cc72fb",
        explanation="DenseNet trained as well as the identity (lower loss, fewer parameters). "
        "Both keep an unchanged copy of earlier features within one step of every later layer; "
        "the scaled, low-bias gated and projected shortcuts change the signal at every block, "
        "and over 24 blocks those changes compound.",
        nudge="look at the table above: which variant's loss range sits next to the identity's?",
        choices=("a", "b", "c", "d"),
    ),
    "block_order_shortcut": Question(
        digest="91c9213528bb20310b28dcf13753168dac7eca6ffc668c54ea6d5f28e606dff0",
        explanation="Full pre-activation: every block is x + F(x) with nothing after the add, so "
        "x_L = x_l + the sum of the branches in between, and the gradient reaches block l through "
        "an identity term (He et al. 2016). The original block puts a ReLU after each add, BN after "
        "addition a BN and a ReLU: each sits on the shortcut path of every later block.",
        nudge="for each block, look at what is applied after x and F(x) are added",
        choices=("a", "b", "c", "d"),
    ),
    # exercise 6: warm-up
    "warmup_full_rate_step": Question(
        digest="061f61778ad41491667d1e097a5cada7dcd55e99cc714d2d5206df11e9d6a5d4",
        explanation="(step + 1) / 50 reaches 1 at step 49, the 50th step: a warm-up of 50 steps "
        "takes 50 steps, the first of them already at base_lr / 50 rather than 0.",
        nudge="step counts from 0; solve (step + 1) / warmup_steps = 1",
        decimals=0,
    ),
    "postnorm_warmup": Question(
        digest="f15fa097456848708f43f349cca164a25fc9ae331994a9b00b6faa2d6cb32f06",
        explanation="That is what the runs show, and all they show: the same network, from the "
        "same weights and on the same minibatches, learns at a rate where without a warm-up it "
        "stays at chance (with Adam here, and with plain SGD in lesson 6b). Why is contested: "
        "large last-layer gradients at init (Xiong et al. 2020, a hypothesis; Adam's steps ignore "
        "the gradient's scale), post-norm amplifying small updates into large output changes "
        "(Liu et al. 2020, Admin), or the variance of Adam's early second-moment estimate "
        "(RAdam). The SGD run rules out the last as the whole story; it does not pick between "
        "the first two.",
        nudge="separate what the two curves show from the stories told about them: which option "
        "claims no more than the experiment measured?",
        choices=("a", "b", "c", "d"),
    ),
    # lesson 06: pre-norm versus post-norm
    "prenorm_last_layer": Question(
        digest="4c7ed4a1e2223d5f3643b3bf8d56f4cfbea0ea0b4830303a5b1a2f646d58067d",
        explanation="Every pre-norm branch reads LN(x_l), so its input is unit-scale at any depth; "
        "but it adds its output to a stream whose squared norm has grown with every layer "
        "(about 17 d after 24 layers in the paper's set-up), and the final LayerNorm divides the "
        "sum by its size. The branch's relative contribution, and with it its gradient, shrinks "
        "(Theorem 1: like 1/sqrt(L) for the last layer).",
        nudge="what does each pre-norm branch read, and what is its output added to?",
        choices=("a", "b", "c", "d"),
    ),
    "adam_gradient_scale": Question(
        digest="fb1ed922c780a996cb4c456555cd6798e245fd85f9f51af475ec750d1c2a4f4c",
        explanation="Adam's step is lr * m / (sqrt(v) + eps): doubling every gradient doubles the "
        "running mean m and the root of the running mean of squares sqrt(v), so the step is "
        "unchanged. That is why 'large gradients mean large steps' holds for SGD but not, as "
        "stated, for Adam: one reason the warm-up story is contested.",
        nudge="write Adam's step as lr * m / sqrt(v) and double the gradient in both",
        choices=("a", "b", "c", "d"),
    ),
    # lesson 06b: post-norm in training
    "placement_by_depth": Question(
        digest="a9ee5b8348522dd879083805c399ac737f900474cb2933730379b917f2a511e3",
        explanation="At 4 layers post-norm's held-out loss was a little lower on average and lower "
        "at 2 of 3 seeds: a small edge, not a rule. At 12 layers it was far higher at every seed, "
        "because at this modest rate it trains much more slowly. Liu et al. (2020) saw the same "
        "shape on WMT14: post-norm ahead at 6 layers, diverging at 12 and 18.",
        nudge="check each option against both depths and against the per-seed counts the table "
        "printed: which one claims no more than they show?",
        choices=("a", "b", "c", "d"),
    ),
    # exercise 5: skip versus no skip
    "skip_measurement": Question(
        digest="d9114a35522ce40689f6f340679eafc0c8e1b632793110dae4a96ac2e2384836",
        explanation="The plain stack's blocks kept gradients of healthy size all through training "
        "(BatchNorm even makes them larger toward the input), yet it trained worse at depth: the "
        "skip did not rescue vanishing gradients, it made the deep stack easy to optimise "
        "(He et al. 2015). And nothing exploded in the residual stack's place either.",
        nudge="look at the gradient norm per block of the deep plain stack during training in "
        "lesson 5: were they vanishing? Then ask what else could make it train worse",
        choices=("a", "b", "c", "d"),
    ),
    "skip_lesion": Question(
        digest="48067de1d3efb589c6fc1451461991c88e94efd1e0e63be4fc6dafb3b124f9b5",
        explanation="With skips, deleting a block removes one term of a sum: the stream flows on "
        "past the gap and the error barely moves (Veit et al. 2016 saw the same in ResNets). "
        "Without skips every block feeds the next, so deleting any one breaks the chain and the "
        "error jumps toward chance. (The nets' BatchNorms use the test batch's statistics, which "
        "helps the block after a gap; lesson 5 says so.)",
        nudge="write out what the block after the deleted one receives, with and without x +",
        choices=("a", "b", "c"),
    ),
    # exercise 03_mlp
    "mlp_parameters": Question(
        digest="2b1a5a643f61fe33f623fbd25c03e65e1ef644e53e1efcab2aa5873727f99834",
        explanation="fc1 has 512 × 2048 weights and 2048 biases, fc2 2048 × 512 weights and 512 "
        "biases: 8·512² + 5·512 = 2,099,712, twice the attention's 4·512² + 4·512 = 1,050,624. "
        "That is the MLP's two thirds of a block.",
        nudge="count fc1 (512 → 2048) and fc2 (2048 → 512), weights and biases",
        decimals=0,
    ),
    "mlp_one_token": Question(
        digest="d79cb1f7c5cf2dd9dac949bd30dadee771bb8a549b9db74c9250dc8b8898dab3",
        explanation="The MLP applies the same two matrices to each position on its own: output 3 "
        "depends on input 3 only. Lesson 3 measured a change of exactly 0 at every other position.",
        nudge="look at which positions fc1 reads when it computes output 3",
        choices=("a", "b", "c"),
    ),
    "mlp_without_attention": Question(
        digest="318f49e909398cc5ea403666d252a05a8076be4f3366c0bf47ef398c8c6037e8",
        explanation="Without attention position t sees only x_t, and (x_{t-1} + x_t) mod 10 given "
        "x_t is uniform over 10 digits: 7 of the 8 positions cost ln 10, so the best loss is "
        "7/8 ln 10 = 2.01, where every seed stopped. Attention moves tokens; the MLP computes.",
        nudge="what can position t know about x_{t-1} if nothing moves information between positions?",
        choices=("a", "b", "c"),
    ),
    # exercise 04_transformer_block
    "block_causal_positions": Question(
        digest="da0a2ae44ecdcd16015a306e24564e4677ca101f756279f9c2b9beb54e1e3b38",
        explanation="Positions 7, 8 and 9: a causal layer's position i reads positions j ≤ i "
        "only, so a change at 7 can reach 7 and later, never 0–6, however many blocks are stacked.",
        nudge="which positions j may position i read under the causal mask?",
        decimals=0,
    ),
    "block_decoder_residual": Question(
        digest="a33775cf5255d2e71080e7f0fd004cef15f0b2e7c3b41c5fd80fde43ffb86bdd",
        explanation="Without both residuals no seed reached loss 0.1 in 200 steps; without the "
        "norms, or with the attention residual alone, every seed did. The residual around "
        "attention keeps each token's own content on an identity path.",
        nudge="look at the 'reached loss 0.1 at … of 3 seeds' lines of lesson 4",
        choices=("a", "b", "c"),
    ),
    "block_decoder_norms": Question(
        digest="5181ff8fce7f97cac2db01204b7b71f3ba205d47068930ec2791103c57f80492",
        explanation="A measurement supports what it measured. With Adam the decoder without norms "
        "was as fast at 4 and 8 blocks (Adam's step ignores the gradient's scale); with plain SGD "
        "at rate 1 it diverged at every seed while the normalised one did not. Nothing here tests "
        "other models or a much deeper decoder, so (a) and (c) go beyond the evidence.",
        nudge="which of the three claims stays within what lesson 4 measured?",
        choices=("a", "b", "c"),
    ),
    # lesson 04
    "lesson_block_adam_scale": Question(
        digest="6bfb3024c205751da70b0d079b50929286e0b4023278b9851f9d667715437ef9",
        explanation="SGD steps by lr × g, so a gradient 100 times larger gives a step 100 times "
        "larger. Adam steps by lr × m / (sqrt(v) + eps): m and sqrt(v) both grow 100 times, so the "
        "step does not change (its first step is lr × sign(g)). Lesson 4 measured ×100 and ×1.",
        nudge="write both update rules and multiply g by 100 in each",
        choices=("a", "b", "c", "d"),
    ),
    "lesson_block_norms_role": Question(
        digest="d506755b5dd2164e51d7ccd9cc2eece17fadf0b45ac3b19ee0d8a70df443b2ec",
        explanation="With Adam the decoder without norms reached loss 0.1 as fast as with them, "
        "at 4 and at 8 blocks, while its stream grew several times more: Adam's step ignores the "
        "gradient's scale. With plain SGD at rate 1 the un-normalised stream and its gradient fed "
        "each other until they overflowed, at every seed; the norms held them at unit scale.",
        nudge="look at the steps to loss 0.1 with and without norms, and at the SGD run's last column",
        choices=("a", "b", "c"),
    ),
    # lesson 05
    "lesson_skip_not_vanishing": Question(
        digest="04c71121634780b71b7a5a5f2546cb8b6d2ec994ac58c6514bb773ffea291f39",
        explanation="A vanishing gradient would leave the early blocks with a tiny share of the "
        "gradient. Lesson 5 logged every block's gradient during training: the smallest share stayed "
        "orders of magnitude above lesson 1's 1e-10, and the plain net still failed to fit. "
        "(a) is about generalisation, (c) about fairness: true, but neither speaks to gradients.",
        nudge="which option is a measurement of the gradient itself?",
        choices=("a", "b", "c"),
    ),
    "lesson_skip_lesion_reading": Question(
        digest="b5224511a060f5f23e7ac1caa7a8aea9d3ea8b0ffa6c15f47c054319ffff3134",
        explanation="Deleting one block cost the residual net less than a point on average and "
        "several blocks degraded it step by step, while any single deletion sent the plain net "
        "toward chance. That is robustness. Veit et al.'s ensemble reading also rests on counting "
        "the lengths of the paths that carry the gradient, which the lesson did not repeat.",
        nudge="separate what was measured (errors after deletions) from how the paper explains it",
        choices=("a", "b", "c"),
    ),
    # lesson 08: your own GPT
    "lesson8_no_skip": Question(
        digest="76ae7ce17ac64639f02cdb95ad7cfd5e38d322f2786e80078087854e20c03563",
        explanation="Only how often each character occurs: its held-out bits per character sit at the "
        "unigram baseline (4.77 bits), well below a uniform guess over 96 characters (log2 96 = 6.58 "
        "bits) but above the bigram baseline (3.63). Its samples show the same: common letters, no words.",
        nudge="compare the no-skip line with the two baselines the lesson printed: which one does it sit at?",
        choices=("a", "b", "c"),
    ),
    "lesson8_warmup_claim": Question(
        digest="34f866ee945264ce1313f6d64817c699b5623a8fb43603b0263b5ab0a9ab335f",
        explanation="Only (a) is what the runs show: at this depth, rate and budget, the same post-norm "
        "model stays at the unigram baseline without warm-up and trains with it. Why warm-up helps is "
        "contested (lesson 6: Xiong et al.'s large last-layer gradients, Liu et al.'s amplified output "
        "change, RAdam's early variance of Adam's second moment); (b) and (c) are two of those accounts, "
        "and nothing here measured gradients or Adam's state.",
        nudge="which statement is about what the held-out numbers show, and which are about why?",
        choices=("a", "b", "c"),
    ),
    # lesson 01: residual connections (the questions at the end of the lesson)
    "lesson1_he_gradient": Question(
        digest="f6a502313bd81b4352c8f01e1885b674cbcb206a6cc3afa68ef472803d5dbddb",
        explanation="Of the same order: He initialisation gives each layer the variance that "
        "undoes ReLU's halving, so at init the gradient keeps its scale block after block (lesson 1 "
        "measured a factor of about 1 per block). The 1e-20 belongs to nn.Linear's default "
        "initialisation, which keeps about 1/18 of the variance per block: vanishing is a "
        "property of the initialisation, not of depth alone.",
        nudge="look again at lesson 1's initialisation picture: which line stays flat going backward?",
        choices=("a", "b", "c"),
    ),
    "lesson1_shattered": Question(
        digest="92e82a04d7001cac8086139e734b9fbbaff2f875e6693769a6f02be8a1002592",
        explanation="The lag-1 autocorrelation compares the gradient at neighbouring inputs, not "
        "its size: near 0, neighbours get unrelated gradients, like white noise (Balduzzi et al. "
        "2017's shattered gradients), while the gradient itself need not be small. With skips the "
        "correlation stays high much deeper.",
        nudge="the autocorrelation is unchanged if you multiply every gradient by 1000: what can it "
        "not be measuring?",
        choices=("a", "b", "c"),
    ),
    # lesson 02: layer normalisation
    "lesson2_scale_invariance": Question(
        digest="3ff407a8929bed091c7b06be7bf8f3799d7a6e0215eb63f06076f73dfb585e78",
        explanation="LN(cWx) = LN(Wx) for any c > 0 (up to eps): the mean and the standard "
        "deviation both scale by c and cancel. So the output and the loss do not change, and the "
        "gradient with respect to W shrinks by 1/c: larger weights take relatively smaller steps, "
        "which keeps the effective step size in check (lesson 2 measured both).",
        nudge="write LN(c·z) for z = Wx: what do the mean and the standard deviation of c·z become?",
        choices=("a", "b", "c"),
    ),
    "lesson2_batch_independent": Question(
        digest="f1ebfa6683eef4c5bb998e9df2dfe9cfc8f9da2daaa8edaa81b78c390a352709",
        explanation="LayerNorm takes its statistics over one example's own features, so its output "
        "does not depend on the rest of the batch and is the same in training and evaluation. "
        "BatchNorm's statistics come from the batch in training and from running averages in "
        "evaluation; lesson 2 measured both differences.",
        nudge="over which axis does each norm take its mean and variance?",
        choices=("a", "b", "c"),
    ),
    # lesson 03: the MLP block
    "lesson3_one_token": Question(
        digest="68c3a2a3c9659a864e3f531ff3cb6bf694dc3bfd66ee4eabbba9735511196a1c",
        explanation="The MLP applies the same two matrices to each position on its own, so only "
        "output 3 moves; self-attention mixes every position into every output, so all of them "
        "move (a causal one: position 3 and the later ones). Lesson 3 measured a change of exactly "
        "0 at the MLP's other positions.",
        nudge="look at lesson 3's influence maps: which one is the diagonal?",
        choices=("a", "b", "c"),
    ),
    "lesson3_rank_collapse": Question(
        digest="8a317a2bcf8b1f9b5abbc202f498623067aea487825eab8b07e65c189d72a4c5",
        explanation="The skip: x + attn(x) adds each layer's averages to the tokens instead of "
        "replacing them, so the tokens stay distinct through 24 layers. Attention alone averages "
        "them into one vector within a few layers (Dong et al. 2021), and at this initialisation "
        "an MLP after each layer does not slow that down.",
        nudge="lesson 3's rank-collapse numbers: which variants are still far from 0 at depth 24?",
        choices=("a", "b", "c"),
    ),
}


def _normalise(question: Question, answer: object) -> str:
    if question.choices:
        if not isinstance(answer, str) or answer.strip().lower() not in question.choices:
            options = ", ".join(repr(c) for c in question.choices)
            raise CheckFailed(
                f"the answer should be one of {options}, got {answer!r}",
                "answer with the letter of your choice, as a string",
            )
        return answer.strip().lower()
    value = as_float(answer)  # a 0-d tensor or a NumPy float is a number too
    if value is None:
        raise CheckFailed(
            f"the answer should be a number, got {answer!r}",
            "answer with a number (a Python expression like 1/3 is fine)",
        )
    return f"{round(value, question.decimals):.{question.decimals}f}"


def check_answer(question_id: str, answer: object | Callable[[], object]) -> CheckResult:
    """Check the answer to ``question_id``; ``answer`` may be a value or a function returning it.

    In the exercises the answer is a function, so that the unanswered stub raises
    ``NotImplementedError`` inside the check ("not attempted") rather than in its own cell.
    """
    if question_id not in QUESTIONS:
        raise ValueError(f"unknown question {question_id!r}; known: {', '.join(QUESTIONS)}")
    return check(question_id)(_check_one)(QUESTIONS[question_id], question_id, answer)


def _check_one(question: Question, question_id: str, answer: object) -> str:
    value = answer() if callable(answer) else answer
    if digest(question_id, _normalise(question, value)) != question.digest:
        raise CheckFailed(f"{value!r} is not the answer", question.nudge)
    return f"correct. {question.explanation}"
