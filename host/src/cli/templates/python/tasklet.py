"""__NAME__: a tasklet. It runs once per step (return RepeatStatus.CONTINUABLE to be called
again, one transaction per call) and writes a line to `path`."""

import batch_sdk
from batch_sdk import Error, RepeatStatus


class Plugin(batch_sdk.Tasklet):
    def init(self, setup):
        config = setup.config_fields(path=None, text="done")
        if not isinstance(config["path"], str) or not config["path"] or config["path"].startswith("/"):
            raise Error.config("`path` must be a file name relative to the step's directory")
        self.path = config["path"]
        self.text = str(config["text"])

    def execute(self, context):
        with open(self.path, "w") as f:
            f.write(self.text + "\n")
        context.put("written", True)
        return RepeatStatus.FINISHED


Lifecycle, StepTasklet = batch_sdk.export_tasklet(Plugin)
