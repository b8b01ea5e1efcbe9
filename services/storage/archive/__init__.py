"""The archive: everything the streamer and the alert engine record, kept when Redis forgets, in a SQLite file or
on PostgreSQL (``DATABASE_URL``); see ``ArchiveWriter``."""

from services.storage.archive.database import FILE_NAME, AlertRow, Archive, Batch, SavedRulesRow, State
from services.storage.archive.outbox import WebhookItem, WebhookMark
from services.storage.archive.writer import ArchiveUnavailable, ArchiveWriter

__all__ = [
    "FILE_NAME",
    "AlertRow",
    "Archive",
    "ArchiveUnavailable",
    "ArchiveWriter",
    "Batch",
    "SavedRulesRow",
    "State",
    "WebhookItem",
    "WebhookMark",
]
