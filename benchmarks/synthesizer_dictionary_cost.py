"""What synthesizer attention and dictionary context cost against stock all-MiniLM-L6-v2 on this CPU: parameters,
saved buffers, and forward time (batch × L real tokens, eager and sdpa, medians of alternating repeats).

    python benchmarks/synthesizer_dictionary_cost.py --stock outputs/minilm/all-MiniLM-L6-v2 \
        --design outputs/minilm-synthesizer --design outputs/dictionary/minilm-dictionary-train3000 \
        --out benchmarks/results/synthesizer_dictionary_cost_cpu.json
"""

import argparse
import json
import statistics
import time

import torch
from transformers import AutoModel

import hf_archs  # noqa: F401
from hf_archs.core.model import design_parameter_names


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stock", required=True)
    parser.add_argument("--design", action="append", required=True)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.manual_seed(0)
    paths = [args.stock, *args.design]
    report = {"batch": args.batch, "length": args.length, "repeats": args.repeats, "threads": torch.get_num_threads()}
    for implementation in ("eager", "sdpa"):
        models = [AutoModel.from_pretrained(p, attn_implementation=implementation).eval() for p in paths]
        input_ids = torch.randint(1000, 20000, (args.batch, args.length))
        times = {p: [] for p in paths}
        with torch.no_grad():
            for model in models:
                model(input_ids=input_ids)  # warm-up
            for _ in range(args.repeats):
                for path, model in zip(paths, models):
                    start = time.perf_counter()
                    model(input_ids=input_ids)
                    times[path].append(time.perf_counter() - start)
        stock = statistics.median(times[args.stock])
        for path, model in zip(paths, models):
            entry = report.setdefault(path, {})
            entry[f"{implementation}_forward_s"] = statistics.median(times[path])
            entry[f"{implementation}_forward_ratio"] = statistics.median(times[path]) / stock
            names = design_parameter_names(model)
            entry["parameters"] = sum(p.numel() for p in model.parameters())
            entry["design_parameters"] = sum(p.numel() for n, p in model.named_parameters() if n in names)
            entry["buffer_elements"] = sum(b.numel() for n, b in model.named_buffers() if "dictionary" in n)
    print(json.dumps(report, indent=2))
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
