"""Pictures for the lectures, by subject: images, convolution diagrams, volumes, training curves,
ImageNet results by year, attention weights.

Every function returns the matplotlib ``Figure`` it made (or the ``Axes`` it drew on when
given ``ax=``) and never calls ``plt.show()``. In Jupyter, end the call with ``;`` (or assign
the result): pyplot already shows the figure once. Sizes come from :mod:`course_utils.arithmetic`
and values from :mod:`course_utils.reference`, so the pictures agree with the graded code.

Import the package, not its modules: ``cu.viz.draw_conv2d(...)``. A subject module that grows
past one concern becomes a new module here, re-exported below.
"""

from __future__ import annotations

from ._common import (
    CELL_INCHES,
    CURRENT_OUTPUT_COLOR,
    DIVERGING_CMAP,
    EDGE_COLOR,
    HIGHLIGHT_COLOR,
    INPUT_COLOR,
    KERNEL_COLOR,
    OUTPUT_COLOR,
    PAD_COLOR,
    UNVISITED_COLOR,
    WINDOW_COLOR,
)
from .architectures import (
    NORMALIZATIONS,
    draw_dense_block,
    draw_inception_modules,
    draw_normalization_cubes,
    draw_residual_blocks,
    draw_se_block,
    normalization_mask,
)
from .attention import show_attention_weights
from .continuous import CONTINUOUS_KINDS, continuous_convolution, plot_continuous_convolution
from .diagrams import (
    draw_conv1d,
    draw_conv2d,
    draw_dilated_conv,
    draw_pooling,
    draw_receptive_field,
    draw_receptive_field_2d,
    draw_transposed_conv,
    draw_transposed_conv2d,
)
from .imagenet import plot_imagenet_by_year
from .images import plot_filter_bank, show_feature_maps, show_grid, show_image, show_kernels
from .learned_filters import (
    best_stimuli,
    draw_filter_probes,
    oriented_stimuli,
    probe_filters,
    reversed_stimulus,
)
from .network_graphs import draw_network, draw_pipeline, readable
from .receptive_fields import draw_backprojection, draw_dilated_growth
from .slides import fit_for_slides, slide_figures
from .tables import format_number, markdown_table
from .training import plot_curves, plot_descent_paths, plot_per_layer
from .volumes import draw_conv_volume

__all__ = [
    "CELL_INCHES",
    "CONTINUOUS_KINDS",
    "CURRENT_OUTPUT_COLOR",
    "DIVERGING_CMAP",
    "EDGE_COLOR",
    "HIGHLIGHT_COLOR",
    "INPUT_COLOR",
    "KERNEL_COLOR",
    "NORMALIZATIONS",
    "OUTPUT_COLOR",
    "PAD_COLOR",
    "UNVISITED_COLOR",
    "WINDOW_COLOR",
    "best_stimuli",
    "continuous_convolution",
    "draw_backprojection",
    "draw_dilated_growth",
    "draw_filter_probes",
    "format_number",
    "markdown_table",
    "oriented_stimuli",
    "probe_filters",
    "reversed_stimulus",
    "draw_normalization_cubes",
    "draw_conv1d",
    "draw_conv2d",
    "draw_conv_volume",
    "draw_network",
    "draw_pipeline",
    "draw_dilated_conv",
    "draw_dense_block",
    "draw_inception_modules",
    "draw_residual_blocks",
    "draw_se_block",
    "draw_pooling",
    "draw_receptive_field",
    "draw_receptive_field_2d",
    "draw_transposed_conv",
    "normalization_mask",
    "draw_transposed_conv2d",
    "fit_for_slides",
    "plot_continuous_convolution",
    "plot_curves",
    "plot_descent_paths",
    "plot_filter_bank",
    "plot_imagenet_by_year",
    "plot_per_layer",
    "readable",
    "show_attention_weights",
    "show_feature_maps",
    "show_grid",
    "show_image",
    "show_kernels",
    "slide_figures",
]
