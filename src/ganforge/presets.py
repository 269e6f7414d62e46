"""The classic programs, one name each: only what differs from the config's defaults (``ganforge presets``)."""

from __future__ import annotations

# Each classic program as one name: only what differs from the defaults of ganforge.config.
PRESETS: dict[str, dict] = {
    "fast": {
        "_doc": "the default: the best samples per CPU minute found (DCGAN, fast Adam, an EMA generator)",
        # chosen by benchmarks/time_to_quality.py --grid (Fashion-MNIST at 28 px, 5 and 10 CPU minutes, 3 seeds a
        # cell); checked on the digits at 32 px and a 64 px folder (README, "Quality per CPU minute"). The grid's
        # best rates (2e-3 / 8e-4) failed the digits check (FD-digits 38 against 10.7 in 10 minutes: D memorises
        # the 1,797 images); these, the grid's second, held there.
        "data": {"name": "digits", "resolution": 32},
        "model": {"arch": "dcgan", "ngf": 32, "ndf": 32, "z_dim": 64},
        "optim": {"lr_g": 1e-3, "lr_d": 4e-4},
        "train": {"batch_size": 64, "steps": 1000, "ema_kimg": 5.0, "ema_rampup": 0.05, "sample_every": 100,
                  "ckpt_every": 500, "log_every": 10},
    },
    "quick": {
        "_doc": "the demo: DCGAN on the offline digits, recognizable samples in about 40 CPU seconds",
        "data": {"name": "digits", "resolution": 32},
        "model": {"arch": "dcgan", "ngf": 32, "ndf": 32, "z_dim": 64},
        "optim": {"lr_g": 5e-4, "lr_d": 2e-4},
        "train": {"batch_size": 64, "steps": 1000, "sample_every": 100, "ckpt_every": 500, "log_every": 10},
    },
    "tfjs-mnist-mlp": {
        "_doc": "the browser MNIST GAN: leaky-ReLU MLPs, sigmoid cross-entropy on logits, one Adam each",
        "data": {"name": "mnist", "resolution": 28},
        "model": {"arch": "mlp", "hidden": 256, "z_dim": 100, "dropout": 0.3},
        "train": {"batch_size": 64, "steps": None, "epochs": 20, "sample_every": 500, "ckpt_every": 2000},
    },
    "dcgan-tf-mnist": {
        "_doc": "TensorFlow DCGAN, MNIST path: label-conditioned, uniform z, G updated twice per D step",
        "data": {"name": "mnist", "resolution": 28},
        "model": {"arch": "cdcgan", "z_dim": 100, "z_dist": "uniform", "ngf": 64, "ndf": 64, "hidden": 1024},
        "train": {"batch_size": 64, "steps": None, "epochs": 25, "g_steps": 2, "sample_every": 100,
                  "ckpt_every": 500},
    },
    "dcgan-tf-faces": {
        "_doc": "TensorFlow DCGAN on a face folder: centre crop 108 -> 64, uniform z, two G steps",
        "data": {"name": "folder", "resolution": 64, "crop": 108},
        "model": {"arch": "dcgan", "z_dim": 100, "z_dist": "uniform", "ngf": 64, "ndf": 64},
        "train": {"batch_size": 64, "steps": None, "epochs": 25, "g_steps": 2, "sample_every": 100,
                  "ckpt_every": 500},
    },
    "keras-cifar10": {
        # The program's "epoch" is 390 steps of half a batch of real images (half the data); ganforge's
        # epoch is a full pass, so its 200 epochs / check every 10 are 100 / 5 here (same step count).
        "_doc": "Keras CIFAR-10 GAN: half-batch real and fake D updates, D accuracy every 10 (half) epochs",
        "data": {"name": "cifar10", "resolution": 32},
        "model": {"arch": "keras-cifar", "z_dim": 100, "dropout": 0.4},
        "train": {"batch_size": 128, "steps": None, "epochs": 100, "d_update": "separate",
                  "eval_every_epochs": 5, "sample_every": 1000, "ckpt_every": 2000},
    },
    "dcgan-pytorch-64": {
        "_doc": "PyTorch DCGAN at 64x64: ngf=ndf=64, nz=100, batch 64, Adam 2e-4 / 0.5, 25 epochs",
        "data": {"name": "cifar10", "resolution": 64},
        "model": {"arch": "dcgan", "z_dim": 100, "ngf": 64, "ndf": 64},
        "train": {"batch_size": 64, "steps": None, "epochs": 25, "sample_every": 500, "ckpt_every": 2000},
    },
}
