"""Self-supervised learning on small images: augmentations, losses, EMA, heads, SimCLR, BYOL, MAE,
JEPA and CLIP (chapter S of CLAIMS.md)."""
