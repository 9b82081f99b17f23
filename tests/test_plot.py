"""The shared figure pieces: the image mosaic behind every sample grid."""

import numpy as np
import pytest
import torch

from deltalab.lab.plot import image_mosaic, sample_grid


def test_image_mosaic_places_image_j_at_row_j_div_cols():
    images = torch.arange(5, dtype=torch.float32).view(5, 1, 1, 1).expand(5, 1, 2, 2)  # image j is all j
    m = image_mosaic(images, cols=3)
    assert m.shape == (2 * 3 - 1, 3 * 3 - 1)  # 2 rows, 3 columns of 2×2 with 1-pixel gaps
    for j in range(5):
        r, c = divmod(j, 3)
        np.testing.assert_array_equal(m[3 * r : 3 * r + 2, 3 * c : 3 * c + 2], j)
    assert m[2].max() == 0 and m[:, 2].max() == 0  # the gaps are background (white under gray_r)
    np.testing.assert_array_equal(m[3:, 6:], 0)  # the missing sixth image is background too


def test_image_mosaic_accepts_flat_and_channel_layouts():
    flat = torch.rand(4, 64)
    ref = image_mosaic(flat, 2)
    np.testing.assert_array_equal(image_mosaic(flat.view(4, 8, 8), 2), ref)
    np.testing.assert_array_equal(image_mosaic(flat.view(4, 1, 8, 8), 2), ref)
    assert ref.shape == (17, 17)


@pytest.mark.parametrize("shape", [(0, 64), (3, 10), (3, 2, 3)])
def test_image_mosaic_rejects_what_is_not_square_images(shape):
    with pytest.raises(ValueError, match="square images"):
        image_mosaic(torch.zeros(shape), 2)


def test_sample_grid_is_one_axes_with_the_column_titles():
    fig = sample_grid(torch.rand(12, 1, 8, 8), "samples", cols=6, col_titles=[f"t={t}" for t in range(6)])
    (ax,) = fig.axes
    assert ax.get_title(loc="left") == "samples"
    assert [t.get_text() for t in ax.texts] == [f"t={t}" for t in range(6)]
    assert ax.images[0].get_array().shape == (17, 53)
