"""member-processor-py: the member processor of plugins/member-processor, in Python.

Same behaviour as the Rust plugin, item for item (a shared golden test holds them to it): every
string field is trimmed; the email (config ``email-field``, default ``email``) is lowercased and
must look like ``local@domain.tld``, otherwise the item fails with kind ``validation.email``;
required fields (config ``required``, default ``["id", "email"]``) must be present and non-empty
(``validation.required``); ``country`` is uppercased, ``first_name``/``last_name`` get a capital
initial. Input that is not a JSON object fails with ``item.decode``."""

import json

import batch_sdk
from batch_sdk import Error

# Unicode White_Space, the set Rust's str::trim strips (Python's str.strip also strips
# U+001C..U+001F, which Rust keeps).
_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~.")
_LABEL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_ALPHA = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def is_valid_email(email: str) -> bool:
    """True when ``email`` has the shape ``local@domain.tld`` with no spaces and one ``@``."""
    local, at, domain = email.partition("@")
    if not at:
        return False
    if not local or len(local) > 64 or local[0] == "." or local[-1] == "." or ".." in local:
        return False
    if not _LOCAL.issuperset(local):
        return False
    labels = domain.split(".")
    if len(labels) < 2:
        return False
    for label in labels:
        if not label or label[0] == "-" or label[-1] == "-" or not _LABEL.issuperset(label):
            return False
    tld = labels[-1]
    return len(tld) >= 2 and _ALPHA.issuperset(tld)


def capitalise(s: str) -> str:
    """A capital initial and the rest in lower case, character by character as Rust's
    char::to_lowercase does (so a final sigma stays σ)."""
    return s[:1].upper() + "".join(c.lower() for c in s[1:])


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class MemberProcessor(batch_sdk.Processor):
    def init(self, setup):
        config = setup.config_fields(email_field="email", required=["id", "email"])
        self.email_field = config["email_field"]
        self.required = config["required"]
        if not isinstance(self.email_field, str):
            raise Error.config("invalid plugin config: `email-field` must be a string")
        if not isinstance(self.required, list) or not all(isinstance(f, str) for f in self.required):
            raise Error.config("invalid plugin config: `required` must be a list of strings")

    def process(self, member):
        if not isinstance(member, dict):
            raise Error("item.decode", f"invalid type: {type(member).__name__}, expected a JSON object")
        for key, value in member.items():
            if isinstance(value, str):
                member[key] = value.strip(_SPACE)
        for field in self.required:
            value = member.get(field)
            if value is None or value == "":
                raise Error.validation("required", f"field `{field}` is missing or empty")
        ident = _json(member["id"]) if "id" in member else ""
        email = member.get(self.email_field)
        if isinstance(email, str):
            email = email.lower()
            member[self.email_field] = email
            if not is_valid_email(email):
                raise Error.validation("email", f"member {ident}: invalid email `{email}`")
        country = member.get("country")
        if isinstance(country, str):
            member["country"] = country.upper()
        for name in ("first_name", "last_name"):
            value = member.get(name)
            if isinstance(value, str):
                member[name] = capitalise(value)
        return member


Lifecycle, ItemProcessor = batch_sdk.export_processor(MemberProcessor)
