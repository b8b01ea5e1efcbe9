"""The archive: everything the streamer records, kept when Redis forgets, in a SQLite file or on PostgreSQL
(``DATABASE_URL``); see ``ArchiveWriter``."""

from services.archive.database import FILE_NAME, Archive, Batch, State
from services.archive.writer import ArchiveWriter

__all__ = ["FILE_NAME", "Archive", "ArchiveWriter", "Batch", "State"]
