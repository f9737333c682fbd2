//! __NAME__: a reader. It produces `count` items and checkpoints its position, so a restart
//! continues after the last committed chunk instead of starting over.

import { ExecutionContext, PluginError, Reader, exportReader } from 'batch-sdk';

class Plugin extends Reader {
  init(setup) {
    const { count } = setup.configFields({ count: undefined });
    if (!Number.isSafeInteger(count) || count < 0) {
      throw PluginError.config('`count` must be a whole number, 0 or more');
    }
    this.count = count;
    this.next = 1;
  }

  open(context) {
    // The checkpoint of the last committed chunk, if this is a restart.
    this.next = context.get('next', 1);
  }

  read() {
    if (this.next > this.count) return undefined;
    const item = { id: this.next, name: `item ${this.next}` };
    this.next += 1;
    return item;
  }

  update() {
    return new ExecutionContext({ next: this.next });
  }
}

export const { lifecycle, itemStream, itemReader } = exportReader(Plugin);
