"""Machinery shared by every design and backbone. Nothing in `hf_archs/core/` names a design or a backbone."""
