"""Training: the loop (phases, EMA), its start-up and checks, logging, run folders, several processes."""
