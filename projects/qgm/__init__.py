"""QG-DSGDm-N: quasi-global momentum for decentralized SGD on heterogeneous data (Lin et al., ICML 2021)."""
