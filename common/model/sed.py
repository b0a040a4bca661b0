"""Sound event detection model: frontend, timm CNN backbone and an attention (SED) head.

``BirdModel`` takes raw waveforms ``(batch, samples)``, turns them into spectrograms with the
shared ``Frontend``, runs a timm backbone to a feature map ``(batch, channels, freq', time')``
and pools it with ``SEDHead`` into clip logits (one score per class for the window) and frame
logits (one score per class per backbone time step). This is the PANNs layout used by most top
BirdCLEF solutions.

Entry points: ``ModelConfig`` (saved in every checkpoint), ``build_model`` and
``param_groups_lrd`` (optimizer groups with layer-wise learning-rate decay).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import timm
import torch
import torch.nn as nn
from timm.models import group_parameters, load_state_dict

from common.core.config import dataclass_from_dict, param
from common.model.band_stats import BandStats
from common.model.frontend import Frontend, FrontendConfig

log = logging.getLogger(__name__)

__all__ = [
    "ModelConfig",
    "GeM",
    "SEDHead",
    "BirdModel",
    "build_model",
    "PretrainedWeightsUnavailable",
    "create_backbone",
    "check_weights_file",
    "backbone_stage_groups",
    "param_groups_lrd",
]


@dataclass(frozen=True)
class ModelConfig:
    """Backbone and head settings; saved as JSON inside every checkpoint."""

    backbone: str = param(
        "tf_efficientnet_b0.ns_jft_in1k", "timm model name; its tag (after the dot) names the "
        "pretrained weights timm fetches")
    pretrained: bool = param(
        True, "start the backbone from pretrained weights: pretrained_file when set, else "
        "timm's Hugging Face hub download (or its local HF cache); off = random init")
    pretrained_file: str = param(
        "", "local weights file for the backbone (.safetensors/.pth/.bin), e.g. in an attached "
        "Kaggle dataset or model under /kaggle/input; '' = the hub. Used only when pretrained")
    in_chans: int = param(1, "spectrogram channels; a 3-channel pretrained stem is summed to 1")
    band_stats: bool = param(
        False, "add a linear path from per-mel-band mean/std/max of the spectrogram to the "
        "logits (common.model.band_stats), trained with the CNN")
    drop_rate: float = param(0.25, "dropout in the SED head, before and after the projection")
    drop_path_rate: float = param(0.2, "stochastic depth inside the backbone")
    head_hidden: int = param(512, "channels of the head projection between GeM and attention")
    head_kernel: int = param(3, "time kernel of the head projection (3 frames ~ 0.5 s of context)")
    gem_p: float = param(
        3.0, "initial GeM exponent over frequency (learned); 1 = mean, large = max")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of all fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Inverse of ``to_dict``. Missing fields take defaults; unknown fields are an error."""
        return dataclass_from_dict(cls, d)


class GeM(nn.Module):
    """Generalised mean pooling over one axis with a learnable exponent ``p``.

    ``(mean(clamp(x, eps)^p))^(1/p)``: p=1 is average pooling, p -> inf is max pooling. Over
    frequency this lets a narrow-band call dominate without discarding the rest of the band.
    """

    def __init__(self, p: float = 3.0, dim: int = 2, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(p)))
        self.dim = dim
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # float32: eps**p underflows in fp16. The clamp keeps the fractional power defined for
        # the negative values SiLU/GELU backbones produce (those are pooled as ~0).
        x = x.float().clamp(min=self.eps)
        return x.pow(self.p).mean(dim=self.dim).pow(1.0 / self.p)

    def extra_repr(self) -> str:
        return f"p={self.p.item():.3f}, dim={self.dim}"


class SEDHead(nn.Module):
    """Attention pooling head: feature map -> clip and frame logits.

    Steps: GeM over frequency ``(B, C, F', T') -> (B, C, T')``; dropout; a conv over time
    ``C -> hidden`` with SiLU; dropout; two 1x1 convs give per-frame attention scores and
    per-frame class logits. Clip logits are ``sum_t softmax_t(tanh(att)) * cla`` (PANNs /
    BirdCLEF ``AttBlockV2``); the tanh bounds how peaked the attention can get, which keeps a
    few loud frames from taking all the gradient early in training.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        hidden: int = 512,
        kernel_size: int = 3,
        drop_rate: float = 0.25,
        gem_p: float = 3.0,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.freq_pool = GeM(p=gem_p, dim=2)
        self.drop = nn.Dropout(drop_rate)
        self.proj = nn.Conv1d(in_channels, hidden, kernel_size, padding=kernel_size // 2)
        self.act = nn.SiLU()
        self.att = nn.Conv1d(hidden, num_classes, 1)
        self.cla = nn.Conv1d(hidden, num_classes, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Args: x ``(B, C, F', T')``. Returns ``clip_logits`` ``(B, K)``, ``frame_logits``
        ``(B, T', K)``."""
        x = self.freq_pool(x)  # (B, C, T')
        x = self.drop(x)
        x = self.drop(self.act(self.proj(x)))  # (B, hidden, T')
        att = torch.softmax(torch.tanh(self.att(x)), dim=-1)  # (B, K, T'), sums to 1 over time
        cla = self.cla(x)  # (B, K, T')
        clip = (att * cla).sum(dim=-1)
        return {"clip_logits": clip, "frame_logits": cla.transpose(1, 2)}


class BirdModel(nn.Module):
    """Waveform -> spectrogram -> timm backbone -> SED head.

    ``forward(wave)`` for training and inference; ``forward_spec`` when spectrograms are already
    at hand; ``forward_features`` for the backbone feature map (embeddings).
    """

    def __init__(self, frontend: Frontend, backbone: nn.Module, head: SEDHead,
                 band_stats: BandStats | None = None) -> None:
        super().__init__()
        self.frontend = frontend
        self.backbone = backbone
        self.head = head
        self.band_stats = band_stats

    def forward_features(self, spec: torch.Tensor) -> torch.Tensor:
        """Args: spec ``(B, in_chans, n_mels, frames)``. Returns ``(B, C, F', T')``."""
        return self.backbone.forward_features(spec)

    def forward_spec(self, spec: torch.Tensor) -> dict[str, torch.Tensor]:
        """Args: spec ``(B, in_chans, n_mels, frames)``. Returns the head's dict (with the
        band-statistics logits added to clip and frame logits when the model has that path)."""
        out = self.head(self.forward_features(spec))
        if self.band_stats is not None:
            band = self.band_stats(spec).to(out["clip_logits"].dtype)
            out = {"clip_logits": out["clip_logits"] + band,
                   "frame_logits": out["frame_logits"] + band[:, None, :]}
        return out

    def forward(
        self, wave: torch.Tensor, spec_augment: nn.Module | None = None
    ) -> dict[str, torch.Tensor]:
        """Args:
            wave: ``(B, samples)`` float waveform.
            spec_augment: applied to the ``(B, 1, n_mels, frames)`` spectrogram when given
                (training only; inference passes nothing, so the pipelines stay identical).

        Returns:
            ``clip_logits`` ``(B, num_classes)`` and ``frame_logits`` ``(B, T', num_classes)``.
        """
        spec = self.frontend(wave)
        if spec_augment is not None:
            spec = spec_augment(spec)
        return self.forward_spec(spec)


class PretrainedWeightsUnavailable(RuntimeError):
    """``ModelConfig.pretrained`` is on and neither a local file nor the hub gave the weights."""


def _fix_hint(cfg: ModelConfig) -> str:
    return (f"set model.pretrained_file=<path to {cfg.backbone} weights> (e.g. an attached Kaggle "
            "dataset or model under /kaggle/input: model_sources/dataset_sources of the push), "
            "or turn on the notebook's internet so timm can download them, or turn "
            "model.pretrained off (random init)")


def create_backbone(cfg: ModelConfig) -> nn.Module:
    """timm backbone with no classifier and no pooling, so it returns a feature map.

    With ``cfg.pretrained`` the weights come through timm's own loader
    (``timm.create_model(pretrained=True)``): from ``cfg.pretrained_file`` when set
    (``pretrained_cfg_overlay=dict(file=...)``), else from the Hugging Face hub id of the
    model's pretrained tag (a download into the HF cache, or the cache alone when
    ``HF_HUB_OFFLINE=1``). timm drops the ImageNet classifier and adapts the first conv to
    ``in_chans`` (for 1 channel: the RGB filters summed, ``adapt_input_conv``). A local file is
    also checked key by key, since timm loads non-strictly once it has dropped the classifier.

    Raises:
        FileNotFoundError: ``pretrained_file`` is set but is not a file.
        PretrainedWeightsUnavailable: no file and the hub (or its cache) has no weights for it.
        RuntimeError: the file's weights do not fit the backbone.
    """
    kwargs: dict[str, Any] = {"in_chans": cfg.in_chans, "num_classes": 0, "global_pool": "",
                              "drop_path_rate": cfg.drop_path_rate}
    if not cfg.pretrained:
        return timm.create_model(cfg.backbone, pretrained=False, **kwargs)
    if not timm.is_model(cfg.backbone):  # a typo is not a download failure
        raise ValueError(f"model.backbone {cfg.backbone!r} is not a timm model "
                         "(timm.list_models() lists them)")
    if cfg.pretrained_file:
        path = Path(cfg.pretrained_file)
        if not path.is_file():
            raise FileNotFoundError(f"model.pretrained_file {path} is not a file: "
                                    + _fix_hint(cfg))
        try:
            backbone = timm.create_model(cfg.backbone, pretrained=True,
                                         pretrained_cfg_overlay={"file": str(path)}, **kwargs)
        except RuntimeError as e:  # size mismatches (torch's load_state_dict)
            raise RuntimeError(f"pretrained weights {path} do not fit {cfg.backbone}: {e}") from e
        check_weights_file(backbone, path)
        log.info("backbone %s: pretrained weights from %s", cfg.backbone, path)
        return backbone
    try:
        backbone = timm.create_model(cfg.backbone, pretrained=True, **kwargs)
    # The hub client and its HTTP stack raise many types (offline cache miss, DNS failure,
    # HTTP 404, no weights published); every one means the same thing here.
    except Exception as e:
        raise PretrainedWeightsUnavailable(
            f"no pretrained weights for {cfg.backbone} (timm's hub download failed: "
            f"{type(e).__name__}: {e}); " + _fix_hint(cfg)) from e
    log.info("backbone %s: pretrained weights from %s", cfg.backbone,
             backbone.pretrained_cfg.get("hf_hub_id") or backbone.pretrained_cfg.get("url"))
    return backbone


def check_weights_file(backbone: nn.Module, path: str | Path) -> None:
    """Check that the weights file at ``path`` holds exactly the backbone's tensors.

    The ImageNet classifier (``pretrained_cfg["classifier"]``) may be in the file; any other
    missing or extra key (BatchNorm's ``num_batches_tracked`` counters aside) is an error naming
    a few of them (timm only logs them).
    """
    state_dict = load_state_dict(str(path), weights_only=True)
    classifiers = (getattr(backbone, "pretrained_cfg", {}) or {}).get("classifier") or ()
    dropped = {f"{name}.{part}" for name in ((classifiers,) if isinstance(classifiers, str)
                                             else classifiers) for part in ("weight", "bias")}
    have, want = set(state_dict) - dropped, set(backbone.state_dict())
    # BatchNorm's step counters change nothing the model computes; converted files lack them.
    missing = sorted(k for k in want - have if not k.endswith("num_batches_tracked"))
    extra = sorted(have - want)
    if missing or extra:
        raise RuntimeError(
            f"pretrained weights {path} do not match the backbone: {len(missing)} missing keys "
            f"{missing[:5]}, {len(extra)} unexpected keys {extra[:5]}; is it a file of the "
            "same timm model as model.backbone?")


def build_model(
    model_cfg: ModelConfig, frontend_cfg: FrontendConfig, num_classes: int
) -> BirdModel:
    """Build a ``BirdModel`` from configs alone (how checkpoints are rebuilt)."""
    backbone = create_backbone(model_cfg)
    head = SEDHead(
        backbone.num_features,
        num_classes,
        hidden=model_cfg.head_hidden,
        kernel_size=model_cfg.head_kernel,
        drop_rate=model_cfg.drop_rate,
        gem_p=model_cfg.gem_p,
    )
    band = (BandStats(frontend_cfg.n_mels, num_classes, model_cfg.drop_rate)
            if model_cfg.band_stats else None)
    return BirdModel(Frontend(frontend_cfg), backbone, head, band)


def backbone_stage_groups(backbone: nn.Module) -> list[list[str]]:
    """Backbone parameter names grouped by depth: ``[stem, stage 1, ..., last stage]``.

    Uses timm's coarse ``group_matcher`` (stem, then one group per stage: ``blocks.i`` for
    EfficientNet, ``layerN`` for ResNet, ``sN`` for RegNet, ``stages.i`` for NFNet/ConvNeXt).
    Parameters the matcher does not name (necks, final convs) fall into the last group.
    """
    if not hasattr(backbone, "group_matcher"):
        raise TypeError(f"{type(backbone).__name__} has no timm group_matcher()")
    groups = group_parameters(backbone, backbone.group_matcher(coarse=True))
    return [groups[i] for i in sorted(groups)]


def param_groups_lrd(
    model: BirdModel, base_lr: float, weight_decay: float, layer_decay: float
) -> list[dict[str, Any]]:
    """Optimizer parameter groups with layer-wise learning-rate decay.

    The head trains at ``base_lr``, the last backbone stage at ``base_lr * layer_decay``, the
    one before at ``base_lr * layer_decay**2``, down to the stem with the smallest rate: early
    pretrained filters need the least change. 1-d parameters (norm scales, biases, GeM ``p``)
    get no weight decay.

    timm's ``param_groups_layer_decay`` is not used: it groups per block (17 levels on
    EfficientNet-B0, so the stem would get ``0.75**16 = 1%`` of the rate), does not know about
    our head, and sets ``lr_scale``, which timm schedulers multiply on top of the group ``lr``.

    Returns:
        Groups ordered stem -> head, each ``{"name", "params", "lr", "weight_decay"}``; pass them
        to any ``torch.optim`` optimizer. Torch schedulers scale each group's own initial lr,
        so the ratios survive scheduling.
    """
    stages = backbone_stage_groups(model.backbone)
    depth = {f"backbone.{n}": i for i, names in enumerate(stages) for n in names}
    head_level = len(stages)
    buckets: dict[tuple[int, bool], list[nn.Parameter]] = {}
    for name, weight in model.named_parameters():
        if not weight.requires_grad:
            continue
        level = depth.get(name, head_level)  # head (and anything outside the backbone)
        decay = weight.ndim > 1
        buckets.setdefault((level, decay), []).append(weight)
    groups = []
    for level, decay in sorted(buckets):
        scale = layer_decay ** (head_level - level)
        label = "head" if level == head_level else ("stem" if level == 0 else f"stage{level}")
        groups.append(
            {
                "name": f"{label}_{'decay' if decay else 'no_decay'}",
                "params": buckets[(level, decay)],
                "lr": base_lr * scale,
                "weight_decay": weight_decay if decay else 0.0,
            }
        )
    return groups
