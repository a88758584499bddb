"""FED-PUB (Baek et al., ICML 2023): personalized subgraph FL vs FedAvg and local training."""
