"""The DiffWave denoiser written out plainly from its parameters: the reference that the
network's autograd path (tests/test_nn.py) and its fused inference path
(tests/test_speed_paths.py) are both checked against."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from wavediff.nn.conditioners import LEAKY_RELU_SLOPE


def reference_forward(net, x, logsnr, mel=None, labels=None):
    """The architecture computed the obvious way, layer by layer, from the parameters:
    ConvTranspose2d upsampling, conv1d with "same" padding, tanh * sigmoid gate."""
    emb = net.noise_embedding(logsnr)
    if labels is not None:
        emb = emb + net.class_embedding.embedding.weight[labels]
    feats = None
    if mel is not None:
        up = ((mel - net.config.mel_offset) / net.config.mel_scale).unsqueeze(1)
        for stage in net.mel_upsampler.stages:
            f, n = stage.factor, up.shape[-1]
            up = F.leaky_relu(stage.conv(up)[..., f // 2: f // 2 + n * f], LEAKY_RELU_SLOPE)
        up = up.squeeze(1)
        length = x.shape[-1]
        feats = up[..., :length] if up.shape[-1] >= length else F.pad(up, (0, length - up.shape[-1]), mode="replicate")
    h = F.relu(F.conv1d(x, net.input_proj.weight, net.input_proj.bias))
    skips = 0
    for layer in net.layers:
        conv = layer.dilated_conv
        k, d = conv.kernel_size[0], conv.dilation[0]
        total = (k - 1) * d
        e = F.linear(emb, layer.embedding_proj.weight, layer.embedding_proj.bias)
        y = F.conv1d(F.pad(h + e[..., None], (total // 2, total - total // 2)), conv.weight, conv.bias, dilation=d)
        if feats is not None:
            y = y + F.conv1d(feats, layer.mel_proj.weight, layer.mel_proj.bias)
        c = h.shape[1]
        o = F.conv1d(torch.tanh(y[:, :c]) * torch.sigmoid(y[:, c:]), layer.output_proj.weight, layer.output_proj.bias)
        h = (h + o[:, :c]) / math.sqrt(2)
        skips = skips + o[:, c:]
    y = F.relu(F.conv1d(skips / math.sqrt(len(net.layers)), net.skip_proj.weight, net.skip_proj.bias))
    return F.conv1d(y, net.output_proj.weight, net.output_proj.bias)
