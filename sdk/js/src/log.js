//! batch-sdk (JavaScript) → log: structured log records through the host's logger (the host
//! adds job, step and plugin fields; values are plain text).

import { log as wit } from 'batch:plugin/log@0.1.0';

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error']);

/** Emits one record at `level` (trace, debug, info, warn or error). */
export function log(level, message, fields = {}) {
  const lvl = LEVELS.has(level) ? level : 'info';
  wit(lvl, String(message), Object.entries(fields).map(([k, v]) => [String(k), String(v)]));
}

export const debug = (message, fields) => log('debug', message, fields);
export const info = (message, fields) => log('info', message, fields);
export const warn = (message, fields) => log('warn', message, fields);
export const error = (message, fields) => log('error', message, fields);
