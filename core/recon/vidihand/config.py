"""ViDiHand configurations: built-in `tiny` and `full` JSON files, or a user's JSON file.

A configuration is a plain JSON document with sections `vae` (AutoencoderKLWan arguments),
`transformer` (WanVACETransformer3DModel arguments), `features` (noise level tau, tapped block,
text tokens, noise seed), `decoder`, `input` (model input size and window), `hand_model` and
`train`. It is saved beside every checkpoint, so a checkpoint always knows its architecture.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import CheckpointError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
BUILTIN = ("tiny", "full")
REQUIRED_SECTIONS = ("vae", "transformer", "features", "decoder", "input", "hand_model", "train")


@dataclass
class ViDiHandConfig:
    """A validated configuration (the raw JSON dict plus typed accessors)."""

    raw: dict[str, Any]

    # ------------------------------------------------------------------ access
    @property
    def name(self) -> str:
        return str(self.raw.get("name", "custom"))

    @property
    def vae(self) -> dict[str, Any]:
        return self.raw["vae"]

    @property
    def transformer(self) -> dict[str, Any]:
        t = dict(self.raw["transformer"])
        t["patch_size"] = tuple(t["patch_size"])
        return t

    @property
    def tau(self) -> float:
        return float(self.raw["features"]["tau"])

    @property
    def layer(self) -> int:
        return int(self.raw["features"]["layer"])

    @property
    def text_tokens(self) -> int:
        return int(self.raw["features"].get("text_tokens", 1))

    @property
    def noise_seed(self) -> int:
        return int(self.raw["features"].get("seed", 0))

    @property
    def decoder(self) -> dict[str, Any]:
        return self.raw["decoder"]

    @property
    def width(self) -> int:
        return int(self.raw["input"]["width"])

    @property
    def height(self) -> int:
        return int(self.raw["input"]["height"])

    @property
    def window(self) -> int:
        return int(self.raw["input"]["window"])

    @property
    def overlap(self) -> int:
        return int(self.raw["input"]["overlap"])

    @property
    def hand_model(self) -> dict[str, Any]:
        return self.raw["hand_model"]

    @property
    def train(self) -> dict[str, Any]:
        return self.raw["train"]

    @property
    def width_dim(self) -> int:
        """Transformer width (heads x head dim)."""
        t = self.raw["transformer"]
        return int(t["num_attention_heads"]) * int(t["attention_head_dim"])

    @property
    def token_stride(self) -> int:
        """Pixels per transformer token side: VAE 8x times the spatial patch size."""
        return 8 * int(self.raw["transformer"]["patch_size"][1])

    def to_json(self) -> str:
        return json.dumps(self.raw, indent=2)

    def copy(self) -> ViDiHandConfig:
        return ViDiHandConfig(copy.deepcopy(self.raw))

    # -------------------------------------------------------------- validation
    def validate(self) -> ViDiHandConfig:
        """Raise CheckpointError when the configuration cannot describe a working model."""
        missing = [s for s in REQUIRED_SECTIONS if s not in self.raw]
        if missing:
            raise CheckpointError(
                f"ViDiHand configuration {self.name!r} lacks the section(s) {', '.join(missing)}.",
                hint="Start from a built-in configuration: vidihand model-info --config tiny --json",
            )
        t = self.raw["transformer"]
        n_layers = int(t["num_layers"])
        if not 0 <= self.layer < n_layers:
            raise CheckpointError(
                f"features.layer is {self.layer} but the transformer has {n_layers} blocks.",
                hint=f"Choose a block between 0 and {n_layers - 1}.",
            )
        if not 0.0 < self.tau < 1.0:
            raise CheckpointError(f"features.tau must be in (0, 1), got {self.tau}.")
        s = self.token_stride
        if self.width % s or self.height % s:
            raise CheckpointError(
                f"input size {self.width}x{self.height} is not a multiple of {s} pixels "
                "(VAE 8x times the transformer's patch).",
                hint=f"Use a width and height divisible by {s}, e.g. 832x480.",
            )
        if (self.window - 1) % 4:
            raise CheckpointError(
                f"input.window is {self.window}; the Wan VAE needs 1 + 4k frames (9, 17, 81, ...).",
            )
        if not 0 <= self.overlap < self.window:
            raise CheckpointError(f"input.overlap must be in [0, window), got {self.overlap}.")
        if self.hand_model.get("kind") not in ("skeleton", "mano"):
            raise CheckpointError(
                f"hand_model.kind must be 'skeleton' or 'mano', got {self.hand_model.get('kind')!r}."
            )
        return self


def load_config(name_or_file: str | Path) -> ViDiHandConfig:
    """A built-in configuration by name (`tiny`, `full`) or a JSON file."""
    text = str(name_or_file)
    path = CONFIG_DIR / f"{text}.json" if text in BUILTIN else Path(text)
    if not path.is_file():
        raise CheckpointError(
            f"No ViDiHand configuration {text!r}.",
            hint=f"Use one of the built-in configurations ({', '.join(BUILTIN)}) or a JSON file.",
        )
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"Cannot read configuration {path}: {exc}.") from exc
    if not isinstance(raw, dict):
        raise CheckpointError(f"Configuration {path} is not a JSON object.")
    return ViDiHandConfig(raw).validate()


def set_path(cfg: ViDiHandConfig, dotted: str, value: Any) -> None:
    """Override one value by its dotted path (e.g. 'train.stage2.steps')."""
    node = cfg.raw
    keys = dotted.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value
