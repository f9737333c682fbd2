"""__NAME__: a processor. It receives one JSON object per input record and returns it changed,
filters it (return None), or fails it with a dotted error kind the job's fault-tolerance rules
can skip or retry."""

import batch_sdk
from batch_sdk import Error


class Plugin(batch_sdk.Processor):
    def init(self, setup):
        # Unknown config keys are refused, so a typo in job.yaml does not pass silently.
        config = setup.config_fields(field="name")
        self.field = config["field"]

    def process(self, item):
        value = item.get(self.field)
        if not isinstance(value, str) or not value.strip():
            raise Error.validation("missing", f"`{self.field}` is empty")
        item[self.field] = value.strip().upper()
        return item


Lifecycle, ItemProcessor = batch_sdk.export_processor(Plugin)
