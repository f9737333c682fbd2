//! member-generator-js: a reader, in JavaScript, that generates synthetic member records for
//! demos and load tests, restartably.
//!
//! Item n (1-based) is `{"id": n, "name": " Member n ", "email": "Member.n@Example.com"}` — the
//! name padded and the email in mixed case, so the member processor has work to do — and every
//! `invalid-every`-th member's email is `member.n@invalid` (no dot in the domain), which the
//! member processor rejects. The checkpoint is the number of members handed out, so a restarted
//! step continues with the next one.
//!
//! Config: `count` (how many members, required), `invalid-every` (default 0: none).

import { ExecutionContext, PluginError, Reader, exportReader } from 'batch-sdk';

const POSITION = 'position';

class MemberGenerator extends Reader {
  init(setup) {
    const config = setup.configFields({ count: undefined, 'invalid-every': 0 });
    if (!Number.isSafeInteger(config.count) || config.count < 0) {
      throw PluginError.config('`count` must be a whole number of members, 0 or more');
    }
    if (!Number.isSafeInteger(config['invalid-every']) || config['invalid-every'] < 0) {
      throw PluginError.config('`invalid-every` must be a whole number, 0 or more');
    }
    this.count = config.count;
    this.invalidEvery = config['invalid-every'];
    this.position = 0;
  }

  open(context) {
    const position = context.get(POSITION, 0);
    if (!Number.isSafeInteger(position) || position < 0 || position > this.count) {
      throw new PluginError('context.decode', `checkpoint \`${POSITION}\` is ${JSON.stringify(position)}, outside 0..${this.count}`);
    }
    this.position = position;
  }

  read() {
    if (this.position >= this.count) return undefined;
    const n = ++this.position;
    const invalid = this.invalidEvery > 0 && n % this.invalidEvery === 0;
    return {
      id: n,
      name: ` Member ${n} `,
      email: invalid ? `member.${n}@invalid` : `Member.${n}@Example.com`,
    };
  }

  update() {
    return new ExecutionContext({ [POSITION]: this.position });
  }
}

export const { lifecycle, itemStream, itemReader } = exportReader(MemberGenerator);
