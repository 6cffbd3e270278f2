"""ViDiHand: the video-diffusion two-hand reconstructor (docs/vidihand.md)."""
