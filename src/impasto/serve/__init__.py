"""``impasto serve``: a job service and web page over the pipeline (the ``[serve]`` extra).

:mod:`.store` (the SQLite job store), :mod:`.files` (the data folder), :mod:`.checks` and
:mod:`.submission` (a submission checked and stored), :mod:`.videos` (video jobs, from their
bytes to their rendering), :mod:`.worker` (the worker processes), :mod:`.scheduling` (how
many workers, on which device, taking which jobs), :mod:`.app` (the REST API and the page),
:mod:`.service` (all of it started together).
"""
