"""Flag Aggregator and the robustness table (every rule x every attack x Byzantine fraction)."""
