"""The project's own renderer: skeleton and mesh overlays on RGB frames (numpy, no GPU)."""
