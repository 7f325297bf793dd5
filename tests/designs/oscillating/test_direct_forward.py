"""Per-layer masks reach the layers however the base model is called: `model(...)`, `model.forward(...)` (as
sentence-transformers calls it), and on a deep copy."""

import copy
import inspect

import torch

from hf_archs.models import OscillatingGemma3TextConfig, OscillatingGemma3TextModel
from hf_archs.testing import tiny_gemma3_config


def test_forward_called_directly_still_masks_the_padding():
    settings = {"oscillating_layer_attention_patterns": ["bidirectional", "backward"], "sliding_window": 16}
    config = OscillatingGemma3TextConfig(**{**tiny_gemma3_config().to_dict(), **settings})
    torch.manual_seed(0)
    model = OscillatingGemma3TextModel(config).eval()
    input_ids = torch.randint(3, model.config.vocab_size, (2, 9))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, 5:] = 0  # the first row is padded: its real tokens must not see the padding
    with torch.no_grad():
        alone = model(input_ids=input_ids[:1, :5], attention_mask=attention_mask[:1, :5]).last_hidden_state
        called = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        direct = model.forward(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        copied = copy.deepcopy(model).forward(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    torch.testing.assert_close(called[:1, :5], alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(direct, called, rtol=0, atol=0)
    torch.testing.assert_close(copied, called, rtol=0, atol=0)
    # Callers that inspect the signature (Trainer, generation, sentence-transformers) still see the stock one.
    assert "attention_mask" in inspect.signature(model.forward).parameters
    assert "self" not in inspect.signature(model.forward).parameters
