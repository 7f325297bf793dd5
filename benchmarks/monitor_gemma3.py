"""The parent's monitor on the real Gemma-3-270m (frozen base): detection of injected arithmetic errors (monitor vs
linear probes on the same hidden states) and monitored generation strategies on held-out arithmetic problems.

    OMP_NUM_THREADS=2 PYTHONPATH=. python benchmarks/monitor_gemma3.py detection --seeds 0 1 2
    OMP_NUM_THREADS=2 PYTHONPATH=. python benchmarks/monitor_gemma3.py generation --seeds 0 1 2

Detection: chains from `benchmarks.monitor.data.split_chains` (train/validation errors of two types at steps
0-1; test errors whose type or step training never saw), states of the monitored layers collected once, the monitor
and one logistic probe per monitored layer trained per seed; thresholds chosen on validation (max F1). Writes
results/monitor/detection_gemma-3-270m.json, the seed-0 monitor weights (outputs/monitor_gemma3/monitor.pt) and a
plot of the anomaly score along a held-out chain with its injected error marked.

Generation: few-shot prompts of held-out problems; greedy, backtracking, CoT retry and tree of thought with the
seed-0 monitor at its validation token threshold; final-answer accuracy and tokens decoded per problem, sampling
seeds for the stochastic strategies. Writes results/monitor/generation_gemma-3-270m.json.
"""

import argparse
import json
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer

from benchmarks.monitor.data import split_chains
from benchmarks.monitor.detection import (
    LinearProbe,
    collect_states,
    detection_report,
    monitor_scorer,
    score_chains,
    train_scorer,
)
from hf_archs.conversion.gguf import gemma3_270m
from hf_archs.designs.monitor.generation import STRATEGIES, monitored_generate
from hf_archs.evaluation.arithmetic import ArithmeticConfig, arithmetic_splits, few_shot_prompt, parse_answer
from hf_archs.models import MonitorGemma3ForCausalLM, MonitorGemma3TextConfig


RESULTS = Path("results/monitor")
CARD = Path("model_cards/monitor_gemma3_text.md")
PLOT = "monitor_anomaly_along_chain.png"
WORK = Path("outputs/monitor_gemma3")
MONITOR = dict(monitor_layers=[4, 8], monitor_window=32, monitor_heads=4, monitor_dim=64)


def load_model(device="cpu"):
    path = gemma3_270m()
    config = MonitorGemma3TextConfig.from_pretrained(path, **MONITOR)
    model = MonitorGemma3ForCausalLM.from_pretrained(path, config=config, dtype=torch.float32).eval().to(device)
    model.requires_grad_(False)
    return model, AutoTokenizer.from_pretrained(path)


def mean_std(values):
    values = torch.tensor(values, dtype=torch.float64)
    return {"mean": float(values.mean()), "std": float(values.std()) if len(values) > 1 else 0.0, "n": len(values)}


def detection(args):
    model, tokenizer = load_model(args.device)
    monitor = model.model.monitor
    splits = split_chains(args.train_problems, args.test_problems)
    started = time.time()
    data = {name: collect_states(model, tokenizer, getattr(splits, name), monitor.layers_read) for name in
            ("train", "validation", "test")}  # fmt: skip
    collect_seconds = time.time() - started
    model.cpu()  # the collected states live on the CPU; the monitor and the probes train there
    runs = {"monitor": [], **{f"probe_layer{layer}": [] for layer in monitor.layers_read}}
    for seed in args.seeds:
        torch.manual_seed(seed)
        monitor.init_design_weights(model.config)
        monitor.requires_grad_(True)
        losses = train_scorer(monitor, monitor_scorer(monitor), data["train"], epochs=args.epochs, lr=1e-3, seed=seed)
        report = detection_report(monitor_scorer(monitor), data["validation"], data["test"])
        runs["monitor"].append({"seed": seed, "losses": losses, **report})
        if seed == args.seeds[0]:
            WORK.mkdir(parents=True, exist_ok=True)
            torch.save({"state_dict": monitor.state_dict(), "report": report}, WORK / "monitor.pt")
            plot_chain(monitor, splits.test, data["test"], CARD.parent / "images" / PLOT, tokenizer)
        monitor.requires_grad_(False)
        for position, layer in enumerate(monitor.layers_read):
            torch.manual_seed(seed)
            probe = LinearProbe(model.config.hidden_size, position)
            losses = train_scorer(probe, probe, data["train"], epochs=args.epochs, lr=1e-3, seed=seed)
            report = detection_report(probe, data["validation"], data["test"])
            runs[f"probe_layer{layer}"].append({"seed": seed, "losses": losses, **report})
    metrics = ("token_auroc", "step_auroc", "token_precision", "token_recall", "step_precision", "step_recall")
    summary = {name: {m: mean_std([r[m] for r in rs]) for m in metrics} for name, rs in runs.items()}
    record = {
        "model": "google/gemma-3-270m (frozen)",
        "monitor": MONITOR,
        "chains": {name: len(getattr(splits, name)) for name in ("train", "validation", "test")},
        "held_out_errors": sorted({f"{c.error_type}@{c.error_step}" for c in splits.test if not c.is_clean}),
        "train_errors": sorted({f"{c.error_type}@{c.error_step}" for c in splits.train if not c.is_clean}),
        "epochs": args.epochs,
        "seconds_collecting_states": collect_seconds,
        "summary": summary,
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "detection_gemma-3-270m.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


def plot_chain(monitor, chains, data, path, tokenizer):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    index = next(i for i, c in enumerate(chains) if not c.is_clean and c.error_step == 1)
    chain, item = chains[index], data[index]
    scores = score_chains(monitor_scorer(monitor), [item])[0]
    tokens = tokenizer.convert_ids_to_tokens(tokenizer(chain.text)["input_ids"])
    solution = (item.steps >= 0).nonzero().flatten()
    fig, ax = plt.subplots(figsize=(12, 3.2))
    x = torch.arange(len(scores))
    ax.plot(x[solution], scores[solution], marker="o", ms=3)
    wrong = (item.labels == 1).nonzero().flatten()
    ax.axvspan(int(wrong.min()) - 0.5, int(wrong.max()) + 0.5, color="red", alpha=0.2, label=f"{chain.error_type}")
    ax.set_xticks(x[solution].tolist(), [tokens[i].replace("▁", " ") for i in solution.tolist()], fontsize=7)
    ax.set_ylabel("anomaly score")
    ax.set_title(chain.text.split("\n")[1])
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def token_ids_containing(tokenizer, pieces) -> list[int]:
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return [i for i, token in enumerate(tokens) if token and any(piece in token for piece in pieces)]


def generation(args):
    model, tokenizer = load_model(args.device)
    saved = torch.load(WORK / "monitor.pt", map_location=args.device)
    model.model.monitor.load_state_dict(saved["state_dict"])
    threshold = saved["report"]["token_threshold"]
    config = ArithmeticConfig()
    train, test = arithmetic_splits(16, args.test_problems, config)
    shots = train[:3]
    boundary = token_ids_containing(tokenizer, (";", "."))
    stop = token_ids_containing(tokenizer, ("\n",)) + [tokenizer.eos_token_id]
    runs = {strategy: [] for strategy in args.strategies}
    for strategy in args.strategies:
        for seed in args.seeds if strategy != "greedy" else args.seeds[:1]:
            correct, decoded, kept, started = [], [], [], time.time()
            for problem in test:
                ids = tokenizer(few_shot_prompt(problem, shots), return_tensors="pt")["input_ids"].to(args.device)
                (result,) = monitored_generate(
                    model, ids, strategy=strategy, max_new_tokens=args.max_new_tokens, threshold=threshold,
                    boundary_token_ids=boundary, stop_token_ids=stop, seed=seed, branches=args.branches,
                    max_rewinds=4, max_retries=2, temperature=0.7,
                )  # fmt: skip
                text = tokenizer.decode(result.new_tokens, skip_special_tokens=True).split("\n")[0]
                correct.append(float(parse_answer(text) == problem.answer))
                decoded.append(result.decoded_tokens)
                kept.append(len(result.new_tokens))
            runs[strategy].append({
                "seed": seed, "accuracy": sum(correct) / len(correct), "decoded_tokens": sum(decoded) / len(decoded),
                "kept_tokens": sum(kept) / len(kept), "seconds": time.time() - started, "items": correct,
            })  # fmt: skip
            print(strategy, seed, runs[strategy][-1]["accuracy"], runs[strategy][-1]["decoded_tokens"], flush=True)
    greedy_tokens = runs["greedy"][0]["decoded_tokens"] if "greedy" in runs else None

    def ratio(rs):
        return mean_std([r["decoded_tokens"] / greedy_tokens for r in rs]) if greedy_tokens else None

    summary = {
        strategy: {
            "accuracy": mean_std([r["accuracy"] for r in rs]),
            "decoded_tokens": mean_std([r["decoded_tokens"] for r in rs]),
            "compute_vs_greedy": ratio(rs),
        }
        for strategy, rs in runs.items()
    }
    record = {
        "model": "google/gemma-3-270m (frozen) + monitor (seed 0)",
        "threshold": threshold,
        "problems": len(test),
        "shots": 3,
        "max_new_tokens": args.max_new_tokens,
        "device": str(args.device),
        "branches": args.branches,
        "summary": summary,
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "generation_gemma-3-270m.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


def _cell(stat) -> str:
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def detection_table(record) -> str:
    metrics = ("token_auroc", "step_auroc", "token_precision", "token_recall", "step_precision", "step_recall")
    lines = ["| scorer | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for name, stats in record["summary"].items():
        lines.append(f"| {name} | " + " | ".join(_cell(stats[m]) for m in metrics) + " |")
    return "\n".join(lines)


def generation_table(record) -> str:
    lines = ["| strategy | accuracy | tokens decoded / problem | compute vs greedy | seeds |", "|---|---|---|---|---|"]
    for name, stats in record["summary"].items():
        ratio = _cell(stats["compute_vs_greedy"]) if stats["compute_vs_greedy"] else "—"
        row = [name, _cell(stats["accuracy"]), _cell(stats["decoded_tokens"]), ratio, str(stats["accuracy"]["n"])]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def card(args):
    """Regenerate the tables of the model card between its GENERATED markers from the JSON records."""
    text = CARD.read_text()
    for name, make in (("detection", detection_table), ("generation", generation_table)):
        path = RESULTS / f"{name}_gemma-3-270m.json"
        table = make(json.loads(path.read_text())) if path.exists() else "(not measured yet)"
        begin, end = f"<!-- GENERATED {name} -->", f"<!-- END {name} -->"
        head, rest = text.split(begin)
        text = head + begin + "\n" + table + "\n" + end + rest.split(end)[1]
    CARD.write_text(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["detection", "generation", "card"])
    parser.add_argument(
        "--device", default="cpu", help="where the decoder runs (detection: states; scorers train on the CPU)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train-problems", type=int, default=40)
    parser.add_argument("--test-problems", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--branches", type=int, default=3)
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    args = parser.parse_args()
    {"detection": detection, "generation": generation, "card": card}[args.what](args)


if __name__ == "__main__":
    main()
