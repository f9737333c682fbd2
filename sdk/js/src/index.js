//! batch-sdk for JavaScript: write batch-host plugins as componentize-js components.
//!
//! Extend the role (Reader, Processor, Writer, Tasklet, Decider), throw a PluginError with a
//! dotted kind for a failure the job's fault-tolerance rules can skip or retry, and export the
//! role's interfaces at the end of the module:
//!
//!     import { Processor, exportProcessor } from 'batch-sdk';
//!     class Upper extends Processor {
//!       process(item) { item.name = item.name.toUpperCase(); return item; }
//!     }
//!     export const { lifecycle, itemProcessor } = exportProcessor(Upper);
//!
//! `batch-host plugin build` bundles the module with this SDK and builds the component.

export { PluginError } from './errors.js';
export { ExecutionContext, ExitStatus, Setup } from './context.js';
export { Decider, Plugin, Processor, Reader, RepeatStatus, Stream, Tasklet, Writer } from './roles.js';
export { exportDecider, exportProcessor, exportReader, exportTasklet, exportWriter, encode, decode } from './exports.js';
export { debug, error, info, log, warn } from './log.js';

/** The batch:plugin contract this SDK implements. */
export const CONTRACT = 'batch:plugin@0.1.0';
