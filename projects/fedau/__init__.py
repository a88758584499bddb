"""FedAU: online aggregation weights under unknown participation statistics (Wang & Ji, ICLR 2024)."""
