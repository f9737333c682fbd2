//! __NAME__: a decider. It answers where the flow goes next: the answer is matched against the
//! decider step's `next` transitions like an exit code.

import { Decider, exportDecider } from 'batch-sdk';

class Plugin extends Decider {
  init(setup) {
    // At least this many items read by the step before: BIG, otherwise SMALL.
    this.threshold = setup.configFields({ threshold: 3 }).threshold;
  }

  decide(_jobContext, lastStep) {
    const read = lastStep ? lastStep.readCount : 0;
    return read >= this.threshold ? 'BIG' : 'SMALL';
  }
}

export const { lifecycle, flowDecider } = exportDecider(Plugin);
