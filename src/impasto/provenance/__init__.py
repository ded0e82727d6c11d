"""Provenance: how each picture was made and from what.

Two records go into every output: the plain JSON record (:mod:`.record`, in the file's own
metadata, for tools that read no C2PA) and a signed C2PA manifest built from the same record
(:mod:`.manifest`, signed by :mod:`.signing` with the credentials of :mod:`.credentials`),
read back and checked by :mod:`.inspect`.
"""

from impasto.provenance.record import METADATA_KEY, METHOD_TITLES, build_record, source_record

__all__ = ["METADATA_KEY", "METHOD_TITLES", "build_record", "source_record"]
