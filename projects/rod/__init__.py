"""ROD (Zhang et al., KDD 2021): multi-scale decoupled students distilled from an online ensemble teacher, vs SGC and APPNP on thinned graphs."""
