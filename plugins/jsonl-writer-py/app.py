"""jsonl-writer-py: the JSON-lines writer of plugins/jsonl-writer, in Python.

Transactional like the Rust writer: a chunk's lines are appended when the chunk is written and
become final when it commits; the checkpoint is the committed byte length of the file. A
rolled-back chunk is truncated away, and ``open`` on a restart cuts the file back to the
checkpoint, so every committed item is in the output exactly once, even after a crash between
the file write and the repository commit. An output shorter than its checkpoint is an error
(``io.output-truncated``), never a silent continue.

Config: ``path`` (relative to the step's directory), ``sync`` (default true: fsync before each
commit)."""

import os

import batch_sdk
from batch_sdk import Error, ExecutionContext

COMMITTED = "committed-bytes"


def relative_path(field: str, path: str) -> str:
    """A path from the config: relative, inside the step's directory (the only one a plugin
    can see)."""
    if not isinstance(path, str) or not path:
        raise Error.config(f"config `{field}` is empty; give a file name")
    if path.startswith("/"):
        raise Error.config(
            f"`{field}`: `{path}` is absolute; paths are relative to the step's directory, the only one a plugin can see"
        )
    if ".." in path.split("/"):
        raise Error.config(f"`{field}`: `{path}` leaves the step's directory (`..`); paths stay inside it")
    return path


class JsonlWriter(batch_sdk.Writer):
    raw_items = True

    def init(self, setup):
        config = setup.config_fields(path=None, sync=True)
        self.path = relative_path("path", config["path"])
        self.sync = bool(config["sync"])
        self.file = None
        self.committed = 0
        self.written = 0

    def open(self, context):
        parent = os.path.dirname(self.path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            err = Error.from_exception(e)
            raise Error(err.kind, f"cannot open `{self.path}`: {err.message}") from None
        self.file = os.fdopen(fd, "r+b", buffering=0)
        length = os.fstat(fd).st_size
        self.committed = int(context.get(COMMITTED, 0))
        if length < self.committed:
            raise Error(
                "io.output-truncated",
                f"`{self.path}` is {length} bytes but {self.committed} bytes were committed; it was changed outside the job",
            )
        self._truncate_to_committed()

    def _truncate_to_committed(self):
        if self.file is None:
            raise Error("plugin.lifecycle", "write before open")
        self.file.truncate(self.committed)
        self.file.seek(self.committed)
        self.written = self.committed

    def write(self, items):
        if self.file is None:
            raise Error("plugin.lifecycle", "write before open")
        lines = []
        for item in items:
            if b"\n" in item:
                raise Error("validation.jsonl", "an item contains a newline; items must be single-line JSON")
            lines.append(item)
        data = b"\n".join(lines) + b"\n" if lines else b""
        view = memoryview(data)
        while view:  # an unbuffered write may take only part of the bytes
            view = view[self.file.write(view) :]
        self.written += len(data)

    def update(self):
        if self.file is not None and self.sync:
            os.fsync(self.file.fileno())
        return ExecutionContext({COMMITTED: self.written})

    def after_chunk(self):
        self.committed = self.written

    def after_chunk_error(self):
        self._truncate_to_committed()

    def close(self):
        if self.file is not None:
            os.fsync(self.file.fileno())
            self.file.close()
            self.file = None


Lifecycle, ItemStream, ItemWriter, ChunkListener = batch_sdk.export_writer(JsonlWriter)
