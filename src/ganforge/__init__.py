"""ganforge: train generative adversarial networks on images from one command."""

__version__ = "0.1.0"
