//! batch-sdk (JavaScript) → exports: turns a role class into the objects componentize-js
//! exports for the role's world.
//!
//! A plugin module ends with one line, for example:
//!
//!     export const { lifecycle, itemProcessor } = exportProcessor(MemberProcessor);

import { ExecutionContext, Setup, stepSummary } from './context.js';
import { PluginError } from './errors.js';
import { RepeatStatus } from './roles.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const bytes = new TextEncoder();

/** The `plugin-error` a thrown value becomes: componentize-js reads `payload` of what is thrown. */
function wireError(e) {
  return PluginError.from(e).toWire();
}

function call(f) {
  try {
    return f();
  } catch (e) {
    const payload = wireError(e);
    const err = new Error(payload.message);
    err.payload = payload;
    throw err;
  }
}

/** An item for the next plugin: bytes as they are, anything else as compact JSON in UTF-8. */
export function encode(value, raw) {
  if (raw) {
    if (!(value instanceof Uint8Array)) {
      throw new PluginError('item.encode', `a rawItems plugin returns a Uint8Array, not ${typeof value}`);
    }
    return value;
  }
  let text;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new PluginError('item.encode', e.message);
  }
  if (text === undefined) throw new PluginError('item.encode', `${typeof value} has no JSON form`);
  return bytes.encode(text);
}

/** An item from the previous plugin: bytes, or the JSON value they hold. */
export function decode(data, raw) {
  if (raw) return data;
  try {
    return JSON.parse(utf8.decode(data));
  } catch (e) {
    throw new PluginError('item.decode', e.message);
  }
}

/** The one plugin instance of a component, created by `init`. */
class Slot {
  constructor(cls) {
    this.cls = cls;
    this.plugin = undefined;
  }

  get() {
    if (this.plugin === undefined) throw new PluginError('plugin.lifecycle', 'called before init');
    return this.plugin;
  }

  get raw() {
    return this.cls.rawItems === true;
  }
}

function lifecycle(slot) {
  return {
    init(setup) {
      call(() => {
        const plugin = new slot.cls();
        plugin.init(Setup.fromWire(setup));
        slot.plugin = plugin;
      });
    },
  };
}

function exitStatus(status) {
  if (status === undefined || status === null) return undefined;
  return { code: String(status.code), description: String(status.description ?? '') };
}

function itemStream(slot) {
  return {
    open(context) {
      call(() => slot.get().open(ExecutionContext.fromWire(context)));
    },
    update() {
      return call(() => {
        let ctx = slot.get().update();
        if (!(ctx instanceof ExecutionContext)) ctx = new ExecutionContext(ctx ?? {});
        return ctx.toWire();
      });
    },
    afterStep(step) {
      try {
        return exitStatus(slot.get().afterStep(stepSummary(step)));
      } catch {
        // after-step has no error channel: keep the host's status.
        return undefined;
      }
    },
    close() {
      call(() => slot.get().close());
    },
  };
}

/** `{ lifecycle, itemProcessor }` of the processor world. */
export function exportProcessor(cls) {
  const slot = new Slot(cls);
  const one = (item) => {
    const out = slot.get().process(decode(item, slot.raw));
    return out === undefined || out === null ? undefined : encode(out, slot.raw);
  };
  return {
    lifecycle: lifecycle(slot),
    itemProcessor: {
      process(item) {
        return call(() => one(item));
      },
      processBatch(items) {
        return items.map((item) => {
          try {
            const out = one(item);
            return out === undefined ? { tag: 'filtered' } : { tag: 'item', val: out };
          } catch (e) {
            return { tag: 'error', val: wireError(e) };
          }
        });
      },
    },
  };
}

/** `{ lifecycle, itemStream, itemReader }` of the reader world. */
export function exportReader(cls) {
  const slot = new Slot(cls);
  const one = () => {
    const out = slot.get().read();
    return out === undefined || out === null ? undefined : encode(out, slot.raw);
  };
  return {
    lifecycle: lifecycle(slot),
    itemStream: itemStream(slot),
    itemReader: {
      read() {
        return call(one);
      },
      readBatch(max) {
        const outcomes = [];
        while (outcomes.length < max) {
          let out;
          try {
            out = one();
          } catch (e) {
            // A failed read consumes its item.
            outcomes.push({ tag: 'error', val: wireError(e) });
            continue;
          }
          if (out === undefined) return { outcomes, end: true };
          outcomes.push({ tag: 'item', val: out });
        }
        return { outcomes, end: false };
      },
    },
  };
}

/** `{ lifecycle, itemStream, itemWriter, chunkListener }` of the writer world. */
export function exportWriter(cls) {
  const slot = new Slot(cls);
  return {
    lifecycle: lifecycle(slot),
    itemStream: itemStream(slot),
    itemWriter: {
      write(items) {
        call(() => slot.get().write(items.map((i) => decode(i, slot.raw))));
      },
    },
    chunkListener: {
      beforeChunk() {
        call(() => slot.get().beforeChunk());
      },
      afterChunk() {
        call(() => slot.get().afterChunk());
      },
      afterChunkError() {
        call(() => slot.get().afterChunkError());
      },
    },
  };
}

/** `{ lifecycle, stepTasklet }` of the tasklet world. */
export function exportTasklet(cls) {
  const slot = new Slot(cls);
  return {
    lifecycle: lifecycle(slot),
    stepTasklet: {
      execute(context) {
        return call(() => {
          const p = slot.get();
          const ctx = ExecutionContext.fromWire(context);
          let repeat = p.execute(ctx);
          if (repeat === undefined || repeat === true) repeat = RepeatStatus.FINISHED;
          if (repeat === false) repeat = RepeatStatus.CONTINUABLE;
          if (repeat !== RepeatStatus.FINISHED && repeat !== RepeatStatus.CONTINUABLE) {
            throw new PluginError('plugin.protocol', `execute returns a RepeatStatus, not ${String(repeat)}`);
          }
          const finished = repeat === RepeatStatus.FINISHED;
          return {
            repeat,
            context: ctx.toWire(),
            exitStatus: finished ? exitStatus(p.exitStatus()) : undefined,
          };
        });
      },
    },
  };
}

/** `{ lifecycle, flowDecider }` of the decider world. */
export function exportDecider(cls) {
  const slot = new Slot(cls);
  return {
    lifecycle: lifecycle(slot),
    flowDecider: {
      decide(jobContext, lastStep) {
        return call(() => {
          const last = lastStep === undefined || lastStep === null ? undefined : stepSummary(lastStep);
          return String(slot.get().decide(ExecutionContext.fromWire(jobContext), last));
        });
      },
    },
  };
}
