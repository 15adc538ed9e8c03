"""Descriptor predictions: training corpora (`corpus`), the classifiers (`models`) and the
per-window predictions with their majority table (`predict`)."""
