"""MLflow "model from code" entry point of the exported tiering model (no pickled object)."""

import mlflow

from segml.serving.pyfunc import TieringModel

mlflow.models.set_model(TieringModel())
