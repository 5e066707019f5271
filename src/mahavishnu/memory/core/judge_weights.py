"""The relevance judge's weights (``judge.py``), one per ``judge.FEATURES``, and those of the
model fitted without ``covered`` (``PLAIN_``, one per ``judge.PLAIN_FEATURES``), which decides
whether a search answers at all and judges where the embedder gives no word-piece vectors.
Written by ``python benchmarks/fit_judge.py`` from the tuning half of
benchmarks/data/devmem.json: refit with that command, never by hand.

HOOK_POINT: the probability a hit needs for the prompt hook to inject it (and to be marked
relevant); SEARCH_POINT: the plain model's probability the best candidate needs for a search
to answer at all; SEARCH_COSINE: the cosine, in units of the embedder's floor, a hit without
every query word needs to be close; HOOK_GATE_POINT and HOOK_GATE_COSINE: the same for the
prompt hook's search (``MemoryStore.search(quiet=True)``), stricter.

Figures (with --project):
HOOK_POINT 0.19, DROPPED 6.0 (chosen on the tuning half)
tune: hook answer 0.61, anything for unrelated 0.06 / near 0.38; AUC answer vs absent 0.69
valid: hook answer 0.68, anything for unrelated 0.19 / near 0.44; AUC answer vs absent 0.77
LoCoMo tuning: hook accepts an evidence turn 0.30
LoCoMo other: hook accepts an evidence turn 0.27

Without ``covered``:
HOOK_POINT 0.43, search (point 0.06, cosine 0.68), the hook's search (point 0.11, cosine 0.82)
(chosen on the tuning half)
tune: hook answer 0.46, anything for unrelated 0.06 / near 0.38; search says nothing for answerable
0.00, unrelated 0.38, near 0.00 (without its project 0.00, 0.25, 0.00); the hook's search says
nothing for answerable 0.02, unrelated 0.44, near 0.00 (without its project 0.02, 0.31, 0.00); AUC
answer vs absent 0.55
valid: hook answer 0.54, anything for unrelated 0.00 / near 0.25; search says nothing for answerable
0.00, unrelated 0.31, near 0.00 (without its project 0.00, 0.12, 0.00); the hook's search says
nothing for answerable 0.03, unrelated 0.62, near 0.00 (without its project 0.01, 0.38, 0.00); AUC
answer vs absent 0.68
LoCoMo tuning: hook accepts an evidence turn 0.12; search says nothing 0.00
LoCoMo other: hook accepts an evidence turn 0.15; search says nothing 0.00
"""

WEIGHTS = (0.0000, 2.6640, 0.6832, 0.0558, -0.2222, 0.0000, 0.9947, 5.5145)
BIAS = -3.4773
HOOK_POINT = 0.19
DROPPED = 6.0

PLAIN_WEIGHTS = (0.2877, 2.3127, 0.6857, -0.5085, 0.0097, 0.4779, 2.7196)
PLAIN_BIAS = -3.0601
PLAIN_HOOK_POINT = 0.43
SEARCH_POINT = 0.06
SEARCH_COSINE = 0.68
HOOK_GATE_POINT = 0.11
HOOK_GATE_COSINE = 0.82
