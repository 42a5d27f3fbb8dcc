"""Root conftest: gonogo's plugin is loaded through its pytest11 entry point, not here.

Kept deliberately empty of logic so the packs run the same whether gonogo
is installed from this checkout or from a wheel.
"""
