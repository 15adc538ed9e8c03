"""Workflows over the stages: the analysis-render loop (`loop`), segment editing (`edits`)
and listening (`listen`)."""
