"""PowerWalk (Liu et al., CIKM 2016): walk fingerprints + online combination; all-source PPR by walks."""
