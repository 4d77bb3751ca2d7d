"""Loopback benchmark: Tandem against the upstream directly and a bare aiohttp pass-through proxy.

``python -m bench`` (``make bench``) starts three servers, each in its own process
(upstream, bare pass-through, Tandem), drives them with ``wrk`` (or an aiohttp load
loop in its own process when ``wrk`` is missing) for a ~50 KB HTML page (rewritten
by Tandem) and a 1 MB binary (streamed), and then downloads a 1 GiB body through
Tandem while sampling its RSS. See ``bench/__main__.py`` for the flags.
"""
