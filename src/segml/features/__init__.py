"""Point-in-time customer features (see docs/features.md)."""

from segml.features.build import build_features, feature_columns, feature_sql, write_features
from segml.features.rfm import rfm_sql, rfm_summary
from segml.features.snapshots import Snapshots
from segml.features.spec import FeatureConfig

__all__ = [
    "FeatureConfig",
    "Snapshots",
    "build_features",
    "feature_columns",
    "feature_sql",
    "rfm_sql",
    "rfm_summary",
    "write_features",
]
