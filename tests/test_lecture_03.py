"""Lecture 3 (training convolutional networks): the deck's numbers, and the notebook's structure.

The numbers are recomputed with ``course_utils`` and torch directly; executing the notebook (and
its training runs) is another test's job. The structure checks make sure that a reader holding
the deck finds every page, in order.
"""

from __future__ import annotations

import re

import lecture_structure as structure
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import arithmetic, measure, models, reference
from course_utils.publish.notebooks import read_notebook

NOTEBOOK = "lectures/03_training_convolutional_networks.ipynb"
F64 = torch.float64

# Every page of the source deck (Intelligent Visual Computing, UMass), in order, counted from its
# first page: 133 pages. A heading "(deck p. N)" or "(deck pp. N–M)" covers those pages; the
# heading must start with the title of its first page.
DECK_PAGES = [
    "Part I: Intro to NN",
    "From shallow mappings",
    *["To neural nets"] * 3,
    "Neural network",
    *["Activation functions"] * 4,  # sigmoid, ReLU/LReLU, SiLU, swish
    "Deep Neural Network",
    *["Forward propagation"] * 4,
    "Multiple outputs",
    *["How to learn the parameters?"] * 14,  # the loss, the composite function, the chain rule
    *["Backpropagation"] * 5,
    *["Is this magic?"] * 5,
    "Training algorithm",
    *["Gradient Descent"] * 2,
    "Stochastic Gradient Descent",
    *["Minibatch Gradient Descent"] * 2,
    "Part III: ConvNets",
    "Main problem",
    "Local connectivity",
    "Neurons as convolution filters",
    "2D Convolution Review",
    *["2D Convolution Example"] * 4,
    *["2D Convolution: boundaries"] * 2,
    "2D convolution: stride",
    "2D Convolution: Output Size",
    "Can have many filters",
    "Convolution when input has multiple channels",
    "Convolution layer",
    "Convolution layers",
    "Standard convolution",
    "Depthwise separable convolution",
    *["Pooling layer"] * 4,
    "A mini convolutional neural network",
    "AlexNet",
    "Application: Image-Net",
    "Learned filters",
    "Application: Image Segmentation",
    "U-Net architecture",
    *["Transpose Convolution"] * 2,
    "Application: 3D Shape Recognition",
    "Shape recognition with multi-view CNNs",
    *["View Pooling"] * 3,
    "MVCNN architecture",
    "Training",
    "Since 2012, huge progress",
    "To achieve this progress",
    "Part IV: Neural Networks Tricks and Tips",
    "Gradient Descent",
    "Yet, this does not work so easily",
    *["Initialization"] * 5,
    *["Batch Normalization"] * 4,
    "Layer Normalization",
    "Different Normalization Layers",
    *["Momentum + regularization"] * 3,
    "Dropout",
    "Ensemble Averaging",
    "Baby-sitting",
    "Part V: Modern Neural Networks",
    "Revolution of Depth",
    "The deeper, the better?",
    *["ResNets basic idea"] * 3,
    "Since 2012, huge progress",
    "From ResNets to ViTs",
    "Image Classification on ImageNet",
    "Vision Transformers",
    "Attention vs Convolution",
    *["Attention"] * 10,
    "Scaled dot-product attention",
    "New feature representations",
    "Multi-head Attention",
    "Quadratic complexity",
    "Compute attention on patches",
    "ViT for segmentation",
]
PAGE_RANGE = re.compile(r"\(deck pp?\. (\d+)(?:[–-](\d+))?\)")

EXAMPLE = np.array(
    [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]], float
)
KERNEL = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], float)


def _conv2d(image, kernel, **kwargs):
    return reference.conv2d(image[None, None], kernel[None, None], **kwargs)[0, 0]


# ------------------------------------------------------------------ Part I: networks, backprop


def test_activation_derivatives_match_autograd():
    """sigma' = sigma(1 - sigma), ReLU' = [x > 0], LReLU' = a[x <= 0] + [x > 0], SiLU' = s(1 + x(1 - s)).

    The grid holds x = 0 exactly, where PyTorch takes ReLU'(0) = 0 but LReLU'(0) = a.
    """
    x = (torch.arange(-100, 101, dtype=F64) / 20).requires_grad_()
    s = torch.sigmoid(x).detach()
    xd = x.detach()
    assert float(xd[100]) == 0.0
    cases = [
        (torch.sigmoid, s * (1 - s)),
        (torch.relu, (xd > 0).to(F64)),
        (lambda t: F.leaky_relu(t, 0.1), 0.1 * (xd <= 0).to(F64) + (xd > 0).to(F64)),
        (F.silu, s * (1 + xd * (1 - s))),
    ]
    for function, derivative in cases:
        (grad,) = torch.autograd.grad(function(x).sum(), x)
        assert torch.allclose(grad, derivative)
    (leaky,) = torch.autograd.grad(F.leaky_relu(x, 0.1).sum(), x)
    (relu,) = torch.autograd.grad(torch.relu(x).sum(), x)
    assert float(leaky[100]) == 0.1 and float(relu[100]) == 0.0


def _sig3(values):
    return np.vectorize(lambda v: float(f"{v:.3g}"))(np.asarray(values, dtype=float))


def test_the_two_layer_example_by_hand_equals_autograd():
    """x = (1, 2) -> 3 ReLUs -> 2 ReLUs -> sigmoid: y = sigma(0.5); every gradient by the chain rule.

    The numbers the lecture writes out are checked to 3 significant digits. No message is zero
    by accident: only the switched-off unit 3 of layer 1 gets no gradient.
    """
    x = torch.tensor([1.0, 2.0], dtype=F64)
    W1 = torch.tensor([[0.5, -0.2], [0.3, 0.1], [-0.6, 0.1]], dtype=F64, requires_grad=True)
    W2 = torch.tensor([[1.0, 0.5, -1.0], [-0.5, 0.5, 2.0]], dtype=F64, requires_grad=True)
    w3 = torch.tensor([2.0, -1.0], dtype=F64, requires_grad=True)
    a1 = W1 @ x
    h1 = torch.relu(a1)
    a2 = W2 @ h1
    h2 = torch.relu(a2)
    y = torch.sigmoid(w3 @ h2)
    (-torch.log(y)).backward()
    assert abs(float(y.detach()) - 1 / (1 + np.exp(-0.5))) < 1e-12
    g3 = float(y.detach()) - 1
    g_a2 = g3 * w3.detach() * (a2.detach() > 0)
    g_h1 = W2.detach().T @ g_a2
    g_a1 = g_h1 * (a1.detach() > 0)
    assert torch.allclose(w3.grad, g3 * h2.detach())
    assert torch.allclose(W2.grad, torch.outer(g_a2, h1.detach()))
    assert torch.allclose(W1.grad, torch.outer(g_a1, x))
    assert np.array_equal(_sig3(w3.grad), [-0.132, -0.0755])
    assert np.array_equal(_sig3(W2.grad), [[-0.0755, -0.378, 0], [0.0378, 0.189, 0]])
    assert np.array_equal(_sig3(g_h1), [-0.944, -0.189, 1.51])
    assert np.array_equal(_sig3(W1.grad), [[-0.944, -1.89], [-0.189, -0.378], [0, 0]])
    assert torch.all(W1.grad[2] == 0)  # the switched-off unit
    assert torch.all(W1.grad[:2] != 0) and torch.all(g_h1 != 0)  # every active unit learns
    assert np.allclose((W1.detach().T @ g_a1).numpy().round(3), [-0.529, 0.170])


def test_loss_erratum_the_brackets_matter():
    """Label 0, f = 0.2: as printed log 0.8 = -0.223; with brackets +0.223 = BCE."""
    f, label = 0.2, 0
    literal = -(label == 1) * np.log(f) + (label == 0) * np.log(1 - f)
    bracketed = -((label == 1) * np.log(f) + (label == 0) * np.log(1 - f))
    assert literal < 0 and abs(literal - np.log(0.8)) < 1e-12
    bce = F.binary_cross_entropy(torch.tensor([f], dtype=F64), torch.tensor([0.0], dtype=F64))
    assert abs(bracketed - float(bce)) < 1e-12


def test_mean_gradient_is_the_sum_gradient_over_k():
    """The 1/K of the second gradient-descent page = reduction='mean'."""
    torch.manual_seed(0)
    x, labels = torch.randn(50, 6), torch.randint(0, 3, (50,))
    layer = nn.Linear(6, 3)
    grads = []
    for reduction in ("sum", "mean"):
        layer.zero_grad()
        F.cross_entropy(layer(x), labels, reduction=reduction).backward()
        grads.append(layer.weight.grad.clone())
    assert torch.allclose(grads[0] / 50, grads[1], atol=1e-6)


# ------------------------------------------------------------------ Part III: ConvNets


def test_the_5x5_worked_example_and_the_gaussian():
    """Kernel [[0,1,2],[2,2,0],[0,1,2]] -> [[12,12,17],[10,17,19],[9,6,14]]; the Gaussian sums to 1."""
    assert np.array_equal(_conv2d(EXAMPLE, KERNEL), [[12, 12, 17], [10, 17, 19], [9, 6, 14]])
    assert not np.array_equal(_conv2d(EXAMPLE, KERNEL[::-1, ::-1]), _conv2d(EXAMPLE, KERNEL))
    gaussian = np.outer([1, 2, 1], [1, 2, 1]) / 16
    assert gaussian.sum() == 1 and gaussian[1, 1] == 1 / 4 and gaussian[0, 0] == 1 / 16


def test_boundaries_stride_and_output_size():
    """Padding 1 keeps 5x5; (5 - 3 + 2*1)/2 + 1 = 3 with stride 2."""
    same = _conv2d(EXAMPLE, KERNEL, padding=1)
    assert same.shape == (5, 5) and np.array_equal(same[1:-1, 1:-1], _conv2d(EXAMPLE, KERNEL))
    strided = _conv2d(EXAMPLE, KERNEL, stride=2, padding=1)
    assert strided.shape == (3, 3) and np.array_equal(strided, same[::2, ::2])
    assert arithmetic.conv_output_size(5, 3, stride=2, padding=1) == 3


def test_multichannel_demo_and_the_28x28x6_layer():
    """5x5x3, pad 1, two 3x3x3 filters, stride 2 -> 3x3x2; 32x32x3 with six 5x5 filters -> 28x28x6."""
    out = F.conv2d(torch.zeros(1, 3, 5, 5), torch.zeros(2, 3, 3, 3), stride=2, padding=1)
    assert out.shape == (1, 2, 3, 3)
    conv = nn.Conv2d(3, 6, 5)
    assert conv(torch.zeros(1, 3, 32, 32)).shape == (1, 6, 28, 28)
    assert measure.parameter_count(conv) == 456
    assert measure.multiply_adds(conv, (1, 3, 32, 32)) == 352_800


def test_depthwise_separable_counts():
    """12x12x3 -> 8x8x256 with 5x5: 19,200 weights / 1,228,800 mults vs 843 / 53,952."""
    standard = nn.Conv2d(3, 256, 5, bias=False)
    separable = nn.Sequential(
        nn.Conv2d(3, 3, 5, groups=3, bias=False), nn.Conv2d(3, 256, 1, bias=False)
    )
    assert measure.parameter_count(standard) == 19_200
    assert measure.multiply_adds(standard, (1, 3, 12, 12)) == 1_228_800
    assert measure.parameter_count(separable) == 843
    assert measure.multiply_adds(separable, (1, 3, 12, 12)) == 53_952


def test_max_mean_and_gaussian_pooling():
    tile = torch.tensor(EXAMPLE[None, None, :4, :4])
    assert F.max_pool2d(tile, 2)[0, 0].tolist() == [[3, 3], [3, 2]]
    assert F.avg_pool2d(tile, 2)[0, 0].tolist() == [[1.5, 1.75], [1.5, 1.5]]
    gaussian = torch.tensor(np.outer([1, 2, 1], [1, 2, 1]) / 16)[None, None]
    pooled = F.conv2d(F.pad(tile, (1, 1, 1, 1), mode="replicate"), gaussian, stride=2)
    assert pooled.shape == (1, 1, 2, 2) and abs(float(pooled[0, 0, 0, 0]) - 2.25) < 1e-12


def test_alexnet_parameters_neurons_and_input_size():
    """The paper's two-tower AlexNet: 60,965,224 parameters, 659,272 neurons; 227 (not 224) -> 55."""
    with torch.device("meta"):
        alexnet = models.alexnet_2012(groups=2)
    assert measure.parameter_count(alexnet) == 60_965_224
    assert 55 * 55 * 96 + 27 * 27 * 256 + 13 * 13 * 384 * 2 + 13 * 13 * 256 + 8192 + 1000 == 659_272
    assert arithmetic.conv_output_size(227, 11, 4) == 55 != arithmetic.conv_output_size(224, 11, 4)


def test_unet_shapes_572_to_388():
    """Valid 3x3 convs, 2x2 pools and 2x2 stride-2 transposed convs: 572 -> ... -> 388."""
    side, sizes = 572, []
    for level in range(5):
        side -= 4
        sizes.append(side)
        if level < 4:
            side = arithmetic.pool_output_size(side, 2)
    for _ in range(4):
        side = arithmetic.conv_transpose_output_size(side, 2, stride=2) - 4
        sizes.append(side)
    assert sizes == [568, 280, 136, 64, 28, 52, 100, 196, 388]


def test_transposed_convolution_2x2_to_4x4():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=F64)
    k = torch.arange(1.0, 10.0, dtype=F64).reshape(1, 1, 3, 3)
    out = F.conv_transpose2d(x, k)
    assert out.shape == (1, 1, 4, 4)
    assert torch.equal(out, F.conv2d(F.pad(x, (2, 2, 2, 2)), k.flip(-1, -2)))


def test_view_pooling_ignores_the_order_of_views():
    features = torch.randn(12, 64)
    assert torch.equal(features.max(0).values, features[torch.randperm(12)].max(0).values)


# ------------------------------------------------------------------ Part IV: tricks


def _stack_variances(widths, std, seed=0):
    gen = torch.Generator().manual_seed(seed)
    h = torch.randn(2000, widths[0], dtype=F64, generator=gen)
    outputs = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
        h = h @ (torch.randn(fan_out, fan_in, dtype=F64, generator=gen) * std).T
        if not outputs:
            h.requires_grad_()
        h.retain_grad()
        outputs.append(h)
    h.backward(torch.randn(h.shape, dtype=F64, generator=gen))
    return [float(o.detach().var()) for o in outputs], [float(o.grad.var()) for o in outputs]


def test_variance_erratum_product_includes_layer_l():
    """M Var[w] = 2 per layer: Var[h^(l)] = 2^l Var[x] (the slide's product stops at l - 1)."""
    forward, _ = _stack_variances([256] * 6, (2 / 256) ** 0.5)
    assert all(abs(v / 2**layer - 1) < 0.1 for layer, v in enumerate(forward, start=1))


def test_gradient_variance_erratum_uses_fan_out():
    """Through a 400 -> 25 layer with Var[w] = 0.01: x N Var[w] = 0.25, not M Var[w] = 4."""
    _, backward = _stack_variances([100, 400, 25], 0.1)
    assert abs(backward[0] / backward[1] - 0.25) < 0.03


def test_xavier_and_he_bounds():
    """Uniform [-r, r] has variance r^2 / 3: sqrt(6/(N+M)) -> 2/(N+M), sqrt(6/M) -> 2/M."""
    M, N = 300, 100
    w = nn.init.xavier_uniform_(torch.empty(N, M, dtype=F64))
    assert float(w.abs().max()) <= (6 / (N + M)) ** 0.5
    assert abs(float(w.var()) / (2 / (N + M)) - 1) < 0.05
    w = nn.init.kaiming_uniform_(torch.empty(N, M, dtype=F64), nonlinearity="relu")
    assert float(w.abs().max()) <= (6 / M) ** 0.5
    assert abs(float(w.var()) / (2 / M) - 1) < 0.05
    assert abs(12 / (N + M) / 3 - 4 / (N + M)) < 1e-15


def test_batch_and_layer_norm_by_hand():
    torch.manual_seed(1)
    h = torch.randn(4, 2, 2, 2, dtype=F64) * 3 + 1
    bn = nn.BatchNorm2d(2).to(F64).train()
    mean = h.mean(dim=(0, 2, 3), keepdim=True)
    var = h.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    assert torch.allclose(bn(h), (h - mean) / torch.sqrt(var + bn.eps))
    assert torch.allclose(bn.running_var, 0.9 + 0.1 * h.var(dim=(0, 2, 3), unbiased=True))
    ln = nn.LayerNorm([2, 2, 2]).to(F64)
    mu = h.mean(dim=(1, 2, 3), keepdim=True)
    s2 = h.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
    assert torch.allclose(ln(h), (h - mu) / torch.sqrt(s2 + ln.eps))
    with pytest.raises(ValueError):
        nn.BatchNorm1d(3).train()(torch.randn(1, 3))


def test_momentum_and_weight_decay_rules_match_sgd():
    A = torch.tensor([[10.0, 0.0], [0.0, 0.5]], dtype=F64)
    w = torch.tensor([1.0, 1.0], dtype=F64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.05, momentum=0.9)
    mine, delta = torch.tensor([1.0, 1.0], dtype=F64), torch.zeros(2, dtype=F64)
    for _ in range(10):
        opt.zero_grad()
        (0.5 * w @ A @ w).backward()
        opt.step()
        delta = 0.9 * delta + 0.05 * (A @ mine)
        mine = mine - delta
        assert torch.allclose(w.detach(), mine)
    w = torch.tensor([1.0, 1.0], dtype=F64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.05, weight_decay=0.1)
    mine = torch.tensor([1.0, 1.0], dtype=F64)
    for _ in range(5):
        opt.zero_grad()
        (0.5 * w @ A @ w).backward()
        opt.step()
        mine = mine - 0.05 * (A @ mine) - 0.05 * 0.1 * mine
    assert torch.allclose(w.detach(), mine)


def test_dropout_scales_the_survivors():
    kept = nn.Dropout(0.5).train()(torch.ones(10_000))
    assert set(kept.unique().tolist()) <= {0.0, 2.0}
    assert torch.equal(nn.Dropout(0.5).eval()(torch.ones(5)), torch.ones(5))


# ------------------------------------------------------------------ Part V: depth and attention


def test_revolution_of_depth_layer_counts():
    """AlexNet 8, VGG-19 19, ResNet-152 152 weight layers (4 projection shortcuts excluded)."""

    def weight_layers(model):
        return sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())

    with torch.device("meta"):
        assert weight_layers(models.alexnet_2012()) == 8
        assert weight_layers(models.vgg("vgg19")) == 19
        assert weight_layers(models.resnet(152)) - 4 == 152
    assert 1 + 3 * (3 + 8 + 36 + 3) + 1 == 152


def test_scaled_dot_product_attention_by_hand_and_multi_head():
    gen = torch.Generator().manual_seed(3)
    tokens = torch.randn(3, 4, dtype=F64, generator=gen)
    Q, K, V = (torch.randn(4, 4, dtype=F64, generator=gen) for _ in range(3))
    q, k, v = tokens @ Q.T, tokens @ K.T, tokens @ V.T
    by_hand = torch.softmax(q @ k.T / 2, dim=1) @ v
    assert torch.allclose(by_hand, F.scaled_dot_product_attention(q[None], k[None], v[None])[0])
    mha = nn.MultiheadAttention(4, 2, batch_first=True).to(F64)
    Wq, Wk, Wv = mha.in_proj_weight.chunk(3)
    bq, bk, bv = mha.in_proj_bias.chunk(3)
    qa, ka, va = tokens @ Wq.T + bq, tokens @ Wk.T + bk, tokens @ Wv.T + bv
    heads = [
        torch.softmax(qa[:, s] @ ka[:, s].T / 2**0.5, 1) @ va[:, s]
        for s in (slice(0, 2), slice(2, 4))
    ]
    mine = torch.cat(heads, 1) @ mha.out_proj.weight.T + mha.out_proj.bias
    assert torch.allclose(mine, mha(tokens[None], tokens[None], tokens[None])[0][0])


def test_attention_idea_each_wing_looks_for_the_other():
    """pp. 118-120: queries ask for the mirror image (-x, y); keys and values are the centres."""
    centres = torch.tensor([[-1.5, 0.0], [1.5, 0.0], [0.0, 1.5], [0.0, -1.5]], dtype=F64)
    q = centres * torch.tensor([-1.0, 1.0], dtype=F64)
    weights = torch.softmax(q @ centres.T / 2**0.5, dim=1)
    assert torch.allclose(weights.sum(1), torch.ones(4, dtype=F64))
    assert torch.allclose(
        weights @ centres, F.scaled_dot_product_attention(q[None], centres[None], centres[None])[0]
    )
    assert weights.argmax(1).tolist() == [1, 0, 2, 3]  # the other wing; nose and tail: themselves
    assert (
        round(float(weights[0, 1]), 2) == 0.69
        and round(float((weights @ centres)[0, 0]), 2) == 0.99
    )


def test_quadratic_cost_and_vit_patch_embedding():
    assert (224 * 224) ** 2 == 2_517_630_976 and ((224 // 16) ** 2) ** 2 == 38_416
    embed = nn.Conv2d(3, 768, 16, stride=16)
    assert embed(torch.zeros(1, 3, 224, 224)).flatten(2).transpose(1, 2).shape == (1, 196, 768)
    assert measure.parameter_count(embed) == 590_592


def test_dot_product_variance_grows_with_the_dimension():
    torch.manual_seed(0)
    for dim in (16, 256):
        dots = (torch.randn(5000, dim, dtype=F64) * torch.randn(5000, dim, dtype=F64)).sum(1)
        assert abs(float(dots.var()) / dim - 1) < 0.1


# ------------------------------------------------------------------ the notebook's structure


@pytest.fixture(scope="module")
def notebook(repo_root):
    return read_notebook(repo_root / NOTEBOOK)


def test_deck_has_133_pages():
    assert len(DECK_PAGES) == 133


def test_every_deck_page_has_a_section_in_order(notebook):
    covered: list[int] = []
    last_start = 0
    for heading in structure.slide_headings(notebook):
        match = PAGE_RANGE.search(heading)
        if not match or heading.startswith("Lecture "):  # the title names its deck page 1 too
            continue
        first = int(match.group(1))
        last = int(match.group(2) or first)
        assert 1 <= first <= last <= len(DECK_PAGES), heading
        assert first >= last_start, f"{heading!r} comes after page {last_start}: out of deck order"
        title = DECK_PAGES[first - 1].lower()
        assert heading.lower().startswith(title), f"{heading!r} should start with {title!r}"
        covered.extend(range(first, last + 1))
        last_start = first
    missing = sorted(set(range(1, len(DECK_PAGES) + 1)) - set(covered))
    assert not missing, f"deck pages without a section: {missing}"


def test_notebook_credits_the_deck_and_names_no_files(notebook):
    first = notebook.cells[0].source
    for name in ("Intelligent Visual Computing", "Massachusetts", "Evangelos Kalogerakis"):
        assert name in first, f"the first cell must credit the deck: {name!r} is missing"
    text = "\n".join(cell.source for cell in notebook.cells)
    assert ".txt" not in text and "440eee61" not in text
    assert "extraction" not in text.lower()


def test_every_cell_has_slideshow_metadata_and_a_unique_id(notebook, repo_root):
    structure.check_slide_metadata_and_unique_ids(notebook, repo_root / NOTEBOOK)


def test_setup_cell_is_the_first_code_cell(notebook):
    structure.check_setup_cell_first(notebook)


def test_code_cells_are_slide_sized(notebook):
    structure.check_code_cells_slide_sized(notebook, max_lines=20)


def test_training_goes_through_the_shared_loop(notebook):
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert "cu.training.train(" in code
    assert "for epoch" not in code


def test_self_check_has_hidden_answers_each_checked_by_code(notebook):
    """4-6 questions, each answer folded on its own sub-slide and checked by hidden code."""
    structure.check_self_check(notebook)


def test_errata_are_boxed_and_listed_at_the_end(notebook):
    text = "\n".join(cell.source for cell in notebook.cells)
    assert text.count("**Erratum") >= 3
    closing = next(c.source for c in notebook.cells if c.source.startswith("## Errata"))
    for page in ("pp. 17–30", "p. 91", "p. 92"):
        assert page in closing
    assert "RUNTIME_NOTE" not in closing


def test_notebook_is_committed_clean(notebook):
    structure.check_committed_clean(notebook)


def test_slides_show_results_not_support_code(notebook):
    """Every code cell with an assert is hidden on the slides (tag hide-input); every slide and
    sub-slide starts with a heading; nothing about how the lecture was run."""
    for index, cell in enumerate(notebook.cells):
        kind = cell.metadata.get("slideshow", {}).get("slide_type")
        if cell.cell_type == "code" and re.search(r"^\s*assert\b", cell.source, re.M):
            assert "hide-input" in cell.metadata.get("tags", []), f"cell {index}: visible assert"
        if kind in ("slide", "subslide"):
            assert cell.cell_type == "markdown" and cell.source.lstrip().startswith("#"), (
                f"cell {index} opens a slide without a heading: {cell.source[:60]!r}"
            )
    text = "\n".join(cell.source for cell in notebook.cells)
    for phrase in ("Runtime", "load average", "the deck shows", "wall time"):
        assert phrase not in text, phrase


def test_no_progress_bars_on_the_slides(notebook):
    """Training runs in the lecture keep their progress bars off."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and "cu.training.train(" in cell.source:
            assert "progress=False" in cell.source, cell.source[:80]


# ------------------------------------------------------------------ widgets (issue 26, item 6)
WIDGET_CELLS = {
    "stride_explorer = cu.widgets.conv_arithmetic_explorer(": "2D convolution: stride",
    "init_picker = precomputed_picker(": "Initialization (for ReLUs)",
    "lr_picker = precomputed_picker(": "Baby-sitting",
}


def test_three_widgets_each_on_its_own_subslide(notebook):
    """The stride/padding explorer, the weight-std picker and the learning-rate picker: each is
    built in a hidden support cell right under a sub-slide heading of its deck page."""
    for start, title in WIDGET_CELLS.items():
        index = next(i for i, c in enumerate(notebook.cells) if c.source.startswith(start))
        cell = notebook.cells[index]
        assert "hide-input" in cell.metadata.get("tags", []), start
        heading = next(c for c in reversed(notebook.cells[:index]) if c.cell_type == "markdown")
        assert heading.metadata["slideshow"]["slide_type"] == "subslide", start
        assert heading.source.startswith(f"### {title}") and "explore" in heading.source, start


def test_precomputed_picker_redraws_the_chosen_value():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from course_utils.viz.precomputed_picker import precomputed_picker

    def draw(value):
        fig, ax = plt.subplots()
        ax.set_title(f"v = {value}")
        return fig

    picker = precomputed_picker([0.1, 1.0, 10.0], draw, "x", value=1.0)
    assert picker.values == [0.1, 1.0, 10.0] and picker.figure.axes[0].get_title() == "v = 1.0"
    picker.buttons.value = 10.0
    assert picker.value == 10.0 and picker.figure.axes[0].get_title() == "v = 10.0"
    with pytest.raises(ValueError):
        precomputed_picker([1, 2], draw, "x", value=3)


def test_stride_explorer_follows_the_output_size_formula():
    from course_utils import widgets

    explorer = widgets.conv_arithmetic_explorer(5, 3, stride=2, padding=1, show_dilation=False)
    assert explorer.output_size == 3
    explorer.sliders["stride"].value = 1
    assert explorer.output_size == 5  # padding 1 keeps the size at stride 1
    explorer.sliders["padding"].value = 0
    assert explorer.output_size == 3


def test_init_std_picker_small_std_shrinks_large_std_explodes():
    """The picker's grid: 20 ReLU layers of width 256; below He's std the variance shrinks layer
    by layer, at He's it stays, above it explodes, each layer by the factor M Var[w] / 2."""
    he = (2 / 256) ** 0.5
    ratios = {}
    for std in (0.01, 0.06, he, 0.12, 1.0):
        gen = torch.Generator().manual_seed(0)
        h, forward = torch.randn(200, 256, dtype=F64, generator=gen), []
        for _ in range(20):
            h = torch.relu(h @ (torch.randn(256, 256, dtype=F64, generator=gen) * std).T)
            forward.append(float(h.var()))
        ratios[std] = forward[-1] / forward[0]
        predicted = (256 * std**2 / 2) ** 19
        assert abs(np.log(ratios[std] / predicted)) < np.log(3), std
    assert ratios[0.01] < 1e-30 and ratios[0.06] < 1e-3
    assert 0.1 < ratios[he] < 10
    assert ratios[0.12] > 1e3 and ratios[1.0] > 1e30


def test_learning_rate_picker_too_small_barely_moves_too_large_diverges():
    """The picker's extreme runs (4 epochs of SGD, batches of 64, the lecture's seed): 0.001 stays
    at ln 10, 3.0 ends at chance; 0.5 learns."""
    from course_utils import data, digits_nets, training

    train_loader, test_loader = data.digits_dataloaders(batch_size=64)
    runs = {}
    for lr in (0.001, 0.5, 3.0):
        torch.manual_seed(0)
        runs[lr] = training.train(
            digits_nets.mlp([64, 32, 10]),
            train_loader,
            test_loader=test_loader,
            epochs=4,
            lr=lr,
            optimizer="sgd",
            progress=False,
        )
    assert abs(runs[0.001].epoch_losses[-1] - np.log(10)) < 0.1
    assert runs[3.0].test_accuracy[-1] < 0.2
    assert runs[0.5].test_accuracy[-1] > 0.85
