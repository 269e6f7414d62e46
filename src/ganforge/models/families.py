"""The model families, named once: what ``--arch`` accepts, how its help reads, and what the code and the tests
that cover "every architecture" derive from.

Adding a family is its own file (a module with ``Generator`` and ``Discriminator`` classes taking the shared
constructor arguments of ``models.model_kwargs``) and one line here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    module: str           # the module under ganforge.models holding Generator and Discriminator
    about: str            # a few words for --arch's help
    conditional: bool = False     # G and D take class labels (a labelled dataset is needed)
    convolutional: bool = True    # convolutions: channels_last pays on CPUs and GPUs


FAMILIES = {
    "dcgan": Family("dcgan", "DCGAN (the default)"),
    "cdcgan": Family("conditional", "label-conditioned DCGAN", conditional=True),
    "mlp": Family("mlp", "fully connected MLPs", convolutional=False),
    "keras-cifar": Family("keras_cifar", "the Keras CIFAR-10 GAN's networks"),
    "lite": Family("lite", "FastGAN-style: skip-layer excitation, two-path D; for folders at 32-256 px"),
    "clite": Family("clite", "label-conditioned lite (class embedding in G, projection D)", conditional=True),
}


def arch_help() -> str:
    """``--arch``'s help, from the registry."""
    names = ", ".join(f"{name} ({f.about})" for name, f in FAMILIES.items())
    return f"model family: {names}; default dcgan"
