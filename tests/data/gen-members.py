#!/usr/bin/env python3
"""Generates a realistic members CSV for the member-migration demo, tests and benchmarks.

Columns: id,first_name,last_name,email,country,joined. Values carry the mess a real export has
(stray spaces, mixed case). `--invalid N` makes N rows (spread evenly) have a broken email.
Deterministic for a given --seed.
"""
import argparse
import random

FIRST = ["anna", "Ben", " carla", "DAVID", "eva", "Felix", "greta", "Hugo", "ines", "Jonas", "Kira",
         "lena", "Marco", "nora", "Oskar", "paula", "Quentin", "rosa", "Sven", "tara", "Uwe", "vera"]
LAST = ["Müller", "schmidt", "SCHNEIDER", "fischer", "Weber", "meyer", "Wagner", "becker", "Schulz",
        "hoffmann", "Koch", "richter", "Klein", "wolf", "Neumann", "schwarz", "Braun", "zimmermann"]
DOMAINS = ["example.com", "mail.example.org", "Post.Example.NET", "corp.example.io", "EXAMPLE.de"]
COUNTRIES = ["de", "AT", "ch", "FR", "nl", "be", "DK", "pl", "it", "es"]
BROKEN = ["{u}@", "{u}.example.com", "{u}@@example.com", "{u} @example.com", "@example.com", "{u}@example"]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--invalid", type=int, default=0, help="rows with an invalid email")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    step = a.rows // a.invalid if a.invalid else 0
    invalid = {i * step + step // 2 + 1 for i in range(a.invalid)} if a.invalid else set()
    with open(a.out, "w", encoding="utf-8", newline="") as f:
        f.write("id,first_name,last_name,email,country,joined\n")
        for i in range(1, a.rows + 1):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            user = f"{first.strip()}.{last}{i}".replace("ü", "ue")
            if i in invalid:
                email = rng.choice(BROKEN).format(u=user)
            else:
                email = f"{user}@{rng.choice(DOMAINS)}"
                if rng.random() < 0.1:
                    email = f"  {email} "
            joined = f"20{rng.randint(10, 25):02d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            f.write(f"{i},{first},{last},{email},{rng.choice(COUNTRIES)},{joined}\n")


if __name__ == "__main__":
    main()
