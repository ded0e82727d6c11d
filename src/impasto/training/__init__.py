"""Training networks: per-style networks (:mod:`~impasto.training.trainer`), decoders for
AdaIN / WCT (:mod:`~impasto.training.decoder`) and distilled encoders
(:mod:`~impasto.training.encoder`), on what they share: the loop, its events and the training
log (:mod:`~impasto.training.loop`), checkpoints and lineage
(:mod:`~impasto.training.checkpoint`) and seeded crops of the training pictures
(:mod:`~impasto.training.data`). Nothing is imported here: importing a trainer loads torch."""
