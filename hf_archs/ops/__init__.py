"""Attention math of each design: `<op>/naive.py` is the reference, the other files dispatch to fast paths."""
