"""The archive on disk: everything the streamer records, kept when Redis forgets (see ``ArchiveWriter``)."""

from services.archive.database import FILE_NAME, Archive, Batch, State
from services.archive.writer import ArchiveWriter

__all__ = ["FILE_NAME", "Archive", "ArchiveWriter", "Batch", "State"]
