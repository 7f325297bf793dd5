"""The designs of the zoo: one folder per design (its math, reference, attention paths and model types)."""
