"""The synthetic bank: contract tables with a known ground truth (see docs/synthetic_bank.md)."""

from segml.synth.generator import GENERATOR_VERSION, MANIFEST, SynthConfig, SynthResult, generate

__all__ = ["GENERATOR_VERSION", "MANIFEST", "SynthConfig", "SynthResult", "generate"]
