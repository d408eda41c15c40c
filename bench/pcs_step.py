#!/usr/bin/env python3
"""PyTorch replica of ONE adaptation iteration of protoseg's default method (pcs: self-training with
PCS prototypes on the decoder features), timed per iteration. Companion of `bench/method_step.mjs`
(default `--method pcs`), which times protoseg's own code path (src/adaptation/methods/pcs.ts) for the
same iteration; bench/method_step.py is the replica of the seed formulation (pcs-seed).

Replicated from src/ (adaptation/methods/pcs.ts, adaptation/{class_mix,ema_teacher,pseudo_label,
regions,memory_bank}.ts, data/transforms/photometric.ts, losses/, train/train_step.ts, optimizer.ts):
- model: method_step.py's scratch UNet (8-16-32-64-128, decoder 64-32-16-8, 19 logits, projection
  head + cosine classifier on the stride-8 skip), with protoseg's per-domain BN: every BN layer keeps
  source and target moving statistics and shared affine parameters (adapt.domainStatistics);
- teacher: a copy of the student, eval mode, target statistics, no grad: softmax, arg-max class and
  confidence per pixel (read back), image weight = share of pixels with confidence >= 0.9; regions =
  pixels with confidence >= the region threshold; its decoder features pooled into stride-4 cells give
  the target bank's instances;
- ClassMix: target image b takes half (rounded up) of the classes present in labelled image b mod 4,
  pasted with their ground truth and weight 1;
- photometric augmentation of the mixed target images (torch ops on the batch, as DAFormer does it):
  per image, colour jitter with p 0.8 (brightness 0.4, contrast 0.4 around the mean luma, saturation
  0.4 and a hue rotation of up to 0.1 turns, both in YIQ), grey with p 0.2, Gaussian blur with p 0.5
  (sigma 0.2-1.2, separable, edges clamped), noise 0.03 with p 0.5, clip to [0, 1];
- one optimisation step: the labelled batch (source statistics, full forward): pixel CE + cell cosine CE
  + cross-domain entropy of its ground-truth decoder-feature instances against the target centroids;
  the mixed batch (target statistics, decoder only): confidence-weighted pseudo-label CE (sum of
  weighted NLL / valid pixels) + protoNce (target clusters, k 19 and 38) + cross-domain entropy
  (source centroids) of the student's instances over the teacher's confident, non-pasted pixels;
  loss terms read back, gradient-norm finiteness check, Adam as method_step.py;
- after the step: EMA update of every teacher parameter and BN statistic (momentum 0.99; one in-place
  update per tensor, as DAFormer's loop), then the target bank takes the teacher's instances and the
  source bank the labelled images' ones (method_step.py's Bank).
Centroids, concentrations and slot assignments are random fixed arrays (k-means runs at epoch starts,
not in the step); banks have 10 labelled source / 300 target images x 19 classes x 8 dims (the decoder
features). Inputs are fixed blocky images (a colour per 16x16 block plus noise) and labels (no data
loading on either side). Prints one JSON line like method_step.py.
Run with Debian's python3 (python3-torch): /usr/bin/python3 bench/pcs_step.py --threads 2"""
import copy
import json
import math
import resource
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import method_step
from method_step import CLASSES, IGNORE, Bank, cross_domain_entropy, downsample_labels, instances, l2n, proto_nce
from native_unet import run_unet

REGION_STRIDE = 4
LUMA = torch.tensor([0.299, 0.587, 0.114])
# RGB -> YIQ and back (protoseg's photometric.ts coefficients).
TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
FROM_YIQ = torch.tensor([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]])


class DomainBatchNorm(nn.Module):
    """BatchNorm2d with one set of moving statistics per domain and shared affine parameters."""

    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        for domain in ('source', 'target'):
            self.register_buffer(f'mean_{domain}', torch.zeros(channels))
            self.register_buffer(f'var_{domain}', torch.ones(channels))
        self.domain = 'source'

    def forward(self, x):
        mean, var = getattr(self, f'mean_{self.domain}'), getattr(self, f'var_{self.domain}')
        return F.batch_norm(x, mean, var, self.weight, self.bias, self.training, 0.1, 1e-5)


class SegmentationModel(method_step.SegmentationModel):
    """method_step.py's model with per-domain BN, returning the decoder features too."""

    def __init__(self, widths, dim, temperature, projection_stride):
        super().__init__(widths, dim, temperature, projection_stride, norm=DomainBatchNorm)

    def set_domain(self, domain):
        for m in self.modules():
            if isinstance(m, DomainBatchNorm):
                m.domain = domain

    def forward(self, x, full=True):
        """Decoder logits and features; with full, also the cosine cell logits of the projection head."""
        features, skips = run_unet(self.stages, self.levels, x)
        logits = self.head(features)
        if not full:
            return logits, features, None
        emb = l2n(self.projection(skips[self.proj_level]), 1)
        b, d, h, w = emb.shape
        cell_logits = self.classify(emb.permute(0, 2, 3, 1).reshape(-1, d)).reshape(b, h, w, CLASSES)
        return logits, features, cell_logits


def cell_instances(features, regions, confidence):
    """Decoder features [B, C, H, W] over pixel regions [B, H, W] (numpy, 255 = none) pooled into
    REGION_STRIDE cells (mode pooling, purity 0.5; mean pixel confidence per cell), as pcs.ts."""
    cells = downsample_labels(regions, REGION_STRIDE)
    cell_conf = F.avg_pool2d(torch.from_numpy(confidence)[:, None], REGION_STRIDE)[:, 0].numpy()
    return instances(F.avg_pool2d(features, REGION_STRIDE), cells, cell_conf)


def class_mix(x_lab, y_lab, x_tgt, labels, weights, rng):
    """Half of each labelled image's classes pasted onto target image b (numpy labels, torch images)."""
    images, labels, weights = x_tgt.clone(), labels.copy(), weights.copy()
    pasted = np.zeros(labels.shape, bool)
    for b in range(x_tgt.shape[0]):
        s = b % x_lab.shape[0]
        present = np.unique(y_lab[s][y_lab[s] != IGNORE])
        chosen = rng.permutation(present)[:math.ceil(len(present) / 2)]
        mask = np.isin(y_lab[s], chosen)
        pasted[b] = mask
        labels[b][mask] = y_lab[s][mask]
        weights[b][mask] = 1
        m = torch.from_numpy(mask)
        images[b] = torch.where(m, x_lab[s], images[b])
    return images, labels, weights, pasted


def gaussian_blur(x, sigma):
    """Separable Gaussian blur of [3, H, W] with clamped edges."""
    radius = max(1, math.ceil(2 * sigma))
    k = torch.exp(-torch.arange(-radius, radius + 1, dtype=torch.float32) ** 2 / (2 * sigma * sigma))
    k = k / k.sum()
    x = F.pad(x[None], (radius, radius, 0, 0), mode='replicate')
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3)
    x = F.pad(x, (0, 0, radius, radius), mode='replicate')
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)[0]


def photometric(x, rng, scale=0.5, offset=0.5):
    """Strong photometric augmentation of a normalised [B, 3, H, W] batch (minus1to1 normalisation)."""
    rgb = x * scale + offset
    out = []
    for img in rgb:
        if rng.random() < 0.8:
            brightness, contrast, saturation = rng.uniform(0.6, 1.4, 3)
            angle = rng.uniform(-0.1, 0.1) * 2 * math.pi
            img = img * brightness
            mean_luma = (LUMA.view(3, 1, 1) * img).sum(0).mean()
            img = mean_luma + (img - mean_luma) * contrast
            c, s = math.cos(angle), math.sin(angle)
            chroma = torch.tensor([[1.0, 0, 0], [0, c * saturation, -s * saturation], [0, s * saturation, c * saturation]], dtype=torch.float32)
            img = torch.einsum('ij,jhw->ihw', FROM_YIQ @ chroma @ TO_YIQ, img)
        if rng.random() < 0.2:
            img = (LUMA.view(3, 1, 1) * img).sum(0, keepdim=True).expand(3, -1, -1)
        if rng.random() < 0.5:
            img = gaussian_blur(img, rng.uniform(0.2, 1.2))
        if rng.random() < 0.5:
            img = img + 0.03 * torch.randn(img.shape)
        out.append(img.clamp(0, 1))
    return (torch.stack(out) - offset) / scale


def main():
    p = method_step.common_arguments(3e-3)
    p.add_argument('--target-images', type=int, default=300)
    p.add_argument('--threshold', type=float, default=0.9)
    p.add_argument('--region-threshold', type=float, default=0.9)
    p.add_argument('--momentum', type=float, default=0.99)
    p.add_argument('--profile', action='store_true', help='after timing, profile one iteration (torch.profiler) and print its ops by self CPU time to stderr')
    a = p.parse_args()
    base_rss_mb, rng, widths = method_step.start(a)
    model = SegmentationModel(widths, a.dim, 0.05, 8)
    teacher = copy.deepcopy(model).eval()
    for t in teacher.parameters():
        t.requires_grad_(False)
    pairs = list(zip(list(teacher.parameters()) + list(teacher.buffers()), list(model.parameters()) + list(model.buffers())))
    updates = [0]
    opt, params, counts = method_step.optimiser(model, a.lr)
    dims = model.feature_channels
    B, H, W = a.batch, a.height, a.width

    def blocky(with_labels):
        # A class per 16x16 block, its image a colour per class plus noise: regions a model can find.
        coarse = rng.integers(0, CLASSES, (B, H // 16, W // 16))
        labels = coarse.repeat(16, 1).repeat(16, 2).astype(np.uint8)
        colours = rng.uniform(-1, 1, (CLASSES, 3)).astype(np.float32)
        images = torch.from_numpy(colours[labels].transpose(0, 3, 1, 2).copy()) + 0.1 * torch.randn(B, 3, H, W)
        return images, (labels if with_labels else None)

    x_lab, y_lab_np = blocky(True)
    x_tgt, _ = blocky(False)
    y_lab = torch.from_numpy(y_lab_np.astype(np.int64))
    labelled_idx = list(range(B))
    target_idx = list(range(B))
    source_bank = Bank(a.labelled_images, dims, range(a.labelled_images))
    target_bank = Bank(a.target_images, dims)
    model.set_domain('target')
    model.train()
    with torch.no_grad():
        model(x_tgt, full=False)  # target statistics exist (protoseg estimates them before adapting)
    teacher.load_state_dict(model.state_dict())

    def clusters(images):
        runs, slots = [], []
        for k in (int(k) for k in a.k_list.split(',')):
            runs.append((l2n(torch.randn(k, dims), 1), torch.from_numpy(rng.uniform(0.1, 0.3, k).astype(np.float32))))
            slots.append(rng.integers(0, k, images * CLASSES))
        return runs, slots

    src_runs, _ = clusters(a.labelled_images)
    tgt_runs, tgt_slots = clusters(a.target_images)

    def iteration():
        # Teacher pass: clean target images, target statistics.
        teacher.set_domain('target')
        with torch.no_grad():
            t_logits, t_features, _ = teacher(x_tgt, full=False)
            conf, lab = torch.softmax(t_logits, 1).max(1)
        conf, lab = conf.numpy(), lab.numpy().astype(np.uint8)
        share = (conf >= a.threshold).reshape(B, -1).mean(1).astype(np.float32)
        weights = np.broadcast_to(share[:, None, None], conf.shape).copy()
        regions = np.where(conf >= a.region_threshold, lab, IGNORE).astype(np.uint8)
        with torch.no_grad():
            z_bank, img_b, cls_b, conf_b = cell_instances(t_features, regions, conf)
        mixed, m_labels, m_weights, pasted = class_mix(x_lab, y_lab_np, x_tgt, lab, weights, rng)
        mixed = photometric(mixed, rng)
        student_regions = np.where(pasted | (conf < a.region_threshold), IGNORE, m_labels).astype(np.uint8)
        # Student: labelled batch with source statistics, mixed batch with target statistics.
        model.set_domain('source')
        logits, features, cell_logits = model(x_lab)
        terms = {'loss/src/pixelCrossEntropy': F.cross_entropy(logits, y_lab, ignore_index=IGNORE)}
        cells = downsample_labels(y_lab_np, 8)
        terms['loss/src/cosineCrossEntropy'] = F.cross_entropy(cell_logits.reshape(-1, CLASSES), torch.from_numpy(cells.reshape(-1)), ignore_index=IGNORE)
        z_s, img_s, cls_s, conf_s = cell_instances(features, y_lab_np, np.ones(y_lab_np.shape, np.float32))
        if len(img_s) > 0:
            terms['loss/src/crossDomainEntropy'] = 0.1 * cross_domain_entropy(z_s, [c for c, _ in tgt_runs])
        model.set_domain('target')
        m_logits, m_features, _ = model(mixed, full=False)
        model.set_domain('source')
        nll = F.cross_entropy(m_logits, torch.from_numpy(m_labels.astype(np.int64)), reduction='none')
        terms['loss/tgt/pseudoLabel'] = (nll * torch.from_numpy(m_weights)).sum() / nll.numel()
        z_t, img_t, cls_t, _ = cell_instances(m_features, student_regions, conf)
        if len(img_t) > 0:
            assign = [torch.from_numpy(np.array([s[target_idx[i] * CLASSES + c] for i, c in zip(img_t, cls_t)], np.int64)) for s in tgt_slots]
            terms['loss/tgt/protoNce'] = 0.1 * proto_nce(z_t, tgt_runs, assign)
            terms['loss/tgt/crossDomainEntropy'] = 0.1 * cross_domain_entropy(z_t, [c for c, _ in src_runs])
        opt.zero_grad(set_to_none=True)
        total = sum(terms.values())
        total.backward()
        values = {k: v.item() for k, v in terms.items()}
        grad_norm = sum((p.grad * p.grad).sum() for p in params if p.grad is not None).item()
        if not all(math.isfinite(v) for v in values.values()) or not math.isfinite(grad_norm):
            raise FloatingPointError(values)
        opt.step()
        # Teacher EMA (momentum warm-up as protoseg), then the banks.
        m = min(1 - 1 / (updates[0] + 1), a.momentum)
        with torch.no_grad():
            for t, s in pairs:
                t.mul_(m).add_(s, alpha=1 - m)
        updates[0] += 1
        target_bank.visit(target_idx, img_b, cls_b, conf_b, z_bank.numpy().copy())
        source_bank.visit(labelled_idx, img_s, cls_s, conf_s, z_s.detach().numpy().copy())
        return values

    times, init_terms, inst = [], None, []
    for i in range(a.warmup + a.steps):
        t = time.perf_counter()
        values = iteration()
        if i >= a.warmup:
            times.append(time.perf_counter() - t)
        if init_terms is None:
            init_terms = values
        inst.append([int(source_bank.written.sum()), int(target_bank.written.sum())])
    if a.profile:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            iteration()
        print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=25), file=sys.stderr)
    print(json.dumps({
        'secondsPerStep': statistics.median(times), 'times': times, 'peakRssMb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'baseRssMb': base_rss_mb, 'threads': torch.get_num_threads(), 'parameters': counts, 'initTerms': init_terms, 'instances': inst,
    }))


if __name__ == '__main__':
    main()
