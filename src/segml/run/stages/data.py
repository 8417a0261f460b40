"""The data step of ``segml run``: the synthetic bank, generated once per config and cached."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from segml.synth import GENERATOR_VERSION, MANIFEST, SynthConfig, generate

__all__ = ["prepare_synthetic", "synthetic_folder"]


def synthetic_folder(cache_dir: Path, synth: SynthConfig) -> Path:
    """The cache folder of one synthetic bank (its name carries a digest of the config)."""
    key = json.dumps({**asdict(synth), "v": GENERATOR_VERSION}, sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return cache_dir / f"bank_n{synth.customers}_seed{synth.seed}_{digest}"


def prepare_synthetic(cache_dir: Path, synth: SynthConfig) -> tuple[Path, bool]:
    """Generate the synthetic bank unless an identical one is cached; return (folder, generated)."""
    folder = synthetic_folder(cache_dir, synth)
    if (folder / MANIFEST).is_file():
        return folder, False
    generate(synth, folder, overwrite=folder.exists())
    return folder, True
