"""Tests for course_utils.device: device choice with and without a GPU, seeding, the report.

CUDA and MPS are simulated with monkeypatch, so these run on any machine; the one test marked
``gpu`` compares the reference operations on a real GPU with the CPU.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import course_utils
from course_utils import device as course_device
from course_utils import reference
from course_utils.device import (
    DEVICE_ENV_VAR,
    REPORTED_PACKAGES,
    environment_report,
    float64_device,
    format_environment_report,
    get_device,
    seed_everything,
    setup,
)

GIB = 2**30


@pytest.fixture(autouse=True)
def no_device_env(monkeypatch):
    """Start every test without COURSE_DEVICE, and restore cuDNN's flags afterwards."""
    monkeypatch.delenv(DEVICE_ENV_VAR, raising=False)
    flags = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    yield
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags


def simulate(monkeypatch, cuda: bool = False, mps: bool = False, gpus: int = 1):
    """Pretend CUDA (with ``gpus`` devices) and/or Apple's MPS are, or are not, present."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus if cuda else 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


def simulate_gpu_properties(monkeypatch, name="Simulated H100", memory=80 * GIB, current=0):
    """Pretend torch can describe the GPU; return the list of indices it was asked about."""
    asked = []

    def properties(index):
        asked.append(index)
        return SimpleNamespace(name=name, total_memory=memory)

    monkeypatch.setattr(torch.cuda, "get_device_properties", properties)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: current)
    return asked


# ---------------------------------------------------------------------------------------------
# get_device: auto-detection
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, False, "cuda"), (True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_detection_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    """With no argument and no COURSE_DEVICE: CUDA if present, else MPS, else the CPU."""
    simulate(monkeypatch, cuda=cuda, mps=mps)
    assert get_device() == torch.device(expected)


def test_blank_env_var_means_auto(monkeypatch):
    """COURSE_DEVICE set to blanks counts as unset."""
    simulate(monkeypatch, cuda=False)
    monkeypatch.setenv(DEVICE_ENV_VAR, "   ")
    assert get_device() == torch.device("cpu")


def test_no_mps_backend_at_all(monkeypatch):
    """A torch build without torch.backends.mps is treated as having no MPS."""
    simulate(monkeypatch, cuda=False)
    monkeypatch.delattr(torch.backends, "mps")
    assert get_device() == torch.device("cpu")


# ---------------------------------------------------------------------------------------------
# get_device: COURSE_DEVICE and the argument
# ---------------------------------------------------------------------------------------------


def test_env_var_overrides_auto_detection(monkeypatch):
    """COURSE_DEVICE=cpu keeps torch on the CPU even when a GPU is present."""
    simulate(monkeypatch, cuda=True)
    monkeypatch.setenv(DEVICE_ENV_VAR, "cpu")
    assert get_device() == torch.device("cpu")


def test_env_var_chooses_a_cuda_index(monkeypatch):
    """COURSE_DEVICE=cuda:1 picks the second GPU when there are two."""
    simulate(monkeypatch, cuda=True, gpus=2)
    monkeypatch.setenv(DEVICE_ENV_VAR, " cuda:1 ")
    assert get_device() == torch.device("cuda", 1)


def test_argument_overrides_env_var(monkeypatch):
    """An explicit argument wins over COURSE_DEVICE, even one that could not be honoured."""
    simulate(monkeypatch, cuda=False)
    monkeypatch.setenv(DEVICE_ENV_VAR, "cuda")
    assert get_device("cpu") == torch.device("cpu")
    assert get_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("choice", ["cuda", "cuda:0", torch.device("cuda")])
def test_requested_cuda_is_returned_when_present(monkeypatch, choice):
    """Strings and torch.device objects both work."""
    simulate(monkeypatch, cuda=True)
    assert get_device(choice).type == "cuda"


@pytest.mark.parametrize("via_env", [False, True])
def test_requesting_cuda_without_cuda_raises(monkeypatch, via_env):
    """No silent fallback: asking for CUDA on a machine without it is a clear RuntimeError."""
    simulate(monkeypatch, cuda=False)
    if via_env:
        monkeypatch.setenv(DEVICE_ENV_VAR, "cuda")
    with pytest.raises(RuntimeError, match="'cuda' was requested .*COURSE_DEVICE.* no CUDA GPU"):
        get_device(None if via_env else "cuda")


def test_requesting_a_missing_gpu_index_raises(monkeypatch):
    """cuda:1 on a one-GPU machine is refused up front, naming how many GPUs there are."""
    simulate(monkeypatch, cuda=True, gpus=1)
    with pytest.raises(
        RuntimeError, match=r"'cuda:1' was requested but torch sees only 1 CUDA GPU"
    ):
        get_device("cuda:1")


def test_requesting_mps_without_mps_raises(monkeypatch):
    """Asking for MPS where it is absent is a RuntimeError too."""
    simulate(monkeypatch, cuda=True, mps=False)
    with pytest.raises(RuntimeError, match="'mps' was requested but MPS is not available"):
        get_device("mps")


def test_requesting_mps_with_mps(monkeypatch):
    """MPS is returned when asked for and present."""
    simulate(monkeypatch, mps=True)
    assert get_device("mps") == torch.device("mps")


# explicit ids: a test id "gpu" would count as the gpu marker in conftest's keyword check
@pytest.mark.parametrize(
    "name",
    ["gpu", "CUDA", "", "cuda:x", "tpu0"],
    ids=["word-gpu", "upper-case", "empty", "bad-index", "unknown-type"],
)
def test_bad_device_names_raise_value_error(monkeypatch, name):
    """Names torch cannot parse are a ValueError that lists the accepted ones."""
    simulate(monkeypatch, cuda=True)
    with pytest.raises(
        ValueError, match=r"^device: .* is not a device name; use one of cuda, mps, cpu"
    ):
        get_device(name)


@pytest.mark.parametrize("name", ["meta", "xpu"])
def test_unsupported_device_types_raise_value_error(monkeypatch, name):
    """Real torch device types the course does not support are refused by name."""
    simulate(monkeypatch, cuda=True)
    with pytest.raises(ValueError, match=f"^device: '{name}' is not supported"):
        get_device(name)


def test_bad_env_var_raises_value_error(monkeypatch):
    """A typo in COURSE_DEVICE is reported, not ignored."""
    simulate(monkeypatch, cuda=True)
    monkeypatch.setenv(DEVICE_ENV_VAR, "gpu")
    with pytest.raises(ValueError, match="'gpu' is not a device name"):
        get_device()


def test_reference_ops_follow_course_device(monkeypatch):
    """The reference operations compute where get_device says: COURSE_DEVICE=cuda without CUDA fails."""
    simulate(monkeypatch, cuda=False)
    x, w = np.ones((1, 1, 4)), np.ones((1, 1, 2))
    monkeypatch.setenv(DEVICE_ENV_VAR, "cpu")
    np.testing.assert_allclose(reference.conv1d(x, w), [[[2, 2, 2]]])
    monkeypatch.setenv(DEVICE_ENV_VAR, "cuda")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        reference.conv1d(x, w)


# ---------------------------------------------------------------------------------------------
# float64_device
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"), [("mps", "cpu"), ("cpu", "cpu"), ("cuda", "cuda"), ("cuda:1", "cuda:1")]
)
def test_float64_device_maps_mps_to_cpu(given, expected):
    """MPS has no float64, so the reference operations fall back to the CPU there only."""
    assert float64_device(torch.device(given)) == torch.device(expected)


def test_float64_device_defaults_to_get_device(monkeypatch):
    """Without an argument it starts from get_device(): auto-detected MPS becomes the CPU."""
    simulate(monkeypatch, mps=True)
    assert float64_device() == torch.device("cpu")
    simulate(monkeypatch, cuda=True)
    assert float64_device() == torch.device("cuda")


# ---------------------------------------------------------------------------------------------
# seed_everything
# ---------------------------------------------------------------------------------------------


def draw() -> tuple:
    """One draw from each random source the course uses."""
    return random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist()  # noqa: NPY002


def test_seed_everything_makes_all_sources_reproducible():
    """The same seed gives the same Python, numpy and torch draws; another seed does not."""
    seed_everything(123)
    first = draw()
    seed_everything(123)
    assert draw() == first
    seed_everything(124)
    other = draw()
    assert all(a != b for a, b in zip(other, first, strict=True))


def test_seed_everything_sets_cudnn_deterministic():
    """cuDNN is made deterministic and its autotuner switched off."""
    torch.backends.cudnn.deterministic = False
    torch.backends.cudnn.benchmark = True
    seed_everything(0)
    assert torch.backends.cudnn.deterministic is True
    assert torch.backends.cudnn.benchmark is False


def test_seed_everything_seeds_every_gpu(monkeypatch):
    """With CUDA present, all GPUs get the seed too."""
    simulate(monkeypatch, cuda=True)
    seeded = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", seeded.append)
    seed_everything(7)
    assert seeded and set(seeded) == {7}  # torch.manual_seed may seed the GPUs once more itself


@pytest.mark.parametrize("seed", [np.int64(5), 2**64 - 1, 2**40])
def test_seed_everything_accepts_numpy_and_large_ints(seed):
    """numpy integers and seeds beyond 2**32 (numpy takes them modulo 2**32) are fine."""
    seed_everything(seed)
    first = draw()
    seed_everything(seed)
    assert draw() == first


@pytest.mark.parametrize("seed", [-1, 1.5, 2.0, "0", None, True, 2**64])
def test_seed_everything_rejects_bad_seeds(seed):
    """Negative, fractional, non-numeric, boolean and too-large seeds are a ValueError."""
    with pytest.raises(ValueError, match=r"^seed: expected an int"):
        seed_everything(seed)


# ---------------------------------------------------------------------------------------------
# environment_report and format_environment_report
# ---------------------------------------------------------------------------------------------


def test_environment_report_on_cpu(monkeypatch):
    """Versions, the device and CUDA's availability, all strings; no GPU lines on the CPU."""
    simulate(monkeypatch, cuda=False)
    report = environment_report()
    expected_keys = {"python", "platform", *REPORTED_PACKAGES, "device", "cuda available"}
    assert set(report) == expected_keys
    assert all(isinstance(value, str) and value for value in report.values())
    assert report["device"] == "cpu"
    assert report["cuda available"] == "False"
    assert report["numpy"] == np.__version__
    assert report["torch"] == torch.__version__
    assert "gpu" not in report


def test_environment_report_names_missing_packages(monkeypatch):
    """A package that is not installed is reported as such, not as an error."""
    monkeypatch.setattr(course_device, "REPORTED_PACKAGES", ("surely-not-installed-pkg",))
    report = environment_report(torch.device("cpu"))
    assert report["surely-not-installed-pkg"] == "not installed"


def test_environment_report_with_a_gpu(monkeypatch):
    """On CUDA the report adds the GPU's name and memory in GiB."""
    simulate(monkeypatch, cuda=True)
    asked = simulate_gpu_properties(monkeypatch, memory=int(79.6 * GIB), current=0)
    report = environment_report()
    assert report["device"] == "cuda"
    assert report["cuda available"] == "True"
    assert report["gpu"] == "Simulated H100"
    assert report["gpu memory"] == "79.6 GiB"
    assert asked == [0]


def test_environment_report_describes_the_chosen_gpu(monkeypatch):
    """cuda:1 is described by index 1, not by the current device."""
    simulate(monkeypatch, cuda=True, gpus=2)
    asked = simulate_gpu_properties(monkeypatch, name="Second GPU", current=0)
    report = environment_report(torch.device("cuda", 1))
    assert report["gpu"] == "Second GPU"
    assert asked == [1]


def test_format_environment_report_aligns_values():
    """One 'name  value' line per entry, the values starting in one column."""
    text = format_environment_report({"python": "3.11.9", "scikit-learn": "1.5.0"})
    assert text.splitlines() == ["python        3.11.9", "scikit-learn  1.5.0"]


def test_format_environment_report_defaults_to_this_machine(monkeypatch):
    """Without an argument it formats environment_report()."""
    simulate(monkeypatch, cuda=False)
    lines = format_environment_report().splitlines()
    assert len(lines) == len(environment_report())
    assert any(line.startswith("torch ") and torch.__version__ in line for line in lines)


# ---------------------------------------------------------------------------------------------
# setup
# ---------------------------------------------------------------------------------------------


def test_setup_prints_one_line_and_returns_the_device(monkeypatch, capsys):
    """The notebooks' first cell: seed, choose, and say so in one line."""
    simulate(monkeypatch, cuda=False)
    device = setup(seed=3)
    assert device == torch.device("cpu")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert lines[0] == f"course_utils: torch {torch.__version__} on cpu, seed 3"


def test_setup_seeds(monkeypatch, capsys):
    """setup(seed) leaves the random sources as seed_everything(seed) does."""
    simulate(monkeypatch, cuda=False)
    setup(seed=11, quiet=True)
    first = draw()
    seed_everything(11)
    assert draw() == first
    assert capsys.readouterr().out == ""


def test_setup_on_a_gpu_names_it(monkeypatch, capsys):
    """With CUDA, the line adds the GPU's name and memory."""
    simulate(monkeypatch, cuda=True)
    simulate_gpu_properties(monkeypatch, name="Simulated A100", memory=40 * GIB)
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: None)
    assert setup(seed=0) == torch.device("cuda")
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "on cuda (Simulated A100, 40.0 GiB), seed 0" in out


def test_setup_honours_the_device_argument(monkeypatch, capsys):
    """setup(device=...) passes its choice to get_device, errors included."""
    simulate(monkeypatch, cuda=False)
    assert setup(device="cpu", quiet=True) == torch.device("cpu")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        setup(device="cuda", quiet=True)


def test_setup_is_reachable_from_the_package():
    """`import course_utils as cu; cu.setup(...)` is the notebooks' one import."""
    assert course_utils.setup is setup


# ---------------------------------------------------------------------------------------------
# On a real GPU
# ---------------------------------------------------------------------------------------------


def reference_results() -> list[np.ndarray]:
    """Every reference operation once, on fixed random inputs."""
    rng = np.random.default_rng(0)
    x1, w1 = rng.normal(size=(2, 4, 33)), rng.normal(size=(6, 2, 5))
    x2, w2, b2 = rng.normal(size=(2, 4, 17, 19)), rng.normal(size=(6, 2, 3, 3)), rng.normal(size=6)
    out2 = reference.conv2d(x2, w2, b2, stride=2, padding="same", dilation=1, groups=2)
    pooled = reference.max_pool2d(x2, 3, 2, 1)
    results = [
        reference.conv1d(x1, w1, stride=2, padding="same", dilation=2, groups=2),
        out2,
        reference.conv_transpose1d(x1, rng.normal(size=(4, 3, 3)), stride=2, output_padding=1),
        reference.conv_transpose2d(x2, rng.normal(size=(4, 2, 3, 3)), stride=2, padding=1),
        pooled,
        reference.avg_pool2d(x2, 3, 2, 1, ceil_mode=True, count_include_pad=False),
        *reference.conv1d_backward(rng.normal(size=(2, 6, 15)), x1, w1, 2, 0, 1, 2),
        *reference.conv2d_backward(rng.normal(size=out2.shape), x2, w2, 2, "same", 1, 2),
        reference.max_pool2d_backward(rng.normal(size=pooled.shape), x2, 3, 2, 1),
        reference.avg_pool2d_backward(rng.normal(size=pooled.shape), x2, 3, 2, 1),
    ]
    return results


@pytest.mark.gpu
def test_reference_ops_agree_on_cuda_and_cpu(monkeypatch):
    """Every reference operation gives the CPU's float64 results on the GPU."""
    monkeypatch.setenv(DEVICE_ENV_VAR, "cpu")
    assert float64_device().type == "cpu"
    on_cpu = reference_results()
    monkeypatch.setenv(DEVICE_ENV_VAR, "cuda")
    assert float64_device().type == "cuda"
    on_gpu = reference_results()
    assert len(on_gpu) == len(on_cpu)
    for index, (cpu, gpu) in enumerate(zip(on_cpu, on_gpu, strict=True)):
        assert gpu.dtype == np.float64
        np.testing.assert_allclose(gpu, cpu, rtol=1e-10, atol=1e-12, err_msg=f"result {index}")
