"""Redaction, on the ground floor: what a secret looks like (``shapes``), the values this machine holds
(``held``) and finding and replacing secrets in free text (``scrub``). ``masking`` builds on them for
what output shows. Nothing here imports from above the ground floor."""
