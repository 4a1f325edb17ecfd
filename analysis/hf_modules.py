"""What a Hugging Face checkpoint's config.json says about its model that its weights do not: which layers are
tied to another (transformers leaves a tied `lm_head` or MLM decoder out of its safetensors, while
weightwatcher, walking the modules, reports it), each layer's module type (GPT-2's Conv1D, Embedding: all
2-D weights alike), and the modules' order (safetensors keeps none).

The model is built from the config on PyTorch's meta device (no memory, no weights) with the installed
transformers, so that every architecture it knows is read as it defines itself."""
from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

SPECIAL_TYPES = ("conv1d", "embedding")  # the module types a 2-D weight's shape does not tell


@dataclass(frozen=True)
class ModuleLayout:
    architecture: str
    keys: tuple[str, ...]  # the model's state_dict keys, tied ones included, in module order
    tied: dict[str, str]  # state_dict key -> the key whose tensor it shares
    layer_types: dict[str, str]  # layer -> "conv1d" | "embedding", where not the shape's dense/conv2d

    def arranged(self, state_dict: dict) -> dict:
        """The checkpoint's tensors in module order, with each tied key sharing its source's tensor (as a
        torch.save of the model's own state_dict has it); keys the model does not know keep their place last."""
        order, tied = self.order_of(list(state_dict))
        return {key: state_dict[tied.get(key, key)] for key in order}

    def order_of(self, names: list[str]) -> tuple[list[str], dict[str, str]]:
        """The checkpoint's names in module order with the tied keys it left out, and those keys' sources."""
        present = set(names)
        known = [key for key in self.keys if key in present or self.tied.get(key) in present]
        tied = {key: self.tied[key] for key in known if key not in present}
        return known + [name for name in names if name not in set(known)], tied


def _ww_type(module) -> str:
    """weightwatcher 0.7.7's PyTorchLayer.layer_type, by class and by the class name's words."""
    from torch import nn

    name = str(type(module)).lower()
    for kind, classes, word in (("dense", nn.Linear, "linear"), ("conv1d", nn.Conv1d, "conv1d"),
                                ("conv2d", nn.Conv2d, "conv2d"), ("embedding", nn.Embedding, "embedding")):
        if isinstance(module, classes) or word in name:
            return kind
    return "unknown"


def module_layout(config: Path) -> tuple[ModuleLayout | None, str]:
    """The layout config.json describes, and a line saying what was read (or why nothing was)."""
    try:
        architecture = json.loads(config.read_text())["architectures"][0]
    except (OSError, ValueError, KeyError, IndexError, TypeError):  # not a transformers model's config
        return None, ""
    return _layout(str(config), architecture)


@functools.lru_cache(maxsize=4)
def _layout(config: str, architecture: str) -> tuple[ModuleLayout | None, str]:
    try:
        import torch
        import transformers
    except ImportError:
        return None, (f"{architecture}: transformers is not installed, so tied layers and module types are not "
                      "read (pip install transformers)")
    model_class = getattr(transformers, architecture, None)
    if model_class is None:
        return None, f"{architecture} is not a transformers class: tied layers and module types are not read"
    quiet = logging.getLogger("transformers")
    level, quiet.level = quiet.level, logging.ERROR
    try:
        with torch.device("meta"):
            model = model_class(transformers.AutoConfig.from_pretrained(Path(config).parent))
    except Exception as exc:  # a config this transformers cannot build: the weights alone are still analysed
        return None, f"{architecture} could not be built from {Path(config).name} ({type(exc).__name__}): tied " \
                     "layers and module types are not read"
    finally:
        quiet.setLevel(level)
    first: dict[int, str] = {}
    tied = {name: first.setdefault(id(parameter), name)
            for name, parameter in model.named_parameters(remove_duplicate=False)}
    tied = {name: source for name, source in tied.items() if name != source}
    types = {name: kind for name, module in model.named_modules() if (kind := _ww_type(module)) in SPECIAL_TYPES}
    layout = ModuleLayout(architecture, tuple(model.state_dict()), tied, types)
    said = [f"{target.removesuffix('.weight')} is tied to {source.removesuffix('.weight')}"
            for target, source in tied.items() if target.endswith(".weight")]
    return layout, f"{architecture}: " + "; ".join(said + [
        f"module types from its config ({', '.join(sorted(set(types.values())))} layers)" if types else
        "its modules' order and types from its config"])
