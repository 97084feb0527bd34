"""The input of traces/sort.trace.gz (docs/traces.md): ``python3 traces/sort_input.py > words.txt``.

5,000 lines of 400 characters of made-up words, the same on every machine (random.Random(19)).
"""

import random

r = random.Random(19)
vocab = ["".join(r.choice("bcdfghjklmnprstvwz") + r.choice("aeiou") for _ in range(r.randint(1, 4))) for _ in range(400)]
for _ in range(5000):
    line = []
    while sum(map(len, line)) + len(line) < 400:
        line.append(r.choice(vocab))
    print(" ".join(line)[:400])
