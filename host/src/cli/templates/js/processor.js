//! __NAME__: a processor. It receives one JSON object per input record and returns it changed,
//! filters it (return undefined), or fails it with a dotted error kind the job's
//! fault-tolerance rules can skip or retry.

import { PluginError, Processor, exportProcessor } from 'batch-sdk';

class Plugin extends Processor {
  init(setup) {
    // Unknown config keys are refused, so a typo in job.yaml does not pass silently.
    this.field = setup.configFields({ field: 'name' }).field;
  }

  process(item) {
    const value = item[this.field];
    if (typeof value !== 'string' || value.trim() === '') {
      throw PluginError.validation('missing', `\`${this.field}\` is empty`);
    }
    item[this.field] = value.trim().toUpperCase();
    return item;
  }
}

export const { lifecycle, itemProcessor } = exportProcessor(Plugin);
