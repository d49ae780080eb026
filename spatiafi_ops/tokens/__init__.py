"""
Access tokens: the cache (``_cache``), minting (``_mint``) and the consumer's path that reads
the cache, else mints (``_consumer``, with ``get_session``).

Nothing is imported here: the cached-token path loads only the modules it needs.
"""
