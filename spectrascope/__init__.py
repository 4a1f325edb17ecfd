"""spectrascope: how a network's weights evolve while it trains, and whether each layer is healthy."""
