"""Checkers for Assignment 2 (2-D convolution and pooling, loops to im2col to the GPU), called by its test cells.

Each ``check_*`` takes the student's function and ``cases="visible"`` (the decks' examples and
small cases, shown to students) or ``cases="hidden"`` (random cases against
:mod:`course_utils.reference` in float64: non-square images and kernels, strides that do not
divide evenly, padding and dilation per axis, groups, tie-free pooling inputs; run at grading
time). A failure is an ``AssertionError`` naming the call, what differs and the likely mistake,
found by comparing the result with the outputs of typical 2-D bugs (height and width swapped,
padding on one side, pooling padded with zeros, groups split wrongly, ...).
"""

from ._shared import CONV2D_FEATURES, ERROR_FUNCTIONS_2D, im2col_2d_reference
from ._shared import DECK2_IMAGE as DECK2_IMAGE
from ._shared import DECK2_KERNEL as DECK2_KERNEL
from ._shared import DECK2_OUTPUT as DECK2_OUTPUT
from ._shared import HIDDEN_RANDOM_CASES_2D as HIDDEN_RANDOM_CASES_2D
from ._shared import POOL_AVG as POOL_AVG
from ._shared import POOL_INPUT as POOL_INPUT
from ._shared import POOL_MAX as POOL_MAX
from ._shared import SHARPEN_IMAGE as SHARPEN_IMAGE
from ._shared import SHARPEN_KERNEL as SHARPEN_KERNEL
from ._shared import SHARPEN_OUTPUT as SHARPEN_OUTPUT
from .conv2d import check_conv2d
from .counts import (
    check_conv2d_multiplications,
    check_conv2d_parameters,
    check_depthwise_separable_conv2d,
    check_receptive_field,
)
from .errors import check_argument_errors_2d
from .im2col import check_conv2d_im2col, check_im2col_2d
from .pooling import check_avg_pool2d, check_max_pool2d
from .single import check_conv2d_single
from .torch_version import check_conv2d_torch

__all__ = [
    "CONV2D_FEATURES",
    "ERROR_FUNCTIONS_2D",
    "check_argument_errors_2d",
    "check_avg_pool2d",
    "check_conv2d",
    "check_conv2d_im2col",
    "check_conv2d_multiplications",
    "check_conv2d_parameters",
    "check_conv2d_single",
    "check_conv2d_torch",
    "check_depthwise_separable_conv2d",
    "check_im2col_2d",
    "check_max_pool2d",
    "check_receptive_field",
    "im2col_2d_reference",
]
