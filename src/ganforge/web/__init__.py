"""A thin HTTP layer over the run folder and ``generate``: ``ganforge serve``."""
