"""The GANalyze flow (Goetschalckx et al., ICCV 2019): train a latent transformer against an assessor (`train`),
render and score held-out strips along it (`strips`), and summarise the per-alpha scores (`alpha_report`)."""
