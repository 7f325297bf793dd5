"""Compositions: model types that carry several designs at once, built from the designs' own declarations.

A composition is a config class listing several designs (`designs = (A, B, C)`) and inheriting their field mixins;
the design base model then attaches every design's parts (logit terms, position encoding, layer extensions) at
construction, and conversion runs each design's plan in turn. Nothing is wired by hand: a composition's files are a
few class statements.

- `semantic_continuous_multiscale_bert` (the three-idea encoder: semantic attention, continuous positions and
  multi-scale layers on a BERT/MiniLM encoder). Its math is the three designs' together:

      pe(u) = W2 · GELU(W1 · u + b1) / E² + b2 replaces the learned position table (u = p / scale, or per-row
      normalized);
      logits_h(i, j) = q_h(i)·k_h(j) / sqrt(head_dim) + tau_h · cos(x_i, x_j) in each stock (full-width) attention;
      y = Fuse(concat_s Block_s(P_s x)) on each layer, the full-width branch being the stock layer with its
      semantic term, the narrower branches plain layers of the family.

  Identity: tau = 0, Fuse = [0 | I], and the continuous MLP plus its frozen residual table (which reproduce the stock
  table at integer positions); with the pure MLP (`continuous_residual_table=False`, the design) conversion is
  fitted and its error reported.
"""
