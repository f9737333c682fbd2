"""__NAME__: a writer. It appends each chunk's items to `path` as JSON lines. The file's length
is the checkpoint: a restart cuts away whatever a failed chunk left behind."""

import json

import batch_sdk
from batch_sdk import Error, ExecutionContext


class Plugin(batch_sdk.Writer):
    def init(self, setup):
        config = setup.config_fields(path=None)
        path = config["path"]
        if not isinstance(path, str) or not path or path.startswith("/") or ".." in path.split("/"):
            raise Error.config("`path` must be a file name relative to the step's directory")
        self.path = path
        self.committed = 0  # the file's length at the last committed chunk
        self.length = 0  # its length with what the current chunk wrote

    def open(self, context):
        self.committed = self.length = context.get("length", 0)
        self.truncate()

    def truncate(self):
        with open(self.path, "ab") as f:
            f.truncate(self.committed)
        self.length = self.committed

    def write(self, items):
        text = "".join(json.dumps(item, separators=(",", ":"), ensure_ascii=False) + "\n" for item in items)
        data = text.encode()
        with open(self.path, "ab") as f:
            f.write(data)
        self.length += len(data)

    def update(self):
        return ExecutionContext({"length": self.length})

    def after_chunk(self):
        self.committed = self.length

    def after_chunk_error(self):
        # The chunk rolled back: cut away what it wrote.
        self.truncate()


Lifecycle, ItemStream, ItemWriter, ChunkListener = batch_sdk.export_writer(Plugin)
