"""Generation with the monitor: greedy with scores, backtracking, chain-of-thought retry and a tree of thought.

Every strategy decodes one sequence at a time (a batch is decoded row by row, so every decision is the row's own)
with a `DynamicCache` that `DynamicCache.crop` rewinds, and the monitor's window (`monitor_memory`) cut to the same
length. A step ends with a boundary token (e.g. ";" or "." of an arithmetic chain).

- greedy: argmax decoding; the scores of the generated tokens come back with it.
- backtrack: when a token's anomaly score passes the threshold, rewind to the last step boundary before it and
  resample that step at `temperature` (greedy again after the next boundary); at most `max_rewinds` times.
- cot_retry: decode the whole chain; if its highest score passes the threshold, rewind to the prompt and sample a
  new chain, up to `max_retries` times; keep the first chain under the threshold, else the least anomalous one.
- tot: at every step boundary, decode `branches` candidate steps (the first greedy, the others sampled), drop those
  whose highest score passes the threshold (unless all do), keep the one of highest value (mean log-probability of
  its tokens under the model).

With the monitor off (or a threshold it never passes) and one branch, every strategy is greedy decoding, token for
token the stock model's `generate(do_sample=False)`.

Through Transformers' `generate()`: `model.generate(input_ids, attention_mask=..., max_new_tokens=...,
custom_generate=monitored_decoding, strategy="backtrack", boundary_token_ids=[...])` returns the stock-shaped
`sequences` (left-padded prompts + generated tokens, padded after a row's end), and with
`return_dict_in_generate=True` a `MonitoredGenerateOutput` that adds the anomaly scores.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache
from transformers.generation.utils import GenerateDecoderOnlyOutput


STRATEGIES = ("greedy", "backtrack", "cot_retry", "tot")


@dataclass
class Rewind:
    """One rewind: the position whose score passed the threshold, the boundary rewound to, and the cache length
    (and monitor window length) measured right after the rewind."""

    flagged_position: int
    boundary: int
    cache_length: int
    memory_length: int | None


@dataclass
class RowGeneration:
    """The result for one sequence: prompt + generated tokens, the scores of the generated tokens (None with the
    monitor off), every token decoded (discarded ones included) and the rewinds."""

    sequence: torch.Tensor
    prompt_length: int
    anomaly_scores: torch.Tensor | None
    decoded_tokens: int
    rewinds: list[Rewind] = field(default_factory=list)

    @property
    def new_tokens(self) -> torch.Tensor:
        return self.sequence[self.prompt_length :]


class _Decoder:
    """One sequence's decoding state: tokens, KV cache, monitor window, and per position the next-token logits and
    the anomaly score. `rewind(n)` cuts all of them to the first n positions."""

    def __init__(self, model, prompt: torch.Tensor, monitor: bool):
        self.model = model
        self.monitor = monitor
        self.tokens = prompt.tolist()
        self.prompt_length = len(self.tokens)
        # Full layers everywhere (no config): a sliding-window layer drops the states a rewind may need again; the
        # window itself is applied by the attention mask, as for any cache.
        self.cache = DynamicCache()
        self.memory = torch.empty(0) if monitor else None
        # next_logits[p - first]: logits of the token after position p. A rewind never goes into the prompt, so only
        # the prompt's last position is kept (and only its logits are computed: `logits_to_keep=1`).
        self.first = self.prompt_length - 1
        self.next_logits: list[torch.Tensor] = []
        self.scores: list[float | None] = []
        self.decoded = 0
        self._forward(prompt, logits_to_keep=1)

    @torch.no_grad()
    def _forward(self, new_tokens: torch.Tensor, logits_to_keep: int = 0):
        device = next(self.model.parameters()).device
        length = len(self.scores) + new_tokens.numel()
        kwargs = {"monitor_memory": self.memory} if self.monitor else {}
        out = self.model(
            input_ids=new_tokens.view(1, -1).to(device),
            attention_mask=torch.ones(1, length, dtype=torch.long, device=device),
            past_key_values=self.cache,
            use_cache=True,
            logits_to_keep=logits_to_keep,
            **kwargs,
        )
        self.cache = out.past_key_values
        self.next_logits.extend(out.logits[0].float())
        if self.monitor:
            self.memory = out.monitor_memory
            self.scores.extend(out.anomaly_scores[0].float().tolist())
        else:
            self.scores.extend([None] * new_tokens.numel())

    def feed(self, token: int):
        self.tokens.append(token)
        self.decoded += 1
        self._forward(torch.tensor([token]))

    def feed_again(self, tokens: list[int]):
        """Feed tokens decoded before (a branch chosen after others were tried): not counted as decoded."""
        self.tokens.extend(tokens)
        self._forward(torch.tensor(tokens))

    def rewind(self, length: int):
        # Transformers 5 crops by the (negative) number of tokens to remove.
        self.cache.crop(length - self.cache.get_seq_length())
        if self.memory is not None:
            self.memory = self.memory[:, :, :length]
        del self.tokens[length:], self.next_logits[length - self.first :], self.scores[length:]

    def choose(self, temperature: float | None, generator: torch.Generator | None) -> tuple[int, float]:
        """The next token (argmax, or sampled at `temperature`) and its log-probability."""
        logits = self.next_logits[-1]
        if temperature is None:
            token = int(logits.argmax())
        else:
            probabilities = (logits / temperature).softmax(-1)
            token = int(torch.multinomial(probabilities.cpu(), 1, generator=generator))
        return token, float(logits.log_softmax(-1)[token])

    @property
    def length(self) -> int:
        return len(self.tokens)

    def last_boundary(self, before: int, boundary_ids: set[int]) -> int:
        """The largest n ≤ `before` such that the first n tokens end a step (or the prompt)."""
        for n in range(before, self.prompt_length, -1):
            if self.tokens[n - 1] in boundary_ids:
                return n
        return self.prompt_length

    def result(self, rewinds=()) -> RowGeneration:
        scores = None if not self.monitor else torch.tensor(self.scores[self.prompt_length :])
        return RowGeneration(torch.tensor(self.tokens), self.prompt_length, scores, self.decoded, list(rewinds))


@dataclass
class _Settings:
    max_new_tokens: int
    stop_ids: set[int]
    boundary_ids: set[int]
    threshold: float
    temperature: float
    generator: torch.Generator
    flag: Callable[[int, float], bool]


def _decode_step(decoder: _Decoder, settings: _Settings, temperature: float | None, budget_end: int):
    """Decode until a boundary or stop token, or the budget; returns (tokens, log-probabilities, highest score)."""
    start = decoder.length
    log_probabilities = []
    while decoder.length < budget_end:
        token, log_probability = decoder.choose(temperature, settings.generator)
        decoder.feed(token)
        log_probabilities.append(log_probability)
        if token in settings.stop_ids or token in settings.boundary_ids:
            break
    scores = [s for s in decoder.scores[start:] if s is not None]
    return decoder.tokens[start:], log_probabilities, max(scores, default=0.0)


def _finished(decoder: _Decoder, settings: _Settings, budget_end: int) -> bool:
    return decoder.length >= budget_end or (
        decoder.length > decoder.prompt_length and decoder.tokens[-1] in settings.stop_ids
    )


def _greedy(decoder, settings, budget_end):
    while not _finished(decoder, settings, budget_end):
        decoder.feed(decoder.choose(None, None)[0])
    return decoder.result()


def _backtrack(decoder, settings, budget_end, max_rewinds: int):
    rewinds, resampling = [], False
    while not _finished(decoder, settings, budget_end):
        token, _ = decoder.choose(settings.temperature if resampling else None, settings.generator)
        decoder.feed(token)
        position = decoder.length - 1
        score = decoder.scores[position]
        if score is not None and len(rewinds) < max_rewinds and settings.flag(position, score):
            boundary = decoder.last_boundary(position, settings.boundary_ids)
            decoder.rewind(boundary)
            memory_length = None if decoder.memory is None else decoder.memory.shape[2]
            rewinds.append(Rewind(position, boundary, decoder.cache.get_seq_length(), memory_length))
            resampling = True
        elif token in settings.boundary_ids:
            resampling = False
    return decoder.result(rewinds)


def _highest_score(decoder) -> float:
    scores = [s for s in decoder.scores[decoder.prompt_length :] if s is not None]
    return max(scores, default=0.0)


def _cot_retry(decoder, settings, budget_end, max_retries: int):
    attempts = []
    for attempt in range(max_retries + 1):
        if attempt:
            decoder.rewind(decoder.prompt_length)
        temperature = settings.temperature if attempt else None
        while not _finished(decoder, settings, budget_end):
            decoder.feed(decoder.choose(temperature, settings.generator)[0])
        generated = enumerate(decoder.scores[decoder.prompt_length :], decoder.prompt_length)
        if not any(settings.flag(p, s) for p, s in generated if s is not None):
            return decoder.result()  # the first chain the monitor accepts
        attempts.append((_highest_score(decoder), decoder.tokens[decoder.prompt_length :]))
    best = min(range(len(attempts)), key=lambda i: attempts[i][0])  # every chain flagged: the least anomalous
    if best != len(attempts) - 1:  # the kept chain is not the one in the cache
        decoder.rewind(decoder.prompt_length)
        decoder.feed_again(attempts[best][1])
    return decoder.result()


def _tree_of_thought(decoder, settings, budget_end, branches: int):
    while not _finished(decoder, settings, budget_end):
        start = decoder.length
        candidates = []
        for branch in range(branches):
            if branch:
                decoder.rewind(start)
            tokens, log_probabilities, highest = _decode_step(
                decoder, settings, None if branch == 0 else settings.temperature, budget_end
            )
            flagged = any(settings.flag(p, s) for p, s in enumerate(decoder.scores[start:], start) if s is not None)
            value = sum(log_probabilities) / max(len(log_probabilities), 1)
            candidates.append((flagged, -value, branch, tokens))
        kept = [c for c in candidates if not c[0]] or candidates
        _, _, branch, tokens = min(kept, key=lambda c: (c[1], c[2]))
        if branch != branches - 1:  # the chosen step is not the one in the cache
            decoder.rewind(start)
            decoder.feed_again(tokens)
    return decoder.result()


def eos_token_ids(generation_config) -> list[int]:
    """The generation config's EOS token ids as a list (none, one or several)."""
    eos = generation_config.eos_token_id
    return [] if eos is None else [eos] if isinstance(eos, int) else list(eos)


def monitored_generate(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    *,
    strategy: str = "greedy",
    max_new_tokens: int = 32,
    monitor: bool = True,
    threshold: float | None = None,
    boundary_token_ids=(),
    stop_token_ids=None,
    temperature: float = 0.7,
    max_rewinds: int = 4,
    max_retries: int = 2,
    branches: int = 3,
    seed: int = 0,
    flag: Callable[[int, float], bool] | None = None,
) -> list[RowGeneration]:
    """Decode every row of `input_ids` (left padding allowed) with `strategy` (one of `STRATEGIES`).

    monitor: read the monitor's scores (a model without a monitor needs False); threshold: defaults to the config's
    `monitor_threshold`; boundary_token_ids: tokens that end a step; stop_token_ids: tokens that end the text
    (default: the generation config's EOS); flag(position, score) -> bool overrides "score > threshold".
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}; choose from {STRATEGIES}.")
    if threshold is None:
        threshold = getattr(model.config, "monitor_threshold", 0.5)
    if stop_token_ids is None:
        stop_token_ids = eos_token_ids(model.generation_config)
    settings = _Settings(
        max_new_tokens,
        set(stop_token_ids),
        set(boundary_token_ids),
        threshold,
        temperature,
        torch.Generator().manual_seed(seed),
        flag or (lambda position, score: score > threshold),
    )
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    results = []
    for row, mask in zip(input_ids, attention_mask, strict=True):
        decoder = _Decoder(model, row[mask.bool()], monitor)
        budget_end = decoder.prompt_length + max_new_tokens
        if strategy == "greedy":
            results.append(_greedy(decoder, settings, budget_end))
        elif strategy == "backtrack":
            results.append(_backtrack(decoder, settings, budget_end, max_rewinds))
        elif strategy == "cot_retry":
            results.append(_cot_retry(decoder, settings, budget_end, max_retries))
        else:
            results.append(_tree_of_thought(decoder, settings, budget_end, branches))
    return results


@dataclass
class MonitoredGenerateOutput(GenerateDecoderOnlyOutput):
    """`generate(custom_generate=monitored_decoding, return_dict_in_generate=True)`: `sequences` as the stock
    `generate()` returns them, plus per row the anomaly scores of the kept generated tokens ((batch, new tokens), NaN
    after a row's end; None with the monitor off), the tokens decoded (discarded ones included) and the rewinds."""

    anomaly_scores: torch.Tensor | None = None
    decoded_tokens: list[int] | None = None
    rewinds: list[list[Rewind]] | None = None


def monitored_decoding(
    model,
    input_ids: torch.Tensor,
    logits_processor=None,
    stopping_criteria=None,
    generation_config=None,
    # monitored_generate's options, spelled out: generate() hands a callable only the keywords its signature names.
    *,
    strategy: str = "greedy",
    monitor: bool = True,
    threshold: float | None = None,
    boundary_token_ids=(),
    stop_token_ids=None,
    temperature: float = 0.7,
    max_rewinds: int = 4,
    max_retries: int = 2,
    branches: int = 3,
    seed: int = 0,
    **model_kwargs,
):
    """The decoding method behind `model.generate(..., custom_generate=monitored_decoding, strategy=...)`.

    The length comes from the generation config (`max_new_tokens` / `max_length`) and the stop tokens from its
    `eos_token_id` unless `stop_token_ids` is given. The strategies choose their tokens themselves (argmax, or
    sampling at `temperature` where they resample): `generate()`'s logits processors and stopping criteria are not
    applied, and a `streamer` is not fed (`generate()` does not hand it to a callable `custom_generate`; a rewind
    would also take back streamed tokens).
    """
    prompt_length = input_ids.shape[1]
    max_new_tokens = generation_config.max_length - prompt_length
    if stop_token_ids is None:
        stop_token_ids = eos_token_ids(generation_config)
    rows = monitored_generate(
        model, input_ids, model_kwargs.get("attention_mask"), strategy=strategy, max_new_tokens=max_new_tokens,
        monitor=monitor, threshold=threshold, boundary_token_ids=boundary_token_ids, stop_token_ids=stop_token_ids,
        temperature=temperature, max_rewinds=max_rewinds, max_retries=max_retries, branches=branches, seed=seed,
    )  # fmt: skip
    pad = generation_config.pad_token_id
    pad = pad if pad is not None else (stop_token_ids[0] if stop_token_ids else 0)
    width = max(len(row.new_tokens) for row in rows)
    sequences = torch.full((len(rows), prompt_length + width), pad, dtype=input_ids.dtype, device=input_ids.device)
    sequences[:, :prompt_length] = input_ids
    scores = None if not monitor else torch.full((len(rows), width), float("nan"))
    for b, row in enumerate(rows):
        sequences[b, prompt_length : prompt_length + len(row.new_tokens)] = row.new_tokens
        if scores is not None:
            scores[b, : len(row.new_tokens)] = row.anomaly_scores.float().cpu()
    if not generation_config.return_dict_in_generate:
        return sequences
    return MonitoredGenerateOutput(
        sequences=sequences,
        anomaly_scores=scores,
        decoded_tokens=[row.decoded_tokens for row in rows],
        rewinds=[row.rewinds for row in rows],
    )
