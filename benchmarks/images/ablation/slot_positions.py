"""The parameters behind the reading of the image ablation (issue 30): for each arm's EMA model, the RMS of the
latent slots' learned positions (``adapter.latent_pos``, initialised at 0.02 per entry) and of the tokenizer's
latent LayerNorm gain and bias; the arm's final reconstruction PSNR from its ``eval.jsonl``.

    .venv/bin/python benchmarks/images/ablation/slot_positions.py unite=runs/img-abl-unite tok-only=... > slot_positions.md
"""

import json
import sys
from pathlib import Path

import torch


def rms(t: torch.Tensor | None) -> str:
    return "-" if t is None else f"{float(t.float().pow(2).mean().sqrt()):.3f}"


def main(args: list[str]) -> None:
    print("| arm | slot positions | `latent_pos` RMS | latent gain RMS | latent bias RMS | PSNR dB at the end |")
    print("|---|---|---|---|---|---|")
    for arg in args:
        name, run = arg.split("=", 1)
        model = json.loads((Path(run) / "model.json").read_text())
        slot = model.get("image_config", {}).get("slot_pos", "learned")
        state = torch.load(Path(run) / "model.pt", map_location="cpu", weights_only=False)
        state = state.get("state_dict", state)
        curve = [json.loads(line) for line in (Path(run) / ("stage1" if (Path(run) / "stage1").is_dir() else ".")
                                               / "eval.jsonl").read_text().splitlines() if line.strip()]
        print(f"| {name} | {slot} | {rms(state['adapter.latent_pos'])} | {rms(state.get('ge.latent_norm.weight'))} | "
              f"{rms(state.get('ge.latent_norm.bias'))} | {curve[-1]['val_psnr']:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
