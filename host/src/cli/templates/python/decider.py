"""__NAME__: a decider. It answers where the flow goes next: the answer is matched against the
decider step's `next` transitions like an exit code."""

import batch_sdk


class Plugin(batch_sdk.Decider):
    def init(self, setup):
        # At least this many items read by the step before: BIG, otherwise SMALL.
        self.threshold = setup.config_fields(threshold=3)["threshold"]

    def decide(self, job_context, last_step):
        read = last_step.read_count if last_step is not None else 0
        return "BIG" if read >= self.threshold else "SMALL"


Lifecycle, FlowDecider = batch_sdk.export_decider(Plugin)
