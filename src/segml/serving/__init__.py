"""The exported tiering model: bundle, input contract, MLflow pyfunc, registry, batch scoring.

See docs/serving.md.
"""

from segml.serving.bundle import OUTPUT_COLUMNS, TieringBundle
from segml.serving.schema import InputError, InputSchema

__all__ = ["OUTPUT_COLUMNS", "InputError", "InputSchema", "TieringBundle"]
