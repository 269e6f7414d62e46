"""ganforge export --format web: one HTML file that draws, in headless Chromium opened from file:// with the
network cut, what `ganforge generate` draws, for every model family; bad runs write nothing."""

import base64
import json
import re

import pytest
import torch

from browser import chrome, console_errors, wait_for  # noqa: F401 (chrome is a fixture)
from ganforge.cli import main
from ganforge.generate import draw, load_generator
from ganforge.grid import to_uint8
from ganforge.models.families import FAMILIES
from ganforge.sampling import generate, seeded_z
from ganforge.webexport.program import OPS
from test_export import train_runs

# every family of the registry (grey 28 px and colour 32 px) and the 64 px DCGAN
ARCHS = {**{f"{arch}-{r}": ["--arch", arch, "--resolution", str(r), f"data.channels={c}"]
            for arch in FAMILIES for r, c in ((28, 1), (32, 3))},
         "dcgan-64": ["--arch", "dcgan", "--resolution", "64"]}
SEEDS = range(16)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return train_runs(tmp_path_factory, ARCHS)


def test_the_runtime_runs_every_op_the_program_can_write():
    from importlib import resources

    js = resources.files("ganforge.webexport").joinpath("runtime.js").read_text()
    assert set(re.findall(r'case "(\w+)":', js)) == set(OPS)


def open_offline(driver, path):
    driver.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
    driver.get(path.resolve().as_uri())
    wait_for(lambda: driver.execute_script("return window.pageReady || window.pageError"), 60, "the page to draw")
    assert driver.execute_script("return window.pageError || null") is None


def page_images(driver, n, seed, cls):
    """``n`` images (n, H, W, 4) the page draws for ``seed`` (and class)."""
    b64 = driver.execute_script(
        "const px = ganforge.drawImages(model, arguments[0], arguments[1], arguments[2]);"
        "let s = ''; for (let i = 0; i < px.length; i += 8192) s += String.fromCharCode.apply(null, px.subarray(i, i + 8192));"
        "return btoa(s);", n, seed, cls)
    return torch.frombuffer(bytearray(base64.b64decode(b64)), dtype=torch.uint8)


def assert_close(got_rgba, want):
    """``want``: uint8 (n, C, H, W) from ganforge; within 2/255 everywhere, identical on >= 99%."""
    n, c, h, w = want.shape
    got = got_rgba.view(n, h, w, 4)[..., :3].permute(0, 3, 1, 2).int()
    want = want.int().expand(n, 3, h, w) if c == 1 else want.int()
    diff = (got - want).abs()
    assert int(diff.max()) <= 2, int(diff.max())
    assert float((diff == 0).float().mean()) >= 0.99


@pytest.mark.parametrize("arch", list(ARCHS))
def test_the_page_draws_what_generate_draws(runs, tmp_path, chrome, arch):  # noqa: F811
    run = runs[arch]
    out = tmp_path / "g.html"
    assert main(["export", str(run), "--format", "web", "--out", str(out), "--ema"]) == 0
    gen = load_generator(run, ema=True)
    open_offline(chrome, out)
    k = gen.kwargs.get("num_classes", 0) if gen.conditional else 0
    for seed in SEEDS:                                   # one image per seed (and a class each, where conditional)
        cls = seed % k if k else None
        assert_close(page_images(chrome, 1, seed, cls), draw(gen, 1, seed, cls))
    assert_close(page_images(chrome, 16, 3, None), draw(gen, 16, 3))   # a grid: 16 latents of one seed
    assert console_errors(chrome) == []


def test_the_page_offline_shows_its_run_sliders_walk_and_command(runs, tmp_path, chrome):  # noqa: F811
    import shutil

    run = tmp_path / "00000-<img src=x onerror=window.pwned=1>"    # a hostile name is shown, not run
    shutil.copytree(runs["cdcgan-28"], run)
    out = tmp_path / "c.html"
    assert main(["export", str(run), "--format", "web", "--out", str(out)]) == 0
    gen = load_generator(run)
    html = out.read_text()
    assert not re.search(r"""(src|href)=["']?https?:""", html)     # nothing fetched from anywhere
    open_offline(chrome, out)
    text = chrome.find_element("tag name", "body").text
    assert run.name in text and "digits" in text and "step 2" in text
    assert f"ganforge generate {run} -n 64 --seed 0 --out samples" in text
    assert chrome.execute_script("return window.pwned === undefined && document.images.length === 0")
    assert chrome.execute_script("return document.getElementById('grid').width") > 0
    assert len(chrome.find_elements("css selector", "#class option")) == 11    # "all" and the 10 digits
    slider = chrome.find_element("id", "z0")
    chrome.execute_script("arguments[0].value = 2.5; arguments[0].dispatchEvent(new Event('input'))", slider)
    z = seeded_z(gen, 1, 0)
    z[0, 0] = 2.5                                       # the slider moved the first noise dimension
    assert chrome.execute_script("return window.lastOneZ")[0] == 2.5
    got = torch.tensor(chrome.execute_script("return Array.from(window.lastOne)"), dtype=torch.uint8)
    assert_close(got, to_uint8(generate(gen, z, torch.zeros(1, dtype=torch.long))))   # and the image redrew
    box = chrome.find_element("id", "seed")
    box.clear()
    box.send_keys("-4")
    chrome.execute_script("arguments[0].dispatchEvent(new Event('change'))", box)
    assert "whole number" in chrome.find_element("id", "seed-error").text         # beside its box
    box.clear()
    box.send_keys("5")
    chrome.execute_script("arguments[0].dispatchEvent(new Event('change'))", box)
    assert chrome.find_element("id", "seed-error").text == ""
    assert chrome.execute_script("return window.lastImages.seed") == 5           # and the page kept working
    chrome.find_element("id", "play").click()
    wait_for(lambda: chrome.execute_script("return document.getElementById('walk').width") > 0, 10, "a walk frame")
    assert console_errors(chrome) == []


def test_a_broken_run_is_one_line_and_writes_no_page(runs, tmp_path, capsys):
    empty = tmp_path / "runs" / "00000-empty"
    (empty / "checkpoints").mkdir(parents=True)
    (empty / "config.yaml").write_text((runs["dcgan-28"] / "config.yaml").read_text())
    out = tmp_path / "x.html"
    assert main(["export", str(empty), "--format", "web", "--out", str(out)]) != 0
    assert "checkpoint" in capsys.readouterr().err
    damaged = tmp_path / "damaged.safetensors"
    ckpt = sorted((runs["dcgan-28"] / "checkpoints").glob("*.safetensors"))[-1]
    damaged.write_bytes(ckpt.read_bytes()[:300])
    assert main(["export", str(damaged), "--format", "web", "--out", str(out)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and list(tmp_path.glob(".x.tmp*")) == []
    assert main(["export", str(runs["mlp-28"]), "--format", "web", "--uint8", "--out", str(out)]) != 0
    assert not out.exists()


def test_a_layer_the_page_cannot_run_is_named(runs, tmp_path, capsys, monkeypatch):
    import torch.nn as nn

    from ganforge.webexport import program

    gen = load_generator(runs["mlp-28"])
    gen.G.net[1] = nn.SiLU()
    with pytest.raises(Exception, match="cannot carry a SiLU layer"):
        program.build(gen.G, gen.arch)
    gen = load_generator(runs["mlp-28"])
    monkeypatch.setattr(type(gen.G), "forward", lambda self, z, y=None: torch.sin(self.net(z)).view(-1, *self.shape))
    with pytest.raises(Exception, match="cannot carry the operation sin"):
        program.build(gen.G, gen.arch)


def test_the_model_data_cannot_close_its_script(runs):
    from ganforge.webexport import model_json
    from ganforge.webexport.program import build

    gen = load_generator(runs["mlp-28"])
    text = model_json(build(gen.G, gen.arch), {"run_name": "</script><script>alert(1)</script>"})
    assert "</" not in text and json.loads(text)["meta"]["run_name"] == "</script><script>alert(1)</script>"


def test_the_page_names_the_generator_it_draws(runs, tmp_path):
    """A run with an EMA generator: the page of the trained G says --no-ema in its command, the default page
    says nothing (``ganforge generate`` draws the EMA generator by default)."""
    run = runs["dcgan-28"]
    for flags, command in (([], f'"{run}"'), (["--no-ema"], f'"{run} --no-ema"')):
        out = tmp_path / f"p{len(flags)}.html"
        assert main(["export", str(run), "--format", "web", "--out", str(out), *flags]) == 0
        assert f'"run_command": {command}' in out.read_text()


def sensitize(gen, seed=0):
    """Redraw G so that its images depend clearly on z, and give each BatchNorm running statistics where eps
    matters (variance about eps, the scale made up in the weight): trained for two steps, the tiny test
    generators barely depend on z and their variances are about 1, so an off-by-one noise seed or a wrong eps
    in the page passed every pixel check."""
    import torch.nn as nn

    G, g = gen.G, torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                w = m.weight
                fan_in = w[0].numel() if not isinstance(m, nn.ConvTranspose2d) else w.shape[0] * w[0, 0].numel() / 4
                w.copy_(torch.randn(w.shape, generator=g) * (1.5 / fan_in ** 0.5))
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.reset_running_stats()
                m.momentum = None                         # a plain average over the batches below
        G.train()
        k = gen.kwargs.get("num_classes", 0) if gen.conditional else 0
        for _ in range(4):
            z = torch.randn(128, gen.kwargs["z_dim"], generator=g)
            G(z, torch.arange(128) % k if k else None)
        G.eval()
        for m in G.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                s = m.eps / m.running_var.clamp_min(1e-12)  # variance down to about eps, weight up to match
                m.running_var.mul_(s)
                m.weight.mul_(s.sqrt())
    return gen


@pytest.mark.parametrize("arch", ["dcgan-28", "cdcgan-28", "lite-32", "clite-32"])
def test_page_parity_bites_on_z_and_batchnorm_eps(runs, tmp_path, chrome, arch):  # noqa: F811
    """With z-dependent generators and eps-sensitive BatchNorm: a noise seed off by one, or a wrong eps, in
    the page would move many pixels by far more than the 2 levels the page is allowed."""
    import copy

    import torch.nn as nn

    from ganforge.webexport import export_web

    gen = sensitize(load_generator(runs[arch], ema=False))
    k = gen.kwargs.get("num_classes", 0) if gen.conditional else 0
    a, b = draw(gen, 4, 0, 0 if k else None).float(), draw(gen, 4, 1, 0 if k else None).float()
    assert (a - b).abs().mean() > 8                        # the next seed's images: pixels move by far more than 2
    other = copy.deepcopy(gen)
    for m in other.G.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.eps *= 2
    assert (draw(other, 4, 0, 0 if k else None).float() - a).abs().mean() > 5   # eps matters
    out = tmp_path / "s.html"
    export_web(gen, out, runs[arch].name, "digits", str(runs[arch]))
    open_offline(chrome, out)
    for seed in range(6):
        cls = seed % k if k else None
        assert_close(page_images(chrome, 1, seed, cls), draw(gen, 1, seed, cls))
    assert_close(page_images(chrome, 8, 3, None), draw(gen, 8, 3))
    assert console_errors(chrome) == []
