"""Training: the loop (`loop`), in-memory data sets (`data`), and a run's files (`runs`)."""
