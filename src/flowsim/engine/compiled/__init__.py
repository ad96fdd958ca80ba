"""The compiled engine: the per-party work of a replication in numba kernels (`CompiledModel`)."""
