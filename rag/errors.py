"""One exception hierarchy, so callers (CLI, HTTP) can catch at the level they care about."""


class RagError(Exception):
    """Base of every error the library raises on purpose; its message tells the user what to do."""


class BadDocument(RagError):
    """A source file or record cannot be read as a document."""


class IndexNotFound(RagError):
    """No index exists at the given path."""


class IndexMismatch(RagError):
    """The index was built with another model or chunker than the one configured now."""


class CorruptIndex(RagError):
    """The index files are missing or do not match their recorded checksums."""


class WriteFailed(RagError):
    """The index could not be written (a disk error); nothing was acknowledged and the index is as before."""


class DiskFull(WriteFailed):
    """No space left where the index is written."""


class BadQuery(RagError):
    """A question or its options cannot be answered as given (empty, unknown mode, bad filter)."""


class ShardUnavailable(RagError):
    """A shard of a sharded index did not answer (its process died or is restarting)."""
