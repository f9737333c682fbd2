//! batch-sdk (JavaScript) → roles: the base classes a plugin extends, one per role (Spring
//! Batch's ItemReader + ItemStream, ItemProcessor, ItemWriter + ChunkListener, Tasklet,
//! JobExecutionDecider).
//!
//! Items are JSON values by default: a reader returns objects, a processor receives and returns
//! them, a writer receives an array of them. Set `static rawItems = true` on the class to receive
//! and return `Uint8Array`s instead.

import { ExecutionContext } from './context.js';

/** What every role shares: `init` with the job.yaml `config` and the job parameters. */
export class Plugin {
  static rawItems = false;

  /** Called once before any other call. Throw `PluginError.config` for a bad config. */
  init(setup) {
    this.setup = setup;
  }
}

/** Spring's ItemStream: save your position in `update`, restore it in `open`. */
export class Stream extends Plugin {
  /** Opens the input or output; `context` is what `update` returned at the last commit. */
  open(_context) {}

  /** The state to save with the chunk about to commit (an ExecutionContext or a plain object). */
  update() {
    return new ExecutionContext();
  }

  /** The step completed: return an ExitStatus to replace the host's, or undefined. */
  afterStep(_step) {
    return undefined;
  }

  close() {}
}

/** Produces the items of a step; `read()` returns undefined (or null) at the end. */
export class Reader extends Stream {
  read() {
    throw new Error('a Reader implements read()');
  }
}

/** Transforms, filters (return undefined or null: FILTER_COUNT) or fails (throw) one item. */
export class Processor extends Plugin {
  process(_item) {
    throw new Error('a Processor implements process(item)');
  }
}

/** Writes one chunk of items; make the output transactional with the chunk hooks. */
export class Writer extends Stream {
  write(_items) {
    throw new Error('a Writer implements write(items)');
  }

  beforeChunk() {}

  afterChunk() {}

  afterChunkError() {}
}

/** Whether the host calls `Tasklet.execute` again (Spring Batch's RepeatStatus). */
export const RepeatStatus = Object.freeze({ FINISHED: 'finished', CONTINUABLE: 'continuable' });

/** One unit of work that is not item-oriented, called until it returns FINISHED. */
export class Tasklet extends Plugin {
  execute(_context) {
    throw new Error('a Tasklet implements execute(context)');
  }

  /** The step's exit status once it completes; undefined keeps COMPLETED. */
  exitStatus() {
    return undefined;
  }
}

/** Chooses where the flow goes next: the returned code is matched against `next`. */
export class Decider extends Plugin {
  decide(_jobContext, _lastStep) {
    throw new Error('a Decider implements decide(jobContext, lastStep)');
  }
}
