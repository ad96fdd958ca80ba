"""The SimPy border-queue engine: checkpoints, choice, and the hook API for policies."""
