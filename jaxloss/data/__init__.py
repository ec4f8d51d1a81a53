"""Datasets for the lesson's examples."""
