"""Batch work at volume: every picture of a folder in every style, or the rows of a manifest;
resumable (what is done is skipped, by the hashes of inputs and options), one bad item never
stops the rest, on one machine or on a Ray cluster."""

from impasto.batch.items import Defaults, Item, from_manifest, from_pictures
from impasto.batch.ray_engine import RaySettings
from impasto.batch.run import BatchOptions, Summary, run_batch

__all__ = ["BatchOptions", "Defaults", "Item", "RaySettings", "Summary", "from_manifest",
           "from_pictures", "run_batch"]
