"""proda Studio: a web app over one workspace (``proda studio -w W``).

``tables``: committed tables paged, filtered and sorted on the server; ``views``: the screens'
data (overview, node pages, round diffs, training curves, diagnosis); ``jobs``: durable jobs
that run stages; ``server``: the FastAPI app and its security. See ``docs/studio.md``.
"""
