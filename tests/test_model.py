"""Tests for common.model.sed: shapes, SED head arithmetic, pretrained weights through timm (a
local file, offline; the error when neither a file nor the hub serves them), layer-wise LR
decay."""

import json

import pytest
import timm
import torch
import torch.nn as nn

from common.model.band_stats import band_statistics
from common.model.frontend import FrontendConfig
from common.model.sed import (
    BirdModel,
    GeM,
    ModelConfig,
    PretrainedWeightsUnavailable,
    SEDHead,
    backbone_stage_groups,
    build_model,
    param_groups_lrd,
)

NUM_CLASSES = 5
TINY = ModelConfig(backbone="test_efficientnet", head_hidden=16, drop_path_rate=0.0,
                   pretrained=False)
FRONT = FrontendConfig(clip_seconds=1.0, n_mels=64)  # (1, 64, 63) spectrograms


def tiny_model(model_cfg: ModelConfig = TINY) -> BirdModel:
    torch.manual_seed(0)
    return build_model(model_cfg, FRONT, NUM_CLASSES).eval()


def test_forward_shapes():
    model = tiny_model()
    wave = torch.randn(3, FRONT.clip_samples)
    feats = model.forward_features(model.frontend(wave))
    out = model(wave)
    assert feats.ndim == 4 and feats.shape[:2] == (3, model.backbone.num_features)
    assert out["clip_logits"].shape == (3, NUM_CLASSES)
    assert out["frame_logits"].shape == (3, feats.shape[-1], NUM_CLASSES)


def test_forward_is_forward_spec_of_frontend():
    model = tiny_model()
    wave = torch.randn(2, FRONT.clip_samples)
    with torch.no_grad():
        a = model(wave)
        b = model.forward_spec(model.frontend(wave))
    assert torch.equal(a["clip_logits"], b["clip_logits"])
    assert torch.equal(a["frame_logits"], b["frame_logits"])


def test_spec_augment_hook_only_applies_when_given():
    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.shapes = []

        def forward(self, spec):
            self.shapes.append(tuple(spec.shape))
            return torch.zeros_like(spec)

    model = tiny_model()
    wave = torch.randn(2, FRONT.clip_samples)
    aug = Recorder()
    with torch.no_grad():
        plain = model(wave)["clip_logits"]
        augmented = model(wave, spec_augment=aug)["clip_logits"]
        blank = model.forward_spec(torch.zeros(2, 1, 64, 63))["clip_logits"]
    assert aug.shapes == [(2, 1, 64, 63)]  # called once, on the spectrogram
    assert torch.equal(augmented, blank)
    assert not torch.allclose(plain, augmented)


def test_band_statistics_are_per_band_mean_std_max():
    spec = torch.randn(3, 1, 4, 10)
    stats = band_statistics(spec)
    assert stats.shape == (3, 12)
    torch.testing.assert_close(stats[:, :4], spec[:, 0].mean(-1))
    torch.testing.assert_close(stats[:, 4:8], spec[:, 0].std(-1))
    torch.testing.assert_close(stats[:, 8:], spec[:, 0].amax(-1))


def test_band_stats_path_adds_its_logits_to_the_head():
    import dataclasses

    model = tiny_model(dataclasses.replace(TINY, band_stats=True)).eval()
    assert tiny_model().band_stats is None
    spec = torch.randn(2, 1, FRONT.n_mels, 63)
    with torch.no_grad():
        out = model.forward_spec(spec)
        head = model.head(model.forward_features(spec))
        band = model.band_stats(spec)
    assert band.shape == (2, NUM_CLASSES) and band.abs().sum() > 0
    torch.testing.assert_close(out["clip_logits"], head["clip_logits"] + band)
    torch.testing.assert_close(out["frame_logits"], head["frame_logits"] + band[:, None])


def test_gem_limits():
    x = torch.rand(2, 4, 6, 5) + 0.1
    assert torch.allclose(GeM(p=1.0, dim=2)(x), x.mean(dim=2), atol=1e-6)
    assert torch.allclose(GeM(p=60.0, dim=2)(x), x.amax(dim=2), rtol=0.05)
    assert isinstance(GeM().p, nn.Parameter)


def test_sed_head_is_attention_weighted_average_of_frame_logits():
    torch.manual_seed(0)
    head = SEDHead(in_channels=8, num_classes=3, hidden=4, kernel_size=3, drop_rate=0.5).eval()
    x = torch.randn(2, 8, 4, 7)  # (B, C, F', T')
    out = head(x)
    # Recompute by hand from the head's layers.
    pooled = x.clamp(min=1e-6).pow(3.0).mean(dim=2).pow(1 / 3.0)
    h = torch.nn.functional.silu(head.proj(pooled))
    weights = torch.softmax(torch.tanh(head.att(h)), dim=-1)
    frame = head.cla(h)
    assert torch.allclose(out["frame_logits"], frame.transpose(1, 2), atol=1e-6)
    assert torch.allclose(out["clip_logits"], (weights * frame).sum(-1), atol=1e-6)
    # A convex combination over time lies between the frame minimum and maximum.
    assert (out["clip_logits"] <= frame.amax(-1) + 1e-6).all()
    assert (out["clip_logits"] >= frame.amin(-1) - 1e-6).all()


def test_head_dropout_only_in_training():
    model = tiny_model(ModelConfig(backbone="test_efficientnet", head_hidden=16, drop_rate=0.5,
                                   pretrained=False))
    wave = torch.randn(2, FRONT.clip_samples)
    with torch.no_grad():
        assert torch.equal(model(wave)["clip_logits"], model(wave)["clip_logits"])
        model.train()
        torch.manual_seed(1)
        a = model(wave)["clip_logits"]
        b = model(wave)["clip_logits"]
    assert not torch.equal(a, b)


def test_default_config_builds_offline_with_313_frames():
    model = build_model(ModelConfig(pretrained=False), FrontendConfig(), num_classes=234).eval()
    assert model.backbone.default_cfg["architecture"] == "tf_efficientnet_b0"
    assert model.backbone.conv_stem.in_channels == 1
    with torch.no_grad():
        out = model(torch.randn(1, 160000))
    assert out["clip_logits"].shape == (1, 234)
    assert out["frame_logits"].shape == (1, 10, 234)  # 313 frames / stride 32


def test_model_config_round_trip():
    cfg = ModelConfig(backbone="test_resnet", head_hidden=64, gem_p=2.5)
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="unknown ModelConfig fields"):
        ModelConfig.from_dict({"backbone_name": "x"})


@pytest.fixture
def no_download(monkeypatch):
    """timm's hub and URL loaders raise: a test that reaches them would have fetched."""
    import timm.models._builder as builder

    def refuse(*args, **kwargs):
        raise OSError("download attempted")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(builder, "load_state_dict_from_hf", refuse)
    monkeypatch.setattr(builder, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(builder, "download_cached_file", refuse)


def write_weights(path, backbone="test_efficientnet", extra=None):
    """A timm model's RGB ImageNet-shaped weights with random values, as a weights file."""
    torch.manual_seed(123)
    source = timm.create_model(backbone, pretrained=False, num_classes=10)
    state = {**source.state_dict(), **(extra or {})}
    torch.save(state, path)
    return source


def test_default_recipe_starts_from_pretrained_weights():
    assert ModelConfig().pretrained and ModelConfig().pretrained_file == ""


def test_pretrained_file_loads_weights_offline_and_sums_rgb_stem(tmp_path, no_download):
    path = tmp_path / "weights.pth"
    source = write_weights(path)
    cfg = ModelConfig(backbone="test_efficientnet", pretrained_file=str(path))
    assert cfg.pretrained
    model = build_model(cfg, FRONT, NUM_CLASSES)
    stem = model.backbone.conv_stem.weight
    assert stem.shape[1] == 1  # timm's adapt_input_conv: RGB filters summed to one channel
    assert torch.allclose(stem, source.conv_stem.weight.sum(dim=1, keepdim=True))
    target = model.backbone.state_dict()
    for key, value in source.state_dict().items():
        if key.startswith("classifier") or key == "conv_stem.weight":
            continue
        assert torch.equal(target[key], value), key
    # Not a random init: the same config with pretrained off gives other weights.
    scratch = build_model(ModelConfig(backbone="test_efficientnet", pretrained=False), FRONT,
                          NUM_CLASSES)
    key = "blocks.1.0.conv_exp.weight"
    assert not torch.equal(scratch.backbone.state_dict()[key], target[key])


def test_pretrained_file_is_ignored_when_pretrained_is_off(tmp_path, no_download):
    cfg = ModelConfig(backbone="test_efficientnet", pretrained=False,
                      pretrained_file=str(tmp_path / "absent.pth"))
    build_model(cfg, FRONT, NUM_CLASSES)  # neither the file nor the hub is touched


def test_pretrained_file_mismatch_is_an_error(tmp_path, no_download):
    path = tmp_path / "resnet.pth"
    write_weights(path, backbone="test_resnet")
    cfg = ModelConfig(backbone="test_efficientnet", pretrained_file=str(path))
    with pytest.raises(RuntimeError, match="resnet.pth"):
        build_model(cfg, FRONT, NUM_CLASSES)
    # Same shapes but a stray tensor: timm loads non-strictly and only logs it; we refuse.
    extra = tmp_path / "extra.pth"
    write_weights(extra, extra={"neck.weight": torch.zeros(3)})
    with pytest.raises(RuntimeError, match=r"1 unexpected keys \['neck.weight'\]"):
        build_model(ModelConfig(backbone="test_efficientnet", pretrained_file=str(extra)),
                    FRONT, NUM_CLASSES)
    missing = ModelConfig(backbone="test_efficientnet", pretrained_file=str(tmp_path / "no.pth"))
    with pytest.raises(FileNotFoundError, match="no.pth.*model.pretrained off"):
        build_model(missing, FRONT, NUM_CLASSES)


def test_pretrained_from_the_hf_cache_offline(tmp_path, monkeypatch):
    """The hub route with the hub forced offline: timm finds the weights in the HF cache (where
    an online session downloaded them, or an attached dataset of a cache)."""
    import huggingface_hub.constants as hf
    from safetensors.torch import save_file

    revision = "0" * 40
    repo = tmp_path / "hub" / "models--timm--test_efficientnet.r160_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    (repo / "snapshots" / revision).mkdir(parents=True)
    source = write_weights(tmp_path / "unused.pth")
    save_file(source.state_dict(), repo / "snapshots" / revision / "model.safetensors")
    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path / "hub"))

    model = build_model(ModelConfig(backbone="test_efficientnet"), FRONT, NUM_CLASSES)
    key = "blocks.1.0.conv_exp.weight"
    assert torch.equal(model.backbone.state_dict()[key], source.state_dict()[key])
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(PretrainedWeightsUnavailable, match="model.pretrained_file="):
        build_model(ModelConfig(backbone="test_efficientnet"), FRONT, NUM_CLASSES)


def test_pretrained_without_file_or_hub_says_how_to_fix(no_download):
    cfg = ModelConfig(backbone="test_efficientnet")
    with pytest.raises(PretrainedWeightsUnavailable) as err:
        build_model(cfg, FRONT, NUM_CLASSES)
    message = str(err.value)
    assert "download attempted" in message  # timm went to the hub, and nowhere else
    for fix in ("model.pretrained_file=", "model_sources", "internet", "model.pretrained off"):
        assert fix in message
    with pytest.raises(ValueError, match="not a timm model"):
        build_model(ModelConfig(backbone="test_efficientnet_typo"), FRONT, NUM_CLASSES)


@pytest.mark.parametrize(
    ("backbone", "num_stages"),
    [("test_efficientnet", 5), ("test_resnet", 4), ("regnety_002", 4), ("test_nfnet", 4)],
)
def test_param_groups_lrd(backbone, num_stages):
    model = tiny_model(ModelConfig(backbone=backbone, head_hidden=16, pretrained=False))
    stem_names = backbone_stage_groups(model.backbone)[0]
    frozen = model.backbone.get_parameter(stem_names[-1])  # e.g. a stem norm bias
    frozen.requires_grad_(False)
    base_lr, decay = 1e-3, 0.5
    groups = param_groups_lrd(model, base_lr=base_lr, weight_decay=0.01, layer_decay=decay)

    # Every trainable parameter in exactly one group, frozen ones in none.
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters() if p.requires_grad}
    assert id(frozen) not in ids

    # Stem, stages, head: rates rise monotonically from stem to head.
    assert len(backbone_stage_groups(model.backbone)) == num_stages + 1
    lrs = [g["lr"] for g in groups]
    assert lrs == sorted(lrs)
    levels = sorted(set(lrs))
    assert len(levels) == num_stages + 2
    assert levels[-1] == pytest.approx(base_lr)
    assert levels[-2] == pytest.approx(base_lr * decay)
    assert levels[0] == pytest.approx(base_lr * decay ** (num_stages + 1))

    by_param = {id(p): g for g in groups for p in g["params"]}
    assert by_param[id(model.head.att.weight)]["lr"] == pytest.approx(base_lr)
    first_conv = model.backbone.get_submodule(model.backbone.pretrained_cfg["first_conv"])
    assert by_param[id(first_conv.weight)]["lr"] == levels[0]
    # No weight decay on norms, biases and GeM p; decay on conv and linear weights.
    for p in model.parameters():
        if p.requires_grad:
            expected = 0.0 if p.ndim <= 1 else 0.01
            assert by_param[id(p)]["weight_decay"] == expected

    torch.optim.AdamW(groups)  # accepted as-is by a torch optimizer


def test_cuda_fp16_autocast_forward():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    model = tiny_model().cuda()
    wave = torch.randn(2, FRONT.clip_samples, device="cuda")
    with torch.no_grad():
        ref = model(wave)["clip_logits"]
        with torch.autocast("cuda", dtype=torch.float16):
            out = model(wave)["clip_logits"]
    assert torch.isfinite(out).all()
    assert torch.allclose(out.float(), ref, rtol=1e-2, atol=1e-2 * ref.abs().max().item())
