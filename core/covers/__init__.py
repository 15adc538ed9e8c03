"""Covers (issue 19): a track's lead sheet, the first stage of re-making it in another genre."""

from core.covers.leadsheet import LeadSheet, LeadSheetError, LeadSheetOptions, lead_sheet
from core.covers.notes import Note

__all__ = ["LeadSheet", "LeadSheetError", "LeadSheetOptions", "Note", "lead_sheet"]
