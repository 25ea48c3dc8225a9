"""Plots and the self-contained HTML report of an analysed call."""
