//! member-processor-js: the member processor of plugins/member-processor, in JavaScript.
//!
//! Same behaviour as the Rust plugin, item for item (a shared golden test holds them to it):
//! every string field is trimmed; the email (config `email-field`, default `email`) is
//! lowercased and must look like `local@domain.tld`, otherwise the item fails with kind
//! `validation.email`; required fields (config `required`, default `["id", "email"]`) must be
//! present and non-empty (`validation.required`); `country` is uppercased,
//! `first_name`/`last_name` get a capital initial. Input that is not a JSON object fails with
//! `item.decode`.

import { PluginError, Processor, exportProcessor } from 'batch-sdk';

// Unicode White_Space, the set Rust's str::trim strips (String.prototype.trim also strips
// U+FEFF and keeps U+0085, unlike Rust).
const SPACE = new Set(
  '\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000',
);
const LOCAL = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+$/;
const LABEL = /^[A-Za-z0-9-]+$/;
const ALPHA = /^[A-Za-z]+$/;

function trim(s) {
  let start = 0;
  let end = s.length;
  while (start < end && SPACE.has(s[start])) start++;
  while (end > start && SPACE.has(s[end - 1])) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/** True when `email` has the shape `local@domain.tld` with no spaces and one `@`. */
export function isValidEmail(email) {
  const at = email.indexOf('@');
  if (at < 0) return false;
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (local === '' || local.length > 64 || local.startsWith('.') || local.endsWith('.') || local.includes('..')) {
    return false;
  }
  if (!LOCAL.test(local)) return false;
  const labels = domain.split('.');
  if (labels.length < 2) return false;
  for (const l of labels) {
    if (l === '' || l.startsWith('-') || l.endsWith('-') || !LABEL.test(l)) return false;
  }
  const tld = labels[labels.length - 1];
  return tld.length >= 2 && ALPHA.test(tld);
}

/** A capital initial and the rest in lower case, character by character as Rust does. */
function capitalise(s) {
  const [first = '', ...rest] = s;
  return first.toUpperCase() + rest.map((c) => c.toLowerCase()).join('');
}

class MemberProcessor extends Processor {
  init(setup) {
    const config = setup.configFields({ 'email-field': 'email', required: ['id', 'email'] });
    this.emailField = config['email-field'];
    this.required = config.required;
    if (typeof this.emailField !== 'string') {
      throw PluginError.config('invalid plugin config: `email-field` must be a string');
    }
    if (!Array.isArray(this.required) || !this.required.every((f) => typeof f === 'string')) {
      throw PluginError.config('invalid plugin config: `required` must be a list of strings');
    }
  }

  process(member) {
    if (member === null || typeof member !== 'object' || Array.isArray(member)) {
      throw new PluginError('item.decode', `invalid type: ${member === null ? 'null' : typeof member}, expected a JSON object`);
    }
    for (const [key, value] of Object.entries(member)) {
      if (typeof value === 'string') member[key] = trim(value);
    }
    for (const field of this.required) {
      const value = member[field];
      if (!Object.hasOwn(member, field) || value === null || value === '') {
        throw PluginError.validation('required', `field \`${field}\` is missing or empty`);
      }
    }
    const id = Object.hasOwn(member, 'id') ? JSON.stringify(member.id) : '';
    let email = member[this.emailField];
    if (typeof email === 'string') {
      email = email.toLowerCase();
      member[this.emailField] = email;
      if (!isValidEmail(email)) {
        throw PluginError.validation('email', `member ${id}: invalid email \`${email}\``);
      }
    }
    if (typeof member.country === 'string') member.country = member.country.toUpperCase();
    for (const name of ['first_name', 'last_name']) {
      if (typeof member[name] === 'string') member[name] = capitalise(member[name]);
    }
    return member;
  }
}

export const { lifecycle, itemProcessor } = exportProcessor(MemberProcessor);
