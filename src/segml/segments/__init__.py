"""Behavioural customer segmentation (客户细分) that works on any customer table.

:func:`segment_table` encodes a table (:class:`CustomerPreprocessor`), clusters it with k chosen
by bootstrap stability, BIC and silhouette (:class:`AutoKCluster`, :func:`select_k`; models:
:class:`MixedMixture`, Gaussian mixture, k-means), profiles the segments and names them from
the data, in the table's own words (:func:`name_segments`, :func:`column_label`).
:func:`segment_customers` does it on segml's customer feature table;
:func:`demographic_segments` is the traditional age × income × region baseline and
:func:`persona_report` checks both against the synthetic personas. See ``docs/segments.md``.
"""

from segml.segments.api import (
    BEHAVIOURAL_COLUMNS,
    DEMOGRAPHIC_COLUMNS,
    SegmentationResult,
    segment_table,
)
from segml.segments.bank import (
    customer_population,
    persona_ceiling,
    persona_report,
    segment_customers,
    shrink_shares,
)
from segml.segments.baseline import (
    compare_segmentations,
    demographic_segments,
    epsilon_squared,
    eta_squared,
)
from segml.segments.cluster import AutoKCluster, make_segmenter
from segml.segments.columns import classify_columns
from segml.segments.kselect import bic_elbow, select_k, select_k_lazily
from segml.segments.mixture import MixedMixture
from segml.segments.naming import NAME_RULES, name_segments, segment_traits
from segml.segments.preprocess import CustomerPreprocessor
from segml.segments.profiles import absences, deviations, profile_segments
from segml.segments.strata import StratifiedSegmenter, segment_strata
from segml.segments.wording import column_label, trait_phrase

__all__ = [
    "BEHAVIOURAL_COLUMNS",
    "DEMOGRAPHIC_COLUMNS",
    "NAME_RULES",
    "AutoKCluster",
    "absences",
    "bic_elbow",
    "CustomerPreprocessor",
    "MixedMixture",
    "SegmentationResult",
    "classify_columns",
    "column_label",
    "compare_segmentations",
    "customer_population",
    "demographic_segments",
    "deviations",
    "epsilon_squared",
    "eta_squared",
    "make_segmenter",
    "name_segments",
    "persona_ceiling",
    "persona_report",
    "profile_segments",
    "segment_customers",
    "segment_strata",
    "shrink_shares",
    "StratifiedSegmenter",
    "segment_table",
    "segment_traits",
    "select_k",
    "select_k_lazily",
    "trait_phrase",
]
