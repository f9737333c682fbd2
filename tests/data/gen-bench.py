#!/usr/bin/env python3
"""Deterministic benchmark data for `make bench`: `id,name,email` member rows.

About 1 % invalid emails in three forms (no `@`, a domain without a dot such as
`user@localhost`, plain garbage), about 10 % of names with spaces around them, about 2 % quoted
names containing a comma (`"Lee, Ann"`), mixed-case emails. The same arguments give the same
bytes on every machine.

    gen-bench.py --rows 1000000 --invalid-pct 1 --out members.csv
"""

import argparse
import random

FIRST = ["Ann", "Bo", "Cai", "Dee", "Eli", "Fay", "Gus", "Hal", "Ida", "Jo", "Kim", "Lee", "Mo", "Ned", "Ola", "Pia"]
LAST = ["Lee", "Smith", "Ng", "Olsen", "Garcia", "Kowalski", "Haddad", "Ito", "Brown", "Silva", "Novak", "Khan"]
DOMAINS = ["example.com", "Example.ORG", "mail.example.net", "corp.example.io"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--invalid-pct", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    invalid = args.invalid_pct / 100.0
    with open(args.out, "w", newline="") as f:
        f.write("id,name,email\n")
        for i in range(1, args.rows + 1):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            r = rng.random()
            if r < 0.02:
                name = f'"{last}, {first}"'
            elif r < 0.12:
                name = f"  {first} {last} "
            else:
                name = f"{first} {last}"
            local = f"{first}.{last}{i}"
            if rng.random() < 0.5:
                local = local.upper() if rng.random() < 0.3 else local
            else:
                local = local.lower()
            email = f"{local}@{rng.choice(DOMAINS)}"
            if rng.random() < invalid:
                form = rng.randrange(3)
                if form == 0:
                    email = email.replace("@", "")
                elif form == 1:
                    email = f"{local}@localhost"
                else:
                    email = "".join(rng.choice("#%&!?-~") for _ in range(10))
            f.write(f"{i},{name},{email}\n")


if __name__ == "__main__":
    main()
