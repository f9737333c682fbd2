//! batch-sdk (JavaScript) → context: what a plugin learns in `init` (Setup) and its
//! ExecutionContext.

import { PluginError } from './errors.js';

/** What a plugin receives before its first call: its job.yaml `config` and the job parameters. */
export class Setup {
  constructor({ config = {}, params = [], jobName = 'test-job', stepName = 'test-step' } = {}) {
    this.config = config;
    this.params = params;
    this.jobName = jobName;
    this.stepName = stepName;
  }

  /** The value of job parameter `name`, or undefined. */
  param(name) {
    const p = this.params.find((p) => p.name === name);
    return p === undefined ? undefined : p.value;
  }

  /**
   * The config with `defaults` filled in; a key not among `defaults` is a `config` error naming
   * it, so a typo in job.yaml never passes silently.
   */
  configFields(defaults) {
    const out = { ...defaults };
    for (const [key, value] of Object.entries(this.config)) {
      if (!Object.hasOwn(defaults, key)) {
        const known = Object.keys(defaults).map((k) => `\`${k}\``).join(', ') || 'none';
        throw PluginError.config(`invalid plugin config: unknown field \`${key}\`, expected one of ${known}`);
      }
      out[key] = value;
    }
    return out;
  }

  static fromWire(s) {
    const text = s.config.trim();
    let config = {};
    if (text !== '') {
      try {
        config = JSON.parse(text);
      } catch (e) {
        throw PluginError.config(`config is not JSON: ${e.message}`);
      }
    }
    if (config === null || typeof config !== 'object' || Array.isArray(config)) {
      throw PluginError.config('config must be a mapping');
    }
    const params = s.params.map((p) => ({
      name: p.name,
      value: p.value,
      typeName: p.type,
      identifying: p.identifying,
    }));
    return new Setup({ config, params, jobName: s.jobName, stepName: s.stepName });
  }
}

/**
 * Spring Batch's ExecutionContext: string keys, JSON values. A reader or writer returns one from
 * `update` (saved with each committed chunk) and receives the last saved one in `open`.
 */
export class ExecutionContext {
  constructor(entries = {}) {
    this.entries = new Map(Object.entries(entries));
  }

  put(key, value) {
    this.entries.set(String(key), value);
    return this;
  }

  get(key, fallback = undefined) {
    return this.entries.has(key) ? this.entries.get(key) : fallback;
  }

  has(key) {
    return this.entries.has(key);
  }

  get size() {
    return this.entries.size;
  }

  static fromWire(list) {
    const ctx = new ExecutionContext();
    for (const { key, value } of list) {
      try {
        ctx.entries.set(key, JSON.parse(value));
      } catch (e) {
        throw new PluginError('context.decode', `key \`${key}\`: ${e.message}`);
      }
    }
    return ctx;
  }

  toWire() {
    return [...this.entries.keys()].sort().map((key) => {
      const value = JSON.stringify(this.entries.get(key));
      if (value === undefined) {
        throw new PluginError('context.encode', `execution context key \`${key}\` has no JSON form`);
      }
      return { key, value };
    });
  }
}

/** Spring Batch's ExitStatus. */
export class ExitStatus {
  constructor(code, description = '') {
    this.code = String(code);
    this.description = String(description);
  }
}

/** What an `afterStep` hook or a decider learns about a step execution (counts as Numbers). */
export function stepSummary(s) {
  return {
    name: s.name,
    status: s.status,
    exitStatus: new ExitStatus(s.exitStatus.code, s.exitStatus.description),
    readCount: Number(s.readCount),
    writeCount: Number(s.writeCount),
    filterCount: Number(s.filterCount),
    skipCount: Number(s.skipCount),
    commitCount: Number(s.commitCount),
    rollbackCount: Number(s.rollbackCount),
  };
}
