//! __NAME__: a tasklet. It asks to be called `times` times (RepeatStatus.CONTINUABLE; each call
//! is its own transaction and its context is committed), counting the calls in its context, so
//! a restarted step continues the count; then it finishes with a description of the work.

import { ExitStatus, PluginError, RepeatStatus, Tasklet, exportTasklet } from 'batch-sdk';

class Plugin extends Tasklet {
  init(setup) {
    const { times } = setup.configFields({ times: 3 });
    if (!Number.isSafeInteger(times) || times < 1) {
      throw PluginError.config('`times` must be a whole number, 1 or more');
    }
    this.times = times;
    this.calls = 0;
  }

  execute(context) {
    this.calls = context.get('calls', 0) + 1;
    context.put('calls', this.calls);
    return this.calls < this.times ? RepeatStatus.CONTINUABLE : RepeatStatus.FINISHED;
  }

  exitStatus() {
    return new ExitStatus('COMPLETED', `called ${this.calls} times`);
  }
}

export const { lifecycle, stepTasklet } = exportTasklet(Plugin);
