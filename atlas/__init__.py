"""ATLAS compendium: data, training, scaling laws and transfer analysis for Longpre et al. (2025)."""

__version__ = "0.1.0"
