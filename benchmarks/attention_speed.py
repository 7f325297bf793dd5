"""Every attention design against its stock model, in one process, as one table.

Each design of the zoo that changes attention is built at its active setting (semantic, resonant hybrid and pure,
synthesizer, positional, oscillating), once per variant that its own config field chooses (`VARIANT_FIELDS`: the
synthesizer kinds, the relative position biases and NoPE, the resonant quaternion forms, each oscillating pattern on
every layer and the active cycle), with each `attn_implementation` it accepts (`sdpa`, the reference path, and its
fused kernels on CUDA, where the variant's settings allow them; `flex_attention` for a design that only changes masks,
each layer's pattern a block mask).
Random weights: time and memory depend on the shapes, not on the weight values.

Shapes (`--shapes`):
- `llama8b`: Llama-3-8B-like layers (hidden 4096, 32 heads, 8 KV heads, head dim 128), `--llama-layers` of them, a
  small vocabulary, batch 1, L from `--lengths`;
- `gemma270m`: google/gemma-3-270m's own config (`configs/gemma-3-270m.json`: 18 layers, one KV head, head dim 256,
  sliding windows), batch 1, L from `--lengths`; also the end-to-end passes at `--e2e-lengths`;
- `minilm`: all-MiniLM-L6-v2's shape (BERT, hidden 384, 12 heads, 6 layers), batch 32, L = `--encoder-length`.

Passes (`--passes`), each design and its stock model (`attn_implementation="sdpa"`: PyTorch's flash kernel for
unpadded causal batches) timed alternately, after warm-up, median of `--repeats` (CUDA: bf16, CUDA events; CPU:
float32, perf_counter):
- `fwd`, `fwd_bwd`: the base model (no LM head), forward without grad, or forward + backward of a fixed gradient;
- `prefill` (gemma270m): one sequence of L tokens through the LM with `use_cache=True`, logits of the last token only;
- `decode_b1`, `decode_b32` (gemma270m): `generate()` of `--decode-tokens` greedy tokens after a prompt of L tokens at
  batch 1 and 32, with a `dynamic` and a `static` cache, eager, and `static_compiled` (Transformers' compiled decoding
  step, CUDA only; `--caches`); ms is the time of one decoding step (after the prefill);
- `kv_cache` (gemma270m): bytes of the KV cache after a prefill of L tokens, per token (sliding layers keep a window);
- `train` (gemma270m): a LoRA step (PEFT defaults r = 8, the design's parameters trained too, AdamW) on
  `--tokens-per-step` random tokens per step.
`ratio_vs_stock` is design / stock of time (`ratio_of: "time"`; > 1 is slower, so tokens/s of stock / design for
`train` and `decode_*`) or of bytes (`kv_cache`). Peak memory: CUDA's max allocated during one call, above what was
allocated before it (weights, optimizer state, inputs).

A row that fails (out of memory, a refusal such as decoding a bidirectional layer with a cache) is recorded with its
error and the run goes on. Rows are written to `<out>/attention_speed_<gpu>.json` after each one, merged with the rows
already there (same design, variant, shape, L, pass, cache: replaced); `--resume` skips rows already measured, so a
run cut by `--max-seconds` continues where it stopped.

    PYTHONPATH=. python benchmarks/attention_speed.py [--shapes llama8b,gemma270m,minilm] [--passes fwd,fwd_bwd,...]
        [--only semantic,positional:alibi] [--lengths 2048,8192] [--caches dynamic,static] [--max-seconds 480]
        [--resume]
    PYTHONPATH=. python benchmarks/attention_speed.py --tiny     # CPU, tiny shapes, L 64 (the test runs this)
    PYTHONPATH=. python benchmarks/attention_speed.py --render benchmarks/results/attention_speed_<gpu>.json

Everything is ~260 rows, more than one 10-minute GPU call: split it by `--shapes` / `--passes` and pass `--resume`
(each call adds its rows to the same file; rerunning a call that was cut continues it), e.g. llama8b,minilm; then
gemma270m fwd,fwd_bwd; then gemma270m kv_cache,prefill,train; then gemma270m decode_b1,decode_b32 --caches
dynamic,static; `static_compiled` compiles per design and batch size (raise `--max-call-seconds`).
"""

import argparse
import gc
import io
import json
import statistics
import subprocess
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import SimpleNamespace

import torch
import transformers
from tqdm import tqdm
from transformers import AutoConfig, BertConfig, Gemma3TextConfig, LlamaConfig

from benchmarks.end_to_end import CONFIGS, build
from hf_archs.designs.oscillating.design import PATTERNS
from hf_archs.designs.positional.design import RELATIVE
from hf_archs.designs.resonant.design import QUATERNION_FORMS
from hf_archs.designs.synthesizer.design import KINDS
from hf_archs.registry import DESIGNS


ROOT = Path(__file__).resolve().parents[1]
LAYER_PASSES = ("fwd", "fwd_bwd")
E2E_PASSES = ("kv_cache", "prefill", "decode_b1", "decode_b32", "train")
DECODE_BATCH = {"decode_b1": 1, "decode_b32": 32}
# static_compiled: Transformers' fast generation, the decoding step under torch.compile (CUDA only; the first call
# compiles, for each model and batch size).
CACHES = ("dynamic", "static", "static_compiled")
ROW_KEY = ("design", "variant", "attn_implementation", "shape", "L", "pass", "cache")
NUMBERS = ("ratio_vs_stock", "ms", "stock_ms", "peak_mib", "stock_peak_mib")

# The designs that change attention, and the config field that picks each one's variants (None: the active setting
# only). The values come from the design modules, so a new kind or pattern is measured without editing this file.
VARIANT_FIELDS = {
    "semantic": None,
    # The fused kernel computes the squared form only; "abs" (the default) runs on the reference paths.
    "resonant": ("resonant_quaternion", QUATERNION_FORMS),
    "resonant_pure": ("resonant_quaternion", QUATERNION_FORMS),
    "synthesizer": ("synthesizer_kind", KINDS),
    "positional": ("positional_encoding", (*RELATIVE, "nope")),
    # Each pattern on every layer, then the active cycle.
    "oscillating": (
        "oscillating_layer_attention_patterns",
        [[name] for name in PATTERNS] + [DESIGNS["oscillating"].active["oscillating_layer_attention_patterns"]],
    ),
}
# Fields that size a design's parameters by the context (the random synthesizer's M × M table per head): set to the
# measured length, not the backbone's context (32k on Gemma 3 would be 4 × 32k² parameters per layer).
LENGTH_FIELDS = ("synthesizer_max_positions",)


@dataclass(frozen=True)
class Variant:
    design: str
    label: str
    settings: dict = field(hash=False)
    attn_implementation: str


def variants(only: list[str]) -> list[Variant]:
    """Every (design, variant, attn_implementation) to measure; `only` keeps those whose "design" or
    "design:variant" is listed."""
    unknown = sorted({name.split(":")[0] for name in only} - set(VARIANT_FIELDS))
    if unknown:
        raise SystemExit(f"--only: {unknown} are not attention designs; choose from {list(VARIANT_FIELDS)}")
    out = []
    for name, choice in VARIANT_FIELDS.items():
        design = DESIGNS[name]
        values = [None] if choice is None else choice[1]
        for value in values:
            settings = dict(design.active)
            label = "active"
            if choice is not None:
                settings[choice[0]] = value
                label = "-".join(value) if isinstance(value, list) else str(value)
            design.check_settings(settings)  # a renamed field fails here, not as a silently unchanged model
            flex = ("flex_attention",) if design.capabilities.flex_attention else ()
            for implementation in ("sdpa", *flex, *design.capabilities.kernels):
                if implementation != "sdpa" and kernels_refused(design, settings):
                    continue
                if not only or name in only or f"{name}:{label}" in only:
                    out.append(Variant(name, label, settings, implementation))
    return out


def kernels_refused(design, settings: dict) -> bool:
    """Whether `settings` (over the design's field defaults) rule out the design's kernels (`kernels_refused_by`)."""
    if design.kernels_refused_by is None:
        return False
    defaults = {
        f.name: getattr(design.fields, f.name) for f in fields(design.fields) if hasattr(design.fields, f.name)
    }
    return design.kernels_refused_by(SimpleNamespace(**{**defaults, **settings})) is not None


# --- shapes --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    name: str
    batch: int
    lengths: tuple[int, ...]
    passes: tuple[str, ...]
    config: transformers.PreTrainedConfig
    auto_class: str = "AutoModelForCausalLM"


def shapes(args) -> dict[str, Shape]:
    decoder_lengths = tuple(args.lengths)
    top = max([*args.lengths, *args.e2e_lengths]) + args.decode_tokens
    if args.tiny:  # a few layers of width 64 (Gemma: one KV head, a window below L), L 64: seconds on a CPU
        llama = LlamaConfig(
            hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, head_dim=16
        )
        gemma = Gemma3TextConfig(
            hidden_size=64,
            intermediate_size=128,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=16,
            num_hidden_layers=3,
            sliding_window=16,
            layer_types=["sliding_attention", "sliding_attention", "full_attention"],
            vocab_size=256,
            max_position_embeddings=top,
        )
        bert = BertConfig(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2)
        llama.update(dict(num_hidden_layers=args.llama_layers, vocab_size=256, max_position_embeddings=top))
        bert.update(dict(vocab_size=256, max_position_embeddings=args.encoder_length, type_vocab_size=1))
        minilm_batch = 2
    else:
        llama = LlamaConfig(
            hidden_size=4096,
            intermediate_size=14336,
            num_attention_heads=32,
            num_key_value_heads=8,
            head_dim=128,
            num_hidden_layers=args.llama_layers,
            vocab_size=4096,  # small: the layers are measured, not the embedding
            max_position_embeddings=top,
            rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
        )
        gemma = AutoConfig.from_pretrained(CONFIGS / "gemma-3-270m.json")
        bert = BertConfig(
            hidden_size=384,
            intermediate_size=1536,
            num_attention_heads=12,
            num_hidden_layers=6,
            max_position_embeddings=max(512, args.encoder_length),
        )
        minilm_batch = 32
    # No dropout: stock BERT's would be timed against designs that skip it.
    bert.update(dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    return {
        "llama8b": Shape("llama8b", 1, decoder_lengths, LAYER_PASSES, llama),
        "gemma270m": Shape("gemma270m", 1, decoder_lengths, LAYER_PASSES + E2E_PASSES, gemma),
        "minilm": Shape("minilm", minilm_batch, (args.encoder_length,), LAYER_PASSES, bert, "AutoModel"),
    }


# --- measuring -----------------------------------------------------------------------------------------------------


class TooSlow(RuntimeError):
    pass


class StepClock:
    """A `generate()` streamer noting when each new token reaches the host: `put` gets tokens already copied to the
    CPU, which waits for the GPU. The first call is the prompt, the second the token of the prefill."""

    def __init__(self):
        self.times = []

    def put(self, value):
        self.times.append(time.perf_counter())

    def end(self):
        pass

    def step_ms(self) -> float:
        return 1e3 * (self.times[-1] - self.times[1]) / (len(self.times) - 2)


class Bench:
    def __init__(self, args):
        self.args = args
        self.device = torch.device("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
        self.cuda = self.device.type == "cuda"
        self.dtype = torch.bfloat16 if self.cuda else torch.float32
        self.deadline = time.monotonic() + args.max_seconds
        self.models = {"stock": (None, {}), "design": (None, {})}

    # Models are kept while consecutive rows share them; a new group (another L, variant) frees the old ones.
    def model(self, role, group, kind, make):
        current, entries = self.models[role]
        if current != group:
            entries = {}
            self.models[role] = (group, entries)
            self.free()
        if kind not in entries:
            entries[kind] = make()
        return entries[kind]

    def drop(self, role):
        self.models[role] = (None, {})
        self.free()

    def free(self):
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def call_ms(self, fn) -> float:
        """One call's time; a step that times itself (decoding) returns its own ms."""
        self.sync()
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            own = fn()
            end.record()
            end.synchronize()
            elapsed = start.elapsed_time(end)
        else:
            t0 = time.perf_counter()
            own = fn()
            elapsed = 1e3 * (time.perf_counter() - t0)
        return own if isinstance(own, float) else elapsed

    def peak_mib(self, fn) -> float | None:
        if not self.cuda:
            return None
        self.sync()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        self.sync()
        return (torch.cuda.max_memory_allocated() - base) / 2**20

    def compare(self, design_step, stock_step) -> dict:
        """Warm-up, peak memory, then design and stock calls alternately; medians."""
        args = self.args
        first = self.call_ms(design_step)  # compiles and autotunes kernels
        if first > 1e3 * args.max_call_seconds:
            raise TooSlow(f"first call took {first / 1e3:.0f} s (--max-call-seconds {args.max_call_seconds})")
        one = first + self.call_ms(stock_step)
        for _ in range(args.warmup):
            one = self.call_ms(design_step) + self.call_ms(stock_step)
        peak, stock_peak = self.peak_mib(design_step), self.peak_mib(stock_step)
        # Fewer repeats for a slow pair, so that one row cannot eat the run's budget.
        row_budget = min(args.max_row_seconds, self.deadline - time.monotonic())
        repeats = max(1, min(args.repeats, int(row_budget / max(one / 1e3, 1e-6))))
        times, stock_times = [], []
        for _ in range(repeats):
            times.append(self.call_ms(design_step))
            stock_times.append(self.call_ms(stock_step))
        ms, stock_ms = statistics.median(times), statistics.median(stock_times)
        return dict(
            ms=ms,
            stock_ms=stock_ms,
            ratio_vs_stock=ms / stock_ms,
            peak_mib=peak,
            stock_peak_mib=stock_peak,
            repeats=repeats,
        )

    # --- models and steps of each pass ---

    def build(self, shape, variant, L):
        auto_class = shape.auto_class
        if variant is None:
            return build(shape.config, None, "sdpa", auto_class=auto_class, device=self.device, dtype=self.dtype)
        if variant.attn_implementation == "flex_attention":
            # Compiled flex attention is specialized per mask function and shape; past torch.compile's recompile
            # limit (8, soon reached by a run's many models) it would run uncompiled, on a dense score matrix.
            torch._dynamo.reset()
        settings = dict(variant.settings)
        for name in LENGTH_FIELDS:
            if name in DESIGNS[variant.design].field_names:
                settings[name] = L + self.args.decode_tokens
        return build(
            shape.config,
            variant.design,
            variant.attn_implementation,
            settings,
            auto_class=auto_class,
            device=self.device,
            dtype=self.dtype,
        )

    def ids(self, batch, L, vocab):
        generator = torch.Generator(device=self.device).manual_seed(0)
        return torch.randint(1, vocab, (batch, L), device=self.device, generator=generator)

    def layer_step(self, model, shape, L, backward):
        ids = self.ids(shape.batch, L, model.config.vocab_size)
        grad = []
        model.train(backward)
        decoder = hasattr(model.config, "use_cache")

        def step():
            kwargs = dict(use_cache=False) if decoder else {}
            if not backward:
                with torch.no_grad():
                    return model(input_ids=ids, **kwargs)
            out = model(input_ids=ids, **kwargs).last_hidden_state
            if not grad:
                grad.append(torch.randn_like(out))
            out.backward(grad[0])
            model.zero_grad(set_to_none=True)

        return step

    def prefill_step(self, model, L):
        ids = self.ids(1, L, model.config.vocab_size)
        model.eval()

        def step():
            with torch.no_grad():  # logits of the last token only, as generate() asks for them
                model(input_ids=ids, use_cache=True, logits_to_keep=1)

        return step

    def decode_step(self, model, batch, L, cache):
        ids = self.ids(batch, L, model.config.vocab_size)
        model.eval()
        n = self.args.decode_tokens

        def step():
            clock = StepClock()
            with torch.no_grad():
                model.generate(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=n,
                    min_new_tokens=n,
                    do_sample=False,
                    pad_token_id=0,
                    cache_implementation=None if cache == "dynamic" else "static",
                    # Transformers compiles the decoding step on a static cache (on accelerators) unless told not to.
                    disable_compile=cache != "static_compiled",
                    streamer=clock,
                )
            return clock.step_ms()

        return step

    def kv_bytes_per_token(self, model, L) -> float:
        ids = self.ids(1, L, model.config.vocab_size)
        model.eval()
        with torch.no_grad():
            cache = model(input_ids=ids, use_cache=True, logits_to_keep=1).past_key_values
        # Every tensor a layer keeps: keys, values and whatever a design adds.
        size = sum(
            t.numel() * t.element_size() for layer in cache.layers for t in vars(layer).values() if torch.is_tensor(t)
        )
        return size / L

    def train_step(self, model, L):
        # Imported here: without PEFT only the train rows fail (recorded), not the whole run.
        from hf_archs.training.lora import apply_lora, optimizer_parameter_groups

        peft_model = apply_lora(model, dropout=0.0)
        peft_model.train()
        optimizer = torch.optim.AdamW(optimizer_parameter_groups(peft_model, 2e-4, 1e-2))
        ids = self.ids(max(1, self.args.tokens_per_step // L), L, model.config.vocab_size)

        def step():
            peft_model(input_ids=ids, labels=ids).loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        return step, ids.numel()

    def measure(self, shape, variant, L, pass_, cache) -> dict:
        """One row: the design's and the stock model's numbers for this pass."""
        groups = {"design": (shape.name, L, variant), "stock": (shape.name, L)}

        def both(kind, make):  # the stock model first: at a new L its old one is freed before the design is built
            stock = self.model("stock", groups["stock"], kind, lambda: make(None))
            return self.model("design", groups["design"], kind, lambda: make(variant)), stock

        if pass_ == "train":  # LoRA wraps a model in place: fresh ones, apart from those of the other passes
            (design, tokens), (stock, _) = both("train", lambda v: self.train_step(self.build(shape, v, L), L))
            row = self.compare(design, stock)
            return row | dict(
                batch=tokens // L,
                tokens_per_s=tokens * 1e3 / row["ms"],
                stock_tokens_per_s=tokens * 1e3 / row["stock_ms"],
            )
        # The whole model (a decoder's LM); the layer passes run its base model, without the LM head.
        design, stock = both("model", lambda v: self.build(shape, v, L))
        if pass_ in LAYER_PASSES:
            backward = pass_ == "fwd_bwd"
            return self.compare(
                self.layer_step(design.base_model, shape, L, backward),
                self.layer_step(stock.base_model, shape, L, backward),
            )
        if pass_ == "kv_cache":
            size, stock_size = self.kv_bytes_per_token(design, L), self.kv_bytes_per_token(stock, L)
            return dict(ratio_vs_stock=size / stock_size, kv_bytes_per_token=size, stock_kv_bytes_per_token=stock_size)
        if pass_ == "prefill":
            return self.compare(self.prefill_step(design, L), self.prefill_step(stock, L))
        batch = DECODE_BATCH[pass_]
        row = self.compare(self.decode_step(design, batch, L, cache), self.decode_step(stock, batch, L, cache))
        return row | dict(
            batch=batch,
            tokens_per_s=batch * 1e3 / row["ms"],
            stock_tokens_per_s=batch * 1e3 / row["stock_ms"],
        )


# --- the plan, the run, the file -----------------------------------------------------------------------------------


def plan(args, all_shapes) -> list[tuple]:
    """(shape, L, variant, pass, cache) in the order that lets consecutive rows share models."""
    rows = []
    for shape in (all_shapes[name] for name in args.shapes):
        passes = [p for p in shape.passes if p in args.passes]
        layer_lengths = shape.lengths if any(p in LAYER_PASSES for p in passes) else ()
        e2e_lengths = tuple(args.e2e_lengths) if any(p in E2E_PASSES for p in passes) else ()
        for L in sorted(set(layer_lengths) | set(e2e_lengths)):
            for variant in variants(args.only):
                for pass_ in passes:
                    if L not in (layer_lengths if pass_ in LAYER_PASSES else e2e_lengths):
                        continue
                    for cache in args.caches if pass_ in DECODE_BATCH else (None,):
                        rows.append((shape, L, variant, pass_, cache))
    return rows


def key_of(row: dict) -> tuple:
    return tuple(row.get(k) for k in ROW_KEY)


def git_commit() -> str:
    """HEAD, "+dirty" with uncommitted changes; "unknown" outside a git checkout (a copied tree: pass --commit)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True)
    except OSError:
        return "unknown"
    return commit + ("+dirty" if dirty.stdout.strip() else "") if commit else "unknown"


def write(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    tmp.replace(path)  # a run killed mid-write leaves the previous file whole


def run(args) -> Path:
    bench = Bench(args)
    device = torch.cuda.get_device_name() if bench.cuda else "cpu"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"attention_speed_{device.replace(' ', '_')}{'_tiny' if args.tiny else ''}.json"
    rows = [] if args.fresh or not path.exists() else json.loads(path.read_text())["rows"]
    # A row skipped on this device (a fused kernel on the CPU) would be skipped again: it counts as done.
    done = {key_of(r) for r in rows if not r.get("error") or r["error"].startswith("skipped:")}
    meta = dict(
        device=device,
        dtype=str(bench.dtype).removeprefix("torch."),
        torch=torch.__version__,
        transformers=transformers.__version__,
        commit=args.commit or git_commit(),
    )
    todo = plan(args, shapes(args))
    write(path, rows)  # the file exists even when the budget allows no row
    not_run = 0
    for shape, L, variant, pass_, cache in (bar := tqdm(todo, desc="attention_speed", unit="row")):
        row = dict(
            design=variant.design,
            variant=variant.label,
            attn_implementation=variant.attn_implementation,
            shape=shape.name,
            L=L,
            batch=shape.batch,
            cache=cache,
            ratio_of="bytes" if pass_ == "kv_cache" else "time",
            **{"pass": pass_},
            **dict.fromkeys(NUMBERS),  # every row has every column; None where it does not apply or failed
            error=None,
        )
        if args.resume and key_of(row) in done:
            continue
        if time.monotonic() > bench.deadline:
            not_run += 1
            continue
        bar.set_postfix_str(
            f"{shape.name} L={L} {variant.design}:{variant.label}/{variant.attn_implementation} {pass_}"
        )
        if variant.attn_implementation != "sdpa" and not bench.cuda:
            row["error"] = "skipped: a fused kernel (or flex attention), measured on CUDA only"
        elif cache == "static_compiled" and not bench.cuda:
            row["error"] = "skipped: generate() compiles the decoding step on accelerators only"
        else:
            started = time.monotonic()
            try:
                row |= bench.measure(shape, variant, L, pass_, cache)
            except Exception as e:  # noqa: BLE001 - any failure is the row's result (OOM, a refusal, too slow)
                lines = str(e).strip().splitlines() or [""]
                row["error"] = f"{type(e).__name__}: {lines[0][:300]}"
                # A failure can leave half-built models behind: start the next row from clean memory.
                bench.drop("design")
            row["seconds"] = round(time.monotonic() - started, 1)
        row |= meta
        rows = [r for r in rows if key_of(r) != key_of(row)] + [row]
        write(path, rows)
        tqdm.write(format_row(row))
    bench.drop("design"), bench.drop("stock")
    if not_run:
        print(f"--max-seconds {args.max_seconds} reached: {not_run} rows not run (rerun with --resume)")
    render(path)
    return path


# --- table and figure ----------------------------------------------------------------------------------------------


def _num(value, fmt):
    return format(value, fmt) if isinstance(value, (int, float)) else "-"


HEADER = (
    f"{'design:variant/attn_implementation':<52} {'shape':<9} {'L':>5} {'pass':<18} {'x stock':>7} {'ms':>9} "
    f"{'stock ms':>9} {'peak MiB':>9} {'stock MiB':>9} {'tok/s':>8} {'stock':>8}"
)


def format_row(r: dict) -> str:
    label = f"{r['design']}:{r['variant']}/{r['attn_implementation']}"
    pass_ = r["pass"] + (f"/{r['cache']}" if r["cache"] else "")
    head = f"{label:<52} {r['shape']:<9} {r['L']:>5} {pass_:<18}"
    if r.get("error"):
        return f"{head} {r['error']}"
    if r["pass"] == "kv_cache":  # bytes, not time
        size, stock = r["kv_bytes_per_token"], r["stock_kv_bytes_per_token"]
        return f"{head} {r['ratio_vs_stock']:7.2f} {'bytes/token':>9} {size:9.0f} vs stock {stock:.0f}"
    return (
        f"{head} {r['ratio_vs_stock']:7.2f} {r['ms']:9.2f} {r['stock_ms']:9.2f} {_num(r['peak_mib'], '9.0f'):>9} "
        f"{_num(r['stock_peak_mib'], '9.0f'):>9} {_num(r.get('tokens_per_s'), '8.0f'):>8} "
        f"{_num(r.get('stock_tokens_per_s'), '8.0f'):>8}"
    )


def render(path: Path) -> None:
    """The table (printed, and next to the JSON as .txt) and the figure (.png) of a result file."""
    rows = json.loads(Path(path).read_text())["rows"]
    runs = sorted(
        {
            f"{r['device']} ({r['dtype']}, torch {r['torch']}, transformers {r['transformers']}, commit {r['commit']})"
            for r in rows
        }
    )
    order = [*LAYER_PASSES, *E2E_PASSES]
    rows = sorted(rows, key=lambda r: (r["shape"], r["L"], order.index(r["pass"]), r["cache"] or "", r["design"]))
    lines = [
        "attention_speed: each design vs its stock model in one process; x stock = design / stock of time (> 1 is "
        "slower; for train and decode the tokens/s of stock / design) or of KV-cache bytes per token (kv_cache)",
        *(f"run: {run}" for run in runs),
        HEADER,
        *map(format_row, rows),
    ]
    table = "\n".join(lines)
    print(table)
    Path(path).with_suffix(".txt").write_text(table + "\n")
    plot(rows, Path(path).with_suffix(".png"))


def plot(rows: list[dict], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("matplotlib is not installed: no figure")
        return
    passes = [p for p in (*LAYER_PASSES, *E2E_PASSES) if any(r["pass"] == p and not r.get("error") for r in rows)]
    if not passes:
        return
    groups = {p: [r for r in rows if r["pass"] == p and not r.get("error")] for p in passes}
    heights = [max(1.5, 0.16 * len(g)) for g in groups.values()]
    fig, axes = plt.subplots(len(passes), 1, figsize=(10, sum(heights) + 1), height_ratios=heights, squeeze=False)
    for ax, (pass_, group) in zip(axes[:, 0], groups.items()):
        group.sort(key=lambda r: (r["shape"], r["L"], r["design"], r["variant"], r["attn_implementation"]))
        labels = [
            f"{r['shape']} L={r['L']} {r['design']}:{r['variant']}/{r['attn_implementation']}"
            + (f" {r['cache']}" if r["cache"] else "")
            for r in group
        ]
        ratios = [r["ratio_vs_stock"] for r in group]
        ax.barh(range(len(group)), ratios, color=["tab:red" if x > 1 else "tab:green" for x in ratios])
        for y, x in enumerate(ratios):
            ax.text(x, y, f" {x:.2f}", va="center", fontsize=6)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_yticks(range(len(group)), labels, fontsize=6)
        ax.invert_yaxis()
        ax.set_title(f"{pass_}: design / stock ({'bytes' if pass_ == 'kv_cache' else 'time'})", fontsize=9)
    fig.tight_layout()
    from hf_archs.evaluation.plots import compact_png

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    compact_png(buffer, path)  # a palette PNG: the same picture at a fraction of the bytes


def ints(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if n]


def names(text: str) -> list[str]:
    return [n for n in text.split(",") if n]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", type=names, default=["llama8b", "gemma270m", "minilm"])
    parser.add_argument("--passes", type=names, default=[*LAYER_PASSES, *E2E_PASSES])
    parser.add_argument(
        "--only", type=names, default=[], help="designs or design:variant, e.g. semantic,positional:t5"
    )
    parser.add_argument("--caches", type=names, default=list(CACHES), help="caches of the decode passes")
    parser.add_argument("--lengths", type=ints, default=None, help="decoder L for fwd / fwd_bwd (default 2048,8192)")
    parser.add_argument("--e2e-lengths", type=ints, default=None, help="L of the gemma270m end-to-end passes (2048)")
    parser.add_argument("--encoder-length", type=int, default=None, help="L of the minilm shape (512)")
    parser.add_argument("--llama-layers", type=int, default=1)
    parser.add_argument("--decode-tokens", type=int, default=None, help="tokens per generate() (16)")
    parser.add_argument("--tokens-per-step", type=int, default=None, help="LoRA training tokens per step (16384)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up calls after the first one")
    parser.add_argument("--repeats", type=int, default=5)
    # A row started before the budget ends runs to its end (at most ~2 min: a first call, warm-ups, --max-row-seconds).
    parser.add_argument("--max-seconds", type=float, default=480, help="start no row after this many seconds")
    parser.add_argument("--max-row-seconds", type=float, default=30, help="fewer repeats for a slower row")
    parser.add_argument(
        "--max-call-seconds", type=float, default=60, help="a first call slower than this fails the row"
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--fresh", action="store_true", help="start a new file instead of merging into it")
    parser.add_argument("--resume", action="store_true", help="skip rows already held (measured, or skipped here)")
    parser.add_argument("--tiny", action="store_true", help="CPU, tiny shapes, L 64: a check that everything runs")
    parser.add_argument("--render", type=Path, help="only re-render the table and figure of this JSON file")
    parser.add_argument("--commit", help="the commit measured, where the tree is not a git checkout")
    args = parser.parse_args(argv)
    unknown = (
        sorted(set(args.passes) - {*LAYER_PASSES, *E2E_PASSES})
        + sorted(set(args.shapes) - {"llama8b", "gemma270m", "minilm"})
        + sorted(set(args.caches) - set(CACHES))
    )
    if unknown:
        parser.error(f"unknown passes or shapes: {unknown}")
    tiny = args.tiny
    args.lengths = args.lengths or ([64] if tiny else [2048, 8192])
    args.e2e_lengths = args.e2e_lengths or ([64] if tiny else [2048])
    args.encoder_length = args.encoder_length or (64 if tiny else 512)
    args.decode_tokens = args.decode_tokens or (4 if tiny else 16)
    args.tokens_per_step = args.tokens_per_step or (128 if tiny else 16384)
    if args.decode_tokens < 2:
        parser.error("--decode-tokens must be >= 2 (the first new token comes with the prefill)")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.render:
        render(args.render)
        return args.render
    # Process-wide settings, put back afterwards: main() also runs inside a test session.
    verbosity, threads = transformers.logging.get_verbosity(), torch.get_num_threads()
    transformers.logging.set_verbosity_error()  # generate()'s advice on every call would bury the table
    if args.tiny:
        torch.set_num_threads(1)  # a shared CPU: one thread times more steadily
    try:
        return run(args)
    finally:
        transformers.logging.set_verbosity(verbosity)
        torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
