"""Checkers for Assignment 3 (backpropagation through convolution and pooling), called by its test cells.

Each ``check_*`` takes the student's functions and ``cases="visible"`` (the decks' worked examples
and small cases, shown to students) or ``cases="hidden"`` (random cases compared with PyTorch's
autograd in float64 through :mod:`course_utils.reference`: non-square images and kernels,
strides with overlapping and non-overlapping windows, padding and dilation per axis, batches
and channels; run at grading time). A failure is an ``AssertionError`` naming the call, what
differs and the likely mistake, found by comparing the result with the outputs of typical
backprop bugs (an overwrite instead of an accumulation, the padding not cropped, the stride
ignored in the scatter, dw not summed over the batch, the gradient sent to every tied maximum,
...). The training checkers measure the student's network themselves: they rebuild it in torch
from the returned weights and compute its test accuracy and its first losses.
"""

from ._shared import (
    BACKWARD_LAYERS,
    CONV2D_BACKWARD_FEATURES,
    col2im_2d_reference,
    cubic,
    mix_rows,
    softplus_total,
    wave,
)
from ._shared import DECK0_POOL as DECK0_POOL
from ._shared import DECK0_POOL_MAX as DECK0_POOL_MAX
from ._shared import DECK2_DW as DECK2_DW
from ._shared import DECK2_DX as DECK2_DX
from ._shared import DECK2_DX_STRIDE2 as DECK2_DX_STRIDE2
from ._shared import DECK2_W as DECK2_W
from ._shared import DECK2_X as DECK2_X
from ._shared import DIGITS_BATCH_SIZE as DIGITS_BATCH_SIZE
from ._shared import DIGITS_LOSS_ATOL as DIGITS_LOSS_ATOL
from ._shared import DIGITS_LR as DIGITS_LR
from ._shared import DIGITS_MIN_ACCURACY as DIGITS_MIN_ACCURACY
from ._shared import DIGITS_PARAMETERS as DIGITS_PARAMETERS
from ._shared import DIGITS_STEPS as DIGITS_STEPS
from ._shared import DIGITS_TIME_LIMIT_S as DIGITS_TIME_LIMIT_S
from ._shared import HIDDEN_RANDOM_CASES_3 as HIDDEN_RANDOM_CASES_3
from ._shared import NUMERIC_ATOL as NUMERIC_ATOL
from ._shared import NUMERIC_RTOL as NUMERIC_RTOL
from ._shared import SMALL_DW as SMALL_DW
from ._shared import SMALL_DX as SMALL_DX
from ._shared import SMALL_IMAGE as SMALL_IMAGE
from ._shared import SMALL_KERNEL as SMALL_KERNEL
from ._shared import TRANSPOSE_OUT as TRANSPOSE_OUT
from ._shared import TRANSPOSE_X as TRANSPOSE_X
from .convolution import check_conv1d_backward, check_conv2d_backward, check_conv2d_forward
from .gradients import check_numeric_gradient, check_relu
from .im2col import check_col2im_2d, check_conv2d_backward_im2col
from .pooling import (
    check_avg_pool2d_backward,
    check_backward_errors,
    check_max_pool2d_backward,
    check_max_pool2d_ties,
)
from .training import check_digits_cnn_accuracy, check_digits_cnn_steps
from .transposed import check_conv2d_function, check_conv_transpose2d

__all__ = [
    "BACKWARD_LAYERS",
    "CONV2D_BACKWARD_FEATURES",
    "check_avg_pool2d_backward",
    "check_backward_errors",
    "check_col2im_2d",
    "check_conv1d_backward",
    "check_conv2d_backward",
    "check_conv2d_backward_im2col",
    "check_conv2d_forward",
    "check_conv2d_function",
    "check_conv_transpose2d",
    "check_digits_cnn_accuracy",
    "check_digits_cnn_steps",
    "check_max_pool2d_backward",
    "check_max_pool2d_ties",
    "check_numeric_gradient",
    "check_relu",
    "col2im_2d_reference",
    "cubic",
    "mix_rows",
    "softplus_total",
    "wave",
]
