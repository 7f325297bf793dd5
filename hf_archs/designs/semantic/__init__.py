"""Semantic attention: attention logits + tau_h · cos(x_i, x_j)."""
