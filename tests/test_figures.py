"""lens_ui.figures: colour-named factor values keep their colour, filters, 3-D embeddings, labelled heatmaps."""
import numpy as np

from lens_ui.figures import FILTERED_OUT, NAMED_COLOURS, scatter_figure
from sslcore.data import COLOUR_NAMES


def _hue(hex_colour: str) -> float:
    import colorsys

    r, g, b = (int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return colorsys.rgb_to_hsv(r, g, b)[0] * 360


def test_a_value_named_red_is_drawn_red_and_the_legend_matches_its_points():
    xy = np.random.default_rng(0).normal(size=(80, 2))
    colour = np.arange(80) % len(COLOUR_NAMES)
    fig = scatter_figure(xy, colour, colour_names=COLOUR_NAMES)
    by_name = {t.name: t.marker.color for t in fig.data}
    assert set(by_name) == set(COLOUR_NAMES)
    assert by_name["red"] == NAMED_COLOURS["red"]
    red, green, blue = _hue(by_name["red"]), _hue(by_name["green"]), _hue(by_name["blue"])
    assert red < 15 or red > 345
    assert 90 < green < 150 and 200 < blue < 250


def test_other_names_take_the_palette_and_filtered_rows_turn_grey():
    xy = np.random.default_rng(1).normal(size=(30, 2))
    colour = np.arange(30) % 3
    shown = colour != 2
    fig = scatter_figure(xy, colour, colour_names=["circle", "square", "star"], shown=shown)
    assert [t.name for t in fig.data] == ["circle", "square", "filtered out"]
    assert len({t.marker.color for t in fig.data}) == 3
    grey = fig.data[-1]
    assert grey.marker.color == FILTERED_OUT and sorted(grey.customdata) == list(np.flatnonzero(~shown))


def test_three_columns_make_a_3d_scatter_with_row_indices():
    xyz = np.random.default_rng(2).normal(size=(20, 3))
    fig = scatter_figure(xyz, np.arange(20) % 2, highlight=[0, 3])
    assert {t.type for t in fig.data} == {"scatter3d"}
    assert sorted(int(r) for t in fig.data[:2] for r in t.customdata) == list(range(20))
    assert list(fig.data[-1].customdata) == [0, 3]


def test_a_small_chart_keeps_its_legend_below_the_tick_labels():
    from lens_ui.figures import curves_figure

    fig = curves_figure({"alignment": ([1, 2, 3], [1, 0.5, 0.2]), "uniformity": ([1, 2, 3], [-1, -2, -3])},
                        height=230)
    assert fig.layout.legend.yanchor == "top" and fig.layout.legend.y <= -0.2
    assert fig.layout.margin.b >= 50
