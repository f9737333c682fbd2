//! batch-sdk (JavaScript) → errors: a plugin failure with a dotted kind.

/**
 * A plugin failure: a dotted `kind` that fault-tolerance rules match on, and a message.
 * Kinds go from general to specific (`validation.email`, `io.timeout`): a job's rule for
 * `validation` also matches `validation.email`, and the most specific rule wins.
 */
export class PluginError extends Error {
  constructor(kind, message) {
    super(String(message));
    this.name = 'PluginError';
    this.kind = String(kind);
  }

  /** A bad `config` section in job.yaml (kind `config`). */
  static config(message) {
    return new PluginError('config', message);
  }

  /** An item that fails a validation rule: kind `validation.<rule>`. */
  static validation(rule, message) {
    return new PluginError(`validation.${rule}`, message);
  }

  /** An input/output failure: kind `io.<what>`. */
  static io(what, message) {
    return new PluginError(`io.${what}`, message);
  }

  /**
   * Any thrown value as a PluginError: a PluginError stays itself, anything else becomes
   * `plugin.exception` naming its type, so a bug fails the item with a kind no skip rule
   * matches by accident.
   */
  static from(e) {
    if (e instanceof PluginError) return e;
    if (e instanceof Error) return new PluginError('plugin.exception', `${e.name}: ${e.message}`);
    return new PluginError('plugin.exception', `thrown: ${String(e)}`);
  }

  /** The WIT `plugin-error` record. */
  toWire() {
    return { kind: this.kind, message: this.message };
  }
}
