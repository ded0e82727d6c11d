"""``impasto serve``: a job service and web page over the pipeline (the ``[serve]`` extra).

:mod:`.store` (the SQLite job store), :mod:`.files` (the data folder), :mod:`.worker` (the
worker processes), :mod:`.app` (the REST API and the page), :mod:`.service` (all of it
started together).
"""
