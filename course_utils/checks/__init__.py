"""The checkers that assignments' test cells call as ``cu.checks.check_...``: one module per assignment.

- :mod:`.assignment1`: 1-D convolution, output sizes, padding, stride, dilation, im2col.
- :mod:`.assignment2`: 2-D convolution and pooling, im2col, groups, counts, the torch version.
- :mod:`.assignment3`: backpropagation: numerical gradients, ReLU, convolution, pooling,
  col2im, the transposed convolution, autograd, training on the digits.

Shared parts (visible/hidden cases, the hidden-case seed, diagnosing likely mistakes) live in
:mod:`._common`.
"""

from ._common import CASES, hidden_rng, secret_seed
from .assignment1 import *  # noqa: F403
from .assignment1 import __all__ as _assignment1
from .assignment2 import *  # noqa: F403
from .assignment2 import __all__ as _assignment2
from .assignment3 import *  # noqa: F403
from .assignment3 import __all__ as _assignment3

ASSIGNMENT_MODULES = ("assignment1", "assignment2", "assignment3")

__all__ = [
    "CASES",
    "ASSIGNMENT_MODULES",
    "hidden_rng",
    "secret_seed",
    *_assignment1,
    *_assignment2,
    *_assignment3,
]
