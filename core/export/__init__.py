"""Exports for people outside the studio: the stakeholder report (:mod:`core.export.report`)."""

from core.export.report import ExportError, Report, ReportPart, find_track, project_report, track_report

__all__ = ["ExportError", "Report", "ReportPart", "find_track", "project_report", "track_report"]
