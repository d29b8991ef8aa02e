"""Features from a user's own videos: frames at 1 per second and audio decoded with PyAV (``video``), frame
features from an image network (``inception``: YouTube-8M's; ``networks``: any timm or open_clip model by name),
audio features from VGGish on log-mel windows (``vggish``), PCA with whitening and 8-bit codes as the official
extractor (``pca``), and the whole, resumable per video, into a dataset in the YouTube-8M layout (``extract``)."""
