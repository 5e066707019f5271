"""The relevance judge's weights (``judge.py``), one per ``judge.FEATURES``, and those of the
model fitted without ``covered`` (``PLAIN_``, one per ``judge.PLAIN_FEATURES``), which decides
whether a search answers at all and judges where the embedder gives no word-piece vectors.
Written by ``python benchmarks/fit_judge.py`` from the tuning half of
benchmarks/data/devmem.json: refit with that command, never by hand.

HOOK_POINT: the probability a hit needs for the prompt hook to inject it (and to be marked
relevant); SEARCH_POINT: the plain model's probability the best candidate needs for a search
to answer at all; SEARCH_COSINE: the cosine, in units of the embedder's floor, a hit without
every query word needs to be close; SEARCH_UNHELD: the cosine (same unit) it needs when no
candidate holds any word of the query (the store holds them nowhere: "xyzzy").

Figures (with --project):
HOOK_POINT 0.45 (chosen on the tuning half)
tune: hook answer 0.49, anything for unrelated 0.06 / near 0.38; AUC answer vs absent 0.57
valid: hook answer 0.53, anything for unrelated 0.00 / near 0.19; AUC answer vs absent 0.71
LoCoMo tuning: hook accepts an evidence turn 0.21
LoCoMo other: hook accepts an evidence turn 0.18

Without ``covered``:
HOOK_POINT 0.43, SEARCH_POINT 0.12, SEARCH_COSINE 0.64, SEARCH_UNHELD 1.16 (chosen on the tuning
half)
tune: hook answer 0.47, anything for unrelated 0.06 / near 0.38; search says nothing for answerable
0.02, unrelated 0.62, near 0.00 (without its project 0.02, 0.38, 0.00); absent.json 0.52; AUC answer
vs absent 0.51
valid: hook answer 0.52, anything for unrelated 0.06 / near 0.25; search says nothing for answerable
0.05, unrelated 0.75, near 0.00 (without its project 0.01, 0.44, 0.00); absent.json 0.40; AUC answer
vs absent 0.64
LoCoMo tuning: hook accepts an evidence turn 0.13; search says nothing 0.00
LoCoMo other: hook accepts an evidence turn 0.16; search says nothing 0.00
"""

WEIGHTS = (0.0000, 2.3809, 0.3487, 0.1440, -0.2112, 0.0000, 0.6238, 5.5285)
BIAS = -3.0220
HOOK_POINT = 0.45

PLAIN_WEIGHTS = (0.5815, 2.1183, 0.6627, -0.2323, -0.0444, 0.1988, 2.8626)
PLAIN_BIAS = -3.5381
PLAIN_HOOK_POINT = 0.43
SEARCH_POINT = 0.12
SEARCH_COSINE = 0.64
SEARCH_UNHELD = 1.16
