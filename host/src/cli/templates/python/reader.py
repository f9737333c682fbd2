"""__NAME__: a reader. It produces `count` items and checkpoints its position, so a restart
continues after the last committed chunk instead of starting over."""

import batch_sdk
from batch_sdk import Error, ExecutionContext


class Plugin(batch_sdk.Reader):
    def init(self, setup):
        config = setup.config_fields(count=None)
        if not isinstance(config["count"], int) or config["count"] < 0:
            raise Error.config("`count` must be a whole number, 0 or more")
        self.count = config["count"]
        self.next = 1

    def open(self, context):
        # The checkpoint of the last committed chunk, if this is a restart.
        self.next = context.get("next", 1)

    def read(self):
        if self.next > self.count:
            return None
        item = {"id": self.next, "name": f"item {self.next}"}
        self.next += 1
        return item

    def update(self):
        return ExecutionContext({"next": self.next})


Lifecycle, ItemStream, ItemReader = batch_sdk.export_reader(Plugin)
