"""Side-by-side benchmarks (a regular package, so that a site-packages `benchmarks` (opacus ships one) cannot shadow it)."""
