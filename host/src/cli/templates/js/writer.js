//! __NAME__: a writer. JavaScript components (componentize-js) have no file system API, so this
//! one hands each chunk to the host's log as one structured record and keeps a running count
//! in its checkpoint; replace the log call with your destination. For files, use the host's
//! built-in writers (`writer: { builtin: jsonl, ... }`).

import { ExecutionContext, Writer, exportWriter, info } from 'batch-sdk';

class Plugin extends Writer {
  init(setup) {
    this.label = setup.configFields({ label: 'chunk' }).label;
    this.committed = 0; // items written by committed chunks
    this.written = 0; // with the current chunk
  }

  open(context) {
    this.committed = this.written = context.get('written', 0);
  }

  write(items) {
    info(`${this.label}: ${items.length} items`, { first: JSON.stringify(items[0] ?? null) });
    this.written += items.length;
  }

  update() {
    return new ExecutionContext({ written: this.written });
  }

  afterChunk() {
    this.committed = this.written;
  }

  afterChunkError() {
    // The chunk rolled back: it does not count.
    this.written = this.committed;
  }
}

export const { lifecycle, itemStream, itemWriter, chunkListener } = exportWriter(Plugin);
