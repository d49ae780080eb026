"""
App credentials at rest: the file format (``_credfile``), the profile store (``_store``), the
sources a consumer reads them from (``_sources``) and ``credentials import`` (``_import``).

Nothing is imported here: the cached-token path loads only the modules it needs.
"""
