#!/usr/bin/env python3
"""PyTorch replica of ONE adaptation iteration of protoseg's default config (method pcs, built-in
benchmark): a source step and a target step, each forward + backward + Adam, timed per iteration.
Companion of bench/method_step.mjs, which times protoseg's own code path for the same iteration.

Replicated from src/ (models/, adaptation/proto_adapter.ts, losses/, train/train_step.ts, optimizer.ts):
- model: scratch UNet encoder widths 8-16-32-64-128 (per stage: 2x2 maxpool if not first, then 2x
  [3x3 conv no bias, BN eps 1e-5 momentum 0.1, ReLU]), decoder 64-32-16-8 (bilinear half-pixel up to
  the skip, concat [up, skip], same ConvBlock), 1x1 conv + bias -> 19 logits at full resolution;
  projection head 1x1 conv + bias on the stride-8 skip -> D=64, L2-normalised; cosine classifier
  weight [19, 64], rows and inputs L2-normalised, logits = cos / 0.05. He-normal conv init,
  Xavier-normal head/classifier, as protoseg.
- source step: one forward of [4 labelled + 4 unlabelled source] images in training mode; pixel CE
  (labelled, ignore 255) + cell cosine CE (mode-pooled 8x8 cell labels, purity 0.5, ties ignored) +
  protoNce (2 runs k=19, 38, per-cluster concentration floored at 0.05) + cross-domain entropy
  (target centroids, tau 0.1) on the unlabelled images' instances (pseudo-labelled cells, >= 4 cells);
  instances of the labelled images (ground-truth cells) are computed for the bank only.
- target step: forward of 4 target images; 0.1 * max-squares (plain) + protoNce (target clusters) +
  cross-domain entropy (source centroids) + 0.05 * MIM diversity (running class marginal).
- each sub-step: loss terms read back, gradient-norm finiteness check (one more readback), Adam
  (betas 0.9/0.999, eps 1e-8, L2 weight decay 1e-4 added to the gradient, none on BN parameters),
  then the momentum update of the visited memory-bank slots (numpy, like protoseg's typed arrays).
Centroids, concentrations and slot -> cluster assignments (protoseg gets them from k-means at the
epoch start, which is not part of the step) are random fixed arrays of the right shapes; banks have
300 source / 300 target images x 19 classes x 64 dims. Inputs are random fixed tensors (no data
loading on either side). Differences from protoseg, none of which changes the work by more than a few
small ops: idiomatic PyTorch ops where protoseg composes tfjs ops (F.cross_entropy with ignore_index
instead of one-hot x logSoftmax; nn.BatchNorm2d instead of protoseg's batchNormTraining op; NCHW
unless --channels-last); torch's Adam puts eps after the bias correction (protoseg: before, TF-style);
PyTorch's own random init (same distributions, other values); instance -> cluster assignments are
looked up per (image, class) slot exactly as protoseg, but never hit protoseg's nearest-centroid
fallback. Prints one JSON line: {"secondsPerStep", "peakRssMb", "threads", ...}.
Run with Debian's python3 (python3-torch): /usr/bin/python3 bench/method_step.py --threads 2"""
import argparse
import json
import math
import resource
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from native_unet import run_unet  # the same encoder/decoder walk (bench/ is on sys.path)

CLASSES = 19
IGNORE = 255


def l2n(x, dim):
    # protoseg's l2Normalize: x / sqrt(sum(x^2) + 1e-12)
    return x / torch.sqrt((x * x).sum(dim, keepdim=True) + 1e-12)


def he_conv(cin, cout, k, bias=False, xavier=False):
    conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)
    fan_in, fan_out = k * k * cin, k * k * cout
    std = math.sqrt(2 / (fan_in + fan_out)) if xavier else math.sqrt(2 / fan_in)
    nn.init.normal_(conv.weight, 0, std)
    if bias:
        nn.init.zeros_(conv.bias)
    return conv


def batch_norm(channels):
    return nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1)


class ConvBlock(nn.Module):
    def __init__(self, cin, cout, norm=batch_norm):
        super().__init__()
        self.conv1, self.bn1 = he_conv(cin, cout, 3), norm(cout)
        self.conv2, self.bn2 = he_conv(cout, cout, 3), norm(cout)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(x)))


class SegmentationModel(nn.Module):
    def __init__(self, widths, dim, temperature, projection_stride, norm=batch_norm):
        super().__init__()
        self.stages = nn.ModuleList()
        cin = 3
        for w in widths:
            self.stages.append(ConvBlock(cin, w, norm))
            cin = w
        dec_widths = list(reversed(widths[:-1]))  # scratch default: mirrors the encoder
        self.levels = nn.ModuleList()
        cin = widths[-1]
        for i, w in enumerate(dec_widths):
            self.levels.append(ConvBlock(cin + widths[len(widths) - 2 - i], w, norm))
            cin = w
        self.feature_channels = cin
        self.head = he_conv(cin, CLASSES, 1, bias=True, xavier=True)
        self.proj_level = [2 ** i for i in range(len(widths))].index(projection_stride)
        self.projection = he_conv(widths[self.proj_level], dim, 1, bias=True, xavier=True)
        self.classifier = nn.Parameter(torch.randn(CLASSES, dim) * math.sqrt(2 / (dim + CLASSES)))
        self.temperature = temperature

    def classify(self, f):
        """f [N, D] -> cosine logits [N, K]."""
        return l2n(f, 1) @ l2n(self.classifier, 1).t() / self.temperature

    def forward(self, x):
        x, skips = run_unet(self.stages, self.levels, x)
        logits = self.head(x)  # finest skip is stride 1: no final resize
        emb = l2n(self.projection(skips[self.proj_level]), 1)  # [B, D, h, w]
        b, d, h, w = emb.shape
        cell_logits = self.classify(emb.permute(0, 2, 3, 1).reshape(-1, d)).reshape(b, h, w, CLASSES)
        return logits, emb, cell_logits

    def groups(self):
        """Parameters per protoseg optimiser group (conv / bn / head / classifier)."""
        g = {'conv': [], 'bn': [], 'head': [], 'classifier': [self.classifier]}
        for name, p in self.named_parameters():
            if name == 'classifier':
                continue
            if name.startswith('head') or name.startswith('projection'):
                g['head'].append(p)
            elif '.bn' in name:
                g['bn'].append(p)
            else:
                g['conv'].append(p)
        return g


def downsample_labels(labels, cell, purity=0.5):
    """Mode pooling of [B, H, W] uint8 labels over cell x cell blocks (protoseg's downsampleLabels)."""
    b, h, w = labels.shape
    blocks = labels.reshape(b, h // cell, cell, w // cell, cell).transpose(0, 1, 3, 2, 4).reshape(b, h // cell, w // cell, cell * cell)
    counts = np.stack([(blocks == c).sum(-1) for c in range(CLASSES)], -1)
    best = counts.argmax(-1)
    top = counts.max(-1)
    tied = (counts == top[..., None]).sum(-1) > 1
    ok = (top > 0) & ~tied & (top >= purity * cell * cell - 1e-9)
    return np.where(ok, best, IGNORE).astype(np.int64)


def instances(emb, cell_labels, confidence, min_cells=4):
    """emb [B, D, h, w]; cell_labels/confidence numpy [B, h, w]. Returns unit instance embeddings
    [n, D] (differentiable, via an averaging matrix like protoseg) and (image, class, confidence)."""
    b, d, h, w = emb.shape
    cells = b * h * w
    flat_labels = cell_labels.reshape(-1)
    rows_image, rows_class, rows_conf, cell_row = [], [], [], np.full(cells, -1)
    per = h * w
    for i in range(b):
        lab = flat_labels[i * per:(i + 1) * per]
        counts = np.bincount(lab[lab != IGNORE], minlength=CLASSES)
        for c in range(CLASSES):
            if counts[c] < min_cells:
                continue
            members = np.nonzero(lab == c)[0] + i * per
            cell_row[members] = len(rows_image)
            rows_image.append(i)
            rows_class.append(c)
            rows_conf.append(float(confidence.reshape(-1)[members].mean()))
    n = len(rows_image)
    if n == 0:
        return emb.new_zeros(0, d), rows_image, rows_class, rows_conf
    weights = np.zeros((n, cells), np.float32)
    members = np.nonzero(cell_row >= 0)[0]
    counts = np.bincount(cell_row[members], minlength=n)
    weights[cell_row[members], members] = 1.0 / counts[cell_row[members]]
    mean = torch.from_numpy(weights) @ emb.permute(0, 2, 3, 1).reshape(cells, d)
    return l2n(mean, 1), rows_image, rows_class, rows_conf


def pseudo_labels(cell_logits):
    """argmax and max softmax of cell logits [B, h, w, K], as numpy (detached)."""
    with torch.no_grad():
        conf, lab = torch.softmax(cell_logits, -1).max(-1)
    return lab.numpy().astype(np.int64), conf.numpy()


def proto_nce(z, runs, assignments, floor=0.05):
    per_run = []
    for (centroids, phi), a in zip(runs, assignments):
        logits = (z @ centroids.t()) / phi.clamp(min=floor)
        per_run.append(F.cross_entropy(logits, a, reduction='sum') / max(len(a), 1))
    return sum(per_run) / len(per_run)


def cross_domain_entropy(z, centroids_list, tau=0.1):
    per_run = []
    for centroids in centroids_list:
        logp = F.log_softmax(z @ centroids.t() / tau, -1)
        per_run.append(-(logp.exp() * logp).sum(-1).mean())
    return sum(per_run) / len(per_run)


class Bank:
    """Per-domain memory bank: slots (image, class) of unit vectors, momentum update after the step."""

    def __init__(self, images, dim, labelled=()):
        self.vectors = np.zeros((images * CLASSES, dim), np.float32)
        self.written = np.zeros(images * CLASSES, bool)
        self.valid = np.zeros(images * CLASSES, bool)
        self.confidence = np.zeros(images * CLASSES, np.float32)
        self.labelled = np.zeros(images, bool)
        self.labelled[list(labelled)] = True

    def visit(self, dataset_index, rows_image, rows_class, rows_conf, vectors):
        for r, (i, c) in enumerate(zip(rows_image, rows_class)):
            img = dataset_index[i]
            j = img * CLASSES + c
            m = (0.9 if self.labelled[img] else 0.5) if self.written[j] else 0.0
            f = vectors[r] / max(np.linalg.norm(vectors[r]), 1e-30)
            v = m * self.vectors[j] + (1 - m) * f
            self.vectors[j] = v / max(np.linalg.norm(v), 1e-30)
            self.written[j] = self.valid[j] = True
            self.confidence[j] = rows_conf[r]
        for i, img in enumerate(dataset_index):
            present = np.zeros(CLASSES, bool)
            present[[c for k, c in enumerate(rows_class) if rows_image[k] == i]] = True
            self.valid[img * CLASSES:(img + 1) * CLASSES] = present


def current_rss_mb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1024 / 1024


def common_arguments(lr):
    """The options both replicas share (the default config's shapes; lr: the first adaptation lr)."""
    p = argparse.ArgumentParser()
    p.add_argument('--widths', default='8,16,32,64,128')
    p.add_argument('--dim', type=int, default=64)
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--height', type=int, default=64)
    p.add_argument('--width', type=int, default=128)
    p.add_argument('--k-list', default='19,38')
    p.add_argument('--labelled-images', type=int, default=10)
    p.add_argument('--lr', type=float, default=lr)
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--threads', type=int, default=2)
    return p


def optimiser(model, lr):
    """protoseg's Adam (L2 weight decay 1e-4, none on BN parameters); returns it, the parameters and their counts per group."""
    groups = model.groups()
    counts = {k: sum(p.numel() for p in v) for k, v in groups.items()}
    counts['total'] = sum(counts.values())
    opt = torch.optim.Adam([
        {'params': groups['conv'] + groups['head'] + groups['classifier'], 'weight_decay': 1e-4},
        {'params': groups['bn'], 'weight_decay': 0.0},
    ], lr=lr, betas=(0.9, 0.999), eps=1e-8)
    return opt, [p for g in groups.values() for p in g], counts


def start(a):
    """Threads and seeds; returns the resident memory of the runtime alone (python + torch, before any
    model or batch exists), the numpy generator and the encoder widths."""
    torch.set_num_threads(a.threads)
    base_rss_mb = current_rss_mb()
    torch.manual_seed(0)
    return base_rss_mb, np.random.default_rng(0), [int(w) for w in a.widths.split(',')]


def main():
    p = common_arguments(1e-3)
    p.add_argument('--bank-images', type=int, default=300)
    p.add_argument('--channels-last', action='store_true')
    a = p.parse_args()
    base_rss_mb, rng, widths = start(a)
    stride = 8  # model.projectionStride
    model = SegmentationModel(widths, a.dim, 0.05, stride)
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt, params, counts = optimiser(model, a.lr)

    B, H, W = a.batch, a.height, a.width

    def images():
        x = torch.randn(B, 3, H, W)
        return x.contiguous(memory_format=torch.channels_last) if a.channels_last else x

    def blocky_labels():
        # Random class per 16x16 block: 8x8 cells are pure, as in segmentation ground truth.
        coarse = rng.integers(0, CLASSES, (B, H // 16, W // 16))
        return coarse.repeat(16, 1).repeat(16, 2).astype(np.uint8)

    x_lab, x_src, x_tgt = images(), images(), images()
    y_lab_np = blocky_labels()
    y_lab = torch.from_numpy(y_lab_np.astype(np.int64))
    # Dataset indices: labelled images are the first few source images; the unlabelled source batch is not.
    labelled_idx = list(range(B))
    source_idx = list(range(a.labelled_images, a.labelled_images + B))
    target_idx = list(range(B))
    source_bank = Bank(a.bank_images, a.dim, range(a.labelled_images))
    target_bank = Bank(a.bank_images, a.dim)

    def clusters():
        runs, slot_assign = [], []
        for k in (int(k) for k in a.k_list.split(',')):
            c = l2n(torch.randn(k, a.dim), 1)
            phi = torch.from_numpy(rng.uniform(0.1, 0.3, k).astype(np.float32))
            runs.append((c, phi))
            slot_assign.append(rng.integers(0, k, a.bank_images * CLASSES))
        return runs, slot_assign

    src_runs, src_slots = clusters()
    tgt_runs, tgt_slots = clusters()
    marginal = {'q': np.full(CLASSES, 1 / CLASSES), 'n': 0}

    def assignments(slots, dataset_index, rows_image, rows_class):
        return [torch.from_numpy(np.array([s[dataset_index[i] * CLASSES + c] for i, c in zip(rows_image, rows_class)], np.int64)) for s in slots]

    def optimise(terms):
        opt.zero_grad(set_to_none=True)
        total = sum(terms.values())
        total.backward()
        values = {k: v.item() for k, v in terms.items()}
        values['loss/total'] = total.item()
        grad_norm = sum((p.grad * p.grad).sum() for p in params if p.grad is not None).item()
        if not all(math.isfinite(v) for v in values.values()) or not math.isfinite(grad_norm):
            raise FloatingPointError(values)
        opt.step()
        return values

    def source_step():
        logits, emb, cell_logits = model(torch.cat([x_lab, x_src]))
        terms = {'loss/src/pixelCrossEntropy': F.cross_entropy(logits[:B], y_lab, ignore_index=IGNORE)}
        cells = downsample_labels(y_lab_np, stride)
        terms['loss/src/cosineCrossEntropy'] = F.cross_entropy(cell_logits[:B].reshape(-1, CLASSES), torch.from_numpy(cells.reshape(-1)), ignore_index=IGNORE)
        # Labelled images: ground-truth cells (confidence 1) replace the pseudo-labels (protoseg computes
        # both and merges them); these instances feed the bank only.
        pseudo_labels(cell_logits[:B])
        z_l, img_l, cls_l, conf_l = instances(emb[:B], cells, np.ones(cells.shape, np.float32))
        # Unlabelled source images: pseudo-labelled cells.
        lab_u, conf_u = pseudo_labels(cell_logits[B:])
        z_u, img_u, cls_u, conf_u2 = instances(emb[B:], lab_u, conf_u)
        if len(img_u) > 0:
            terms['loss/src/protoNce'] = proto_nce(z_u, src_runs, assignments(src_slots, source_idx, img_u, cls_u))
            terms['loss/src/crossDomainEntropy'] = cross_domain_entropy(z_u, [c for c, _ in tgt_runs])
        vec_l, vec_u = z_l.detach().numpy().copy(), z_u.detach().numpy().copy()
        values = optimise(terms)
        source_bank.visit(labelled_idx, img_l, cls_l, conf_l, vec_l)
        source_bank.visit(source_idx, img_u, cls_u, conf_u2, vec_u)
        return values, len(img_u)

    def target_step():
        logits, emb, cell_logits = model(x_tgt)
        probs = torch.softmax(logits, 1)
        terms = {'loss/tgt/maxSquares': 0.1 * (-(probs * probs).sum() / (2 * CLASSES * B * H * W))}
        lab, conf = pseudo_labels(cell_logits)
        z, img, cls, conf2 = instances(emb, lab, conf)
        if len(img) > 0:
            terms['loss/tgt/protoNce'] = proto_nce(z, tgt_runs, assignments(tgt_slots, target_idx, img, cls))
            terms['loss/tgt/crossDomainEntropy'] = cross_domain_entropy(z, [c for c, _ in src_runs])
            p = torch.softmax(model.classify(z.index_select(0, torch.arange(len(img)))), -1)
            batch_mean = p.detach().mean(0).numpy()
            n = marginal['n']
            marginal['q'] = (marginal['q'] * n + batch_mean * len(img)) / (n + len(img))
            marginal['n'] = n + len(img)
            log_q = torch.from_numpy(np.log(marginal['q'] + 1e-5).astype(np.float32))
            terms['loss/tgt/mimDiversity'] = 0.05 * (p.mean(0) * log_q).sum()
        vec = z.detach().numpy().copy()
        values = optimise(terms)
        target_bank.visit(target_idx, img, cls, conf2, vec)
        return values, len(img)

    times, init_terms, inst = [], None, []
    for i in range(a.warmup + a.steps):
        t = time.perf_counter()
        sv, ns = source_step()
        tv, nt = target_step()
        if i >= a.warmup:
            times.append(time.perf_counter() - t)
        if init_terms is None:
            init_terms = {**{k: v for k, v in sv.items() if k != 'loss/total'}, **{k: v for k, v in tv.items() if k != 'loss/total'}}
        inst.append([ns, nt])
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        'secondsPerStep': statistics.median(times), 'times': times, 'peakRssMb': rss_mb, 'baseRssMb': base_rss_mb, 'threads': torch.get_num_threads(),
        'parameters': counts, 'initTerms': init_terms, 'instances': inst,
    }))


if __name__ == '__main__':
    main()
