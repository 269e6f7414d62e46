import math

import pytest
import torch

from ganforge import losses


def test_closed_forms_at_zero_logits():
    z = torch.zeros(8)
    bce = losses.build("bce")
    assert math.isclose(bce.d_real(z).item(), math.log(2), rel_tol=1e-6)
    assert math.isclose(bce.d_fake(z).item(), math.log(2), rel_tol=1e-6)
    assert math.isclose(bce.g(z).item(), math.log(2), rel_tol=1e-6)
    h = losses.build("hinge")
    assert h.d_real(z).item() == 1.0 and h.d_fake(z).item() == 1.0 and h.g(z).item() == 0.0
    ls = losses.build("lsgan")
    assert ls.d_real(z).item() == 0.5 and ls.d_fake(z).item() == 0.0 and ls.g(z).item() == 0.5


def test_bce_matches_torch_and_label_smoothing():
    logits = torch.randn(32)
    ref = torch.nn.functional.binary_cross_entropy_with_logits
    assert torch.allclose(losses.build("bce").d_real(logits), ref(logits, torch.ones(32)))
    smooth = losses.build("bce", label_smoothing=0.1)
    assert torch.allclose(smooth.d_real(logits), ref(logits, torch.full((32,), 0.9)))
    assert torch.allclose(smooth.d_fake(logits), ref(logits, torch.zeros(32)))  # one-sided


def test_gradient_penalty_of_a_linear_critic():
    """D(x) = w.x has gradient w everywhere, so the penalty is weight * (|w| - 1)^2."""
    w = torch.tensor([3.0, 4.0])

    def D(x, y=None):
        return x.flatten(1) @ w

    real, fake = torch.randn(5, 2, 1, 1), torch.randn(5, 2, 1, 1)
    gp = losses.build("wgan-gp", gp_weight=10.0).penalty(D, real, fake, None)
    assert math.isclose(gp.item(), 10.0 * (5.0 - 1.0) ** 2, rel_tol=1e-5)


@pytest.mark.parametrize("name", list(losses.LOSSES))
def test_each_loss_learns_a_two_dimensional_gaussian(name):
    """A toy GAN: G(z) = Az + b learns N((3, -2), 0.5^2 I) against a small MLP D.

    Two dimensions, not one: in 1-D the gradient penalty's minima (slope +1 and -1) are split by
    a barrier at slope 0, so a critic that starts with the wrong sign never turns round."""
    torch.manual_seed(0)
    mean = torch.tensor([3.0, -2.0])
    G = torch.nn.Linear(2, 2)
    D = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.LeakyReLU(0.2), torch.nn.Linear(64, 1))
    loss = losses.build(name)
    lr = 5e-3
    opt_g = torch.optim.Adam(G.parameters(), lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr, betas=(0.5, 0.9))

    def d(x, y=None):
        return D(x.flatten(1)).squeeze(1)

    d_steps = 5 if name == "wgan-gp" else 1  # the critic ratio WGAN-GP is used with
    for _ in range(1500):
        for _ in range(d_steps):
            real = mean + 0.5 * torch.randn(128, 2)
            fake = G(torch.randn(128, 2)).detach()
            d_loss = loss.d_real(d(real)) + loss.d_fake(d(fake))
            gp = loss.penalty(d, real.view(-1, 2, 1, 1), fake.view(-1, 2, 1, 1), None)
            if gp is not None:
                d_loss = d_loss + gp
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        g_loss = loss.g(d(G(torch.randn(128, 2))))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    with torch.no_grad():
        s = G(torch.randn(20000, 2))
    assert (s.mean(0) - mean).norm() < 0.4, s.mean(0)
    assert ((s.std(0) > 0.15) & (s.std(0) < 1.0)).all(), s.std(0)
