"""Relativistic adversarial losses with R1/R2 penalties, and the lightweight ISP's discriminators.

Losses (D's logits on real images ``r`` and generated ones ``f``, paired
one to one in the batch; ``softplus(z) = log(1 + eᶻ)``)::

    L_D = mean softplus(D(f) − D(r))          L_G = mean softplus(D(r) − D(f))
    R1  = γ/2 · mean ‖∇ₓ D(r)‖²               R2  = γ/2 · mean ‖∇ₓ D(f)‖²

R1 and R2 are zero-centred gradient penalties on real and on generated
inputs, added to ``L_D`` (γ = 10).

Discriminators (each sees images through a frozen feature extractor of
:mod:`ispengine.learning.feature_extractors`; only its head learns):

* :class:`ColourDiscriminator`: the image blurred (so only colour is left),
  ViT tokens, an MLP ``width → 512 → 512 → 1`` (LeakyReLU 0.2) on every token,
  mean over tokens.
* :class:`TextureDiscriminator`: the image's L* channel (so only texture is
  left), one AlexNet ReLU output (relu1 or relu4), a convolutional head
  (3×3 convolutions ``C → 64 → 64 → 1``, LeakyReLU 0.2), mean over positions.
  The paper does not give the head's layers; these are this implementation's.

Sources: A. Jolicoeur-Martineau, "The relativistic discriminator: a key element
missing from standard GAN", ICLR 2019; Y. Huang, A. Gokaslan, V. Kuleshov, J.
Tompkin, "The GAN is dead; long live the GAN! A Modern GAN Baseline", NeurIPS
2024 (relativistic pairing loss with R1 + R2); A. Arhire, R. Timofte, "Learned
Lightweight Smartphone ISP with Unpaired Data", CVPR 2025 workshops, §3.3
(the three discriminators).
"""

from __future__ import annotations

from typing import Any

from ispengine.learning.isp_losses import gaussian_blur, grayscale

#: γ of the R1/R2 penalties.
GAMMA = 10.0
#: AlexNet ReLU outputs the two texture discriminators use (0-based: relu1, relu4).
TEXTURE_LAYERS = (0, 3)


def discriminator_loss(real_logits: Any, fake_logits: Any) -> Any:
    """``mean softplus(D(f) − D(r))`` (module docstring)."""
    import torch

    return torch.nn.functional.softplus(fake_logits - real_logits).mean()


def generator_loss(real_logits: Any, fake_logits: Any) -> Any:
    """``mean softplus(D(r) − D(f))`` (module docstring)."""
    import torch

    return torch.nn.functional.softplus(real_logits - fake_logits).mean()


def gradient_penalty(logits: Any, inputs: Any, gamma: float = GAMMA) -> Any:
    """``γ/2 · mean ‖∇ D‖²`` of ``logits`` with respect to ``inputs`` (which must
    require gradients), differentiable (R1 on real inputs, R2 on generated ones)."""
    import torch

    (gradient,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return 0.5 * gamma * gradient.pow(2).flatten(1).sum(dim=1).mean()


def _leaky() -> Any:
    import torch

    return torch.nn.LeakyReLU(0.2)


def colour_discriminator(vit: Any, hidden: int = 512) -> Any:
    """A :class:`ColourDiscriminator` on the frozen ViT ``vit``."""
    import torch

    class ColourDiscriminator(torch.nn.Module):
        """Blurred image → ViT tokens → per-token MLP → mean logit per image."""

        def __init__(self) -> None:
            super().__init__()
            self.extractor = vit
            self.head = torch.nn.Sequential(
                torch.nn.Linear(vit.channels, hidden),
                _leaky(),
                torch.nn.Linear(hidden, hidden),
                _leaky(),
                torch.nn.Linear(hidden, 1),
            )

        def forward(self, x: Any) -> Any:
            return self.head(self.extractor(gaussian_blur(x))).mean(dim=(1, 2))

        def trainable(self) -> list[Any]:
            return list(self.head.parameters())

    return ColourDiscriminator()


def texture_discriminator(alexnet: Any, layer: int, hidden: int = 64) -> Any:
    """A :class:`TextureDiscriminator` on ReLU output ``layer`` of the frozen ``alexnet``."""
    import torch

    channels = alexnet.channels[layer]

    class TextureDiscriminator(torch.nn.Module):
        """L* image → AlexNet ReLU features → convolutional head → mean logit per image."""

        def __init__(self) -> None:
            super().__init__()
            self.extractor = alexnet
            self.layer = layer
            self.head = torch.nn.Sequential(
                torch.nn.Conv2d(channels, hidden, 3, padding=1),
                _leaky(),
                torch.nn.Conv2d(hidden, hidden, 3, padding=1),
                _leaky(),
                torch.nn.Conv2d(hidden, 1, 3, padding=1),
            )

        def forward(self, x: Any) -> Any:
            features = self.extractor(grayscale(x))[self.layer]
            return self.head(features).mean(dim=(1, 2, 3))

        def trainable(self) -> list[Any]:
            return list(self.head.parameters())

    return TextureDiscriminator()
