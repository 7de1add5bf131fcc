"""course_utils.viz.architectures: the normalization masks and their cube figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_utils import viz  # noqa: E402


def test_normalization_masks_count_the_pooled_values():
    shape = (3, 4, 5)  # (N, C, H*W)
    sizes = {
        kind: int(viz.normalization_mask(kind, shape, groups=2).sum())
        for kind in viz.NORMALIZATIONS
    }
    assert sizes == {"batch": 3 * 5, "layer": 4 * 5, "instance": 5, "group": 2 * 5}
    with pytest.raises(ValueError, match="kind"):
        viz.normalization_mask("weight", shape)
    with pytest.raises(ValueError, match="groups"):
        viz.normalization_mask("group", shape, groups=3)


def test_cube_figure_has_four_titled_panels():
    fig = viz.draw_normalization_cubes()
    assert [ax.get_title() for ax in fig.axes] == [
        "Batch norm",
        "Layer norm",
        "Instance norm",
        "Group norm (2 groups)",
    ]
    plt.close(fig)
