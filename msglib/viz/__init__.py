"""Plots and widgets used by the notebooks, one module per course area."""
