"""Figures: one paper style, maps with outlines and colour bars, the paper's plots (drawn from arrays)."""

from .maps import display_values, map_grid, outline, show_difference, show_frame, show_map
from .paper import draw_cycle_erf, draw_error_propagation, draw_qualitative
from .plots import plot_against_iterations, plot_against_rate, plot_per_frame
from .style import COLORS, DIFF_CMAP, HEAT_CMAP, paper_style, save_figure

__all__ = ["paper_style", "save_figure", "COLORS", "HEAT_CMAP", "DIFF_CMAP", "show_frame", "show_map",
           "show_difference", "outline", "map_grid", "display_values", "plot_against_iterations",
           "plot_against_rate", "plot_per_frame", "draw_error_propagation", "draw_qualitative",
           "draw_cycle_erf"]
