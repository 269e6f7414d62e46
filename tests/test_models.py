import pytest
import torch

from ganforge import losses
from ganforge.models import ARCHS, build_discriminator, build_generator, count_params, is_conditional
from ganforge.models.dcgan import stage_sizes
from ganforge.sampling import fold_batchnorm, generate, sampling_batch


def kwargs(res, channels, **kw):
    return {"resolution": res, "channels": channels, "z_dim": 16, "ngf": 8, "ndf": 8, "hidden": 32,
            "dropout": 0.0, "num_classes": 10, **kw}


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("res,channels", [(28, 1), (32, 3), (64, 3)])
def test_shapes_and_one_step_changes_both_networks(arch, res, channels):
    torch.manual_seed(0)
    kw = kwargs(res, channels)
    G, D = build_generator(arch, kw), build_discriminator(arch, kw)
    y = torch.arange(4) % 10 if is_conditional(arch) else None
    x = G(torch.randn(4, 16), y)
    assert x.shape == (4, channels, res, res)
    assert x.min() >= -1 and x.max() <= 1                      # tanh output
    assert D(x, y).shape == (4,)
    g0 = [p.detach().clone() for p in G.parameters()]
    d0 = [p.detach().clone() for p in D.parameters()]
    loss = losses.build("bce")
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    real = torch.rand(4, channels, res, res) * 2 - 1
    d_loss = loss.d_real(D(real, y)) + loss.d_fake(D(x.detach(), y))
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    g_loss = loss.g(D(G(torch.randn(4, 16), y), y))
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    assert all(not torch.equal(a, b) for a, b in zip(g0, G.parameters()) if b.requires_grad)
    assert any(not torch.equal(a, b) for a, b in zip(d0, D.parameters()))


def test_depth_follows_size():
    assert stage_sizes(28) == [28, 14, 7, 4]
    assert stage_sizes(64) == [64, 32, 16, 8, 4]
    assert stage_sizes(128) == [128, 64, 32, 16, 8, 4]


def test_parameter_counts_match_the_reference_programs():
    # PyTorch's DCGAN at 64 px (ngf=ndf=64, nz=100): 3,576,704 and 2,765,568 parameters
    kw = {"resolution": 64, "channels": 3, "z_dim": 100, "ngf": 64, "ndf": 64}
    assert count_params(build_generator("dcgan", kw)) == 3_576_704
    assert count_params(build_discriminator("dcgan", kw)) == 2_765_568
    # the Keras CIFAR-10 GAN's model summaries: 1,466,115 and 522,497 parameters
    kw = {"resolution": 32, "channels": 3, "z_dim": 100, "dropout": 0.4}
    assert count_params(build_generator("keras-cifar", kw)) == 1_466_115
    assert count_params(build_discriminator("keras-cifar", kw)) == 522_497


def test_dcgan_init_is_normal_0_02():
    G = build_generator("dcgan", {"resolution": 64, "channels": 3, "z_dim": 100, "ngf": 64})
    w = G.body[0].conv.weight
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3


def test_conditional_generator_uses_the_label():
    torch.manual_seed(0)
    G = build_generator("cdcgan", kwargs(28, 1)).eval()
    z = torch.randn(2, 16)
    a = G(z, torch.tensor([0, 0]))
    b = G(z, torch.tensor([3, 3]))
    assert not torch.allclose(a, b)


def test_mlp_parameter_count_closed_form():
    z, h, out = 100, 256, 28 * 28
    kw = {"resolution": 28, "channels": 1, "z_dim": z, "hidden": h}
    assert count_params(build_generator("mlp", kw)) == (z * h + h) + (h * 2 * h + 2 * h) + (2 * h * out + out)
    assert count_params(build_discriminator("mlp", kw)) == (out * 2 * h + 2 * h) + (2 * h * h + h) + (h + 1)


@pytest.mark.parametrize("arch,res,channels", [("dcgan", 64, 3), ("cdcgan", 28, 1), ("mlp", 28, 1)])
def test_sampling_in_chunks_matches_one_forward(arch, res, channels):
    """``generate`` fills one buffer chunk by chunk (the last one partial), keeps G's layout and mode,
    and gives what one forward over every latent gives."""
    torch.manual_seed(0)
    G = build_generator(arch, kwargs(res, channels))
    if arch != "mlp":
        G.to(memory_format=torch.channels_last)
    z = torch.randn(150, 16)
    y = torch.arange(150) % 10 if arch == "cdcgan" else None
    G.eval()
    with torch.no_grad():
        whole = G(z, y)
    G.train()
    for bs in (None, 64, 7):
        imgs = generate(G, z, y, batch_size=bs)
        assert imgs.shape == (150, channels, res, res) and imgs.dtype == torch.float32
        torch.testing.assert_close(imgs, whole, rtol=1e-4, atol=1e-5)
    assert G.training


def test_batchnorm_is_folded_for_sampling_only():
    G = build_generator("dcgan", kwargs(64, 3))
    for m in G.modules():  # running statistics far from the identity, so a wrong fold shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in G.modules())
    folded = fold_batchnorm(G)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules()) == 1  # bn0 follows a view
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in G.modules()) == n_bn == 4 and G.training
    z = torch.randn(8, 16)
    with torch.no_grad():
        torch.testing.assert_close(folded(z), G.eval()(z), rtol=1e-4, atol=1e-5)


def test_sampling_batch_keeps_activations_cache_sized_on_a_cpu():
    cpu = torch.device("cpu")
    assert sampling_batch(64, 64, cpu) == 64
    assert sampling_batch(28, 28, cpu) == 256 and sampling_batch(32, 32, cpu) == 256
    assert sampling_batch(256, 256, cpu) == 16
    assert sampling_batch(64, 64, torch.device("cuda")) == 256


def test_train_help_lists_every_family_and_loss_of_the_registries(capsys):
    from ganforge.cli import main
    from ganforge.losses import LOSSES
    from ganforge.models.families import FAMILIES

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())   # argparse wraps its lines
    for name in [*FAMILIES, *LOSSES]:
        assert f"{name} (" in text or f"{name}," in text or f"{name};" in text, name
